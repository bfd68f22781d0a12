#!/usr/bin/env bash
# Cross-language interop over testvectors/v1: each runner reads every vector
# with another implementation and writes every positive vector's plaintext,
# then `tagseal vectors check-written` checks those records in Go.
#   python  Confluent's Python client (compat/python, venv in .tools/pyvectors)
#   js      Confluent's JS client (compat/js, node_modules from package-lock)
#   java    the Java port of SPEC.md (compat/java: Tink, Avro, protobuf-java,
#           Jackson from Maven Central)
# Every runner runs even when an earlier one fails; the exit status is 1 if
# any failed. Summary lines: "<runner>: N passed, M failed, K known …".
set -uo pipefail
cd "$(dirname "$0")/.."
TOOLS=${TAGSEAL_TOOLS:-$PWD/.tools}
OUT="$TOOLS/interop"
GO=${GO:-go}
# The bespoke runners predate the vectors for GUID framing and for schemas a
# reader must refuse (unplaceable tags, tagged integers): they run over a
# copy without those, which the conformance harness (scripts/conformance.sh)
# covers, until the runners become testees.
VECTORS=$(mktemp -d "${TMPDIR:-/tmp}/tagseal-interop-vectors.XXXXXX")
trap 'rm -rf "$VECTORS"' EXIT
for f in testvectors/v1/*.json; do
  case ${f##*/} in
    *-guid.json | *-guid-header.json | neg-*-unknown-guid.json | neg-*-short-guid-frame.json | \
      neg-*-unplaceable-tag.json | neg-*-tagged-int.json) ;;
    *) cp "$f" "$VECTORS/" ;;
  esac
done
PIP="--quiet --disable-pip-version-check"
mkdir -p "$OUT"
status=0
step() { "$@" || { echo "interop: FAILED: $*" >&2; status=1; }; }

# Go: tagseal itself reads every vector.
step $GO run ./cmd/tagseal vectors verify --dir $VECTORS

# Python.
stamp="$TOOLS/pyvectors/.installed-$(cat compat/python/requirements.txt compat/python/constraints.txt | sha256sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  echo "interop: installing $(cat compat/python/requirements.txt) into $TOOLS/pyvectors" >&2
  rm -rf "$TOOLS/pyvectors"
  python3 -m venv "$TOOLS/pyvectors" &&
    "$TOOLS/pyvectors/bin/pip" install $PIP -r compat/python/requirements.txt -c compat/python/constraints.txt &&
    touch "$stamp" || status=1
fi
step "$TOOLS/pyvectors/bin/python" compat/python/runner.py $VECTORS "$OUT/python-written.jsonl"
step $GO run ./cmd/tagseal vectors check-written --dir $VECTORS --from python "$OUT/python-written.jsonl"

# JS.
if [ ! -f compat/js/node_modules/.package-lock.json ] || [ compat/js/package-lock.json -nt compat/js/node_modules/.package-lock.json ]; then
  echo "interop: npm ci in compat/js" >&2
  (cd compat/js && npm ci --no-audit --no-fund --loglevel=error) || status=1
fi
step node compat/js/runner.js $VECTORS "$OUT/js-written.jsonl"
step $GO run ./cmd/tagseal vectors check-written --dir $VECTORS --from js "$OUT/js-written.jsonl"

# Java.
java_build() {
  # Maven's quiet mode still prints colour escapes: keep its output for failures.
  mvn -q -B -f compat/java/pom.xml compile dependency:build-classpath -Dmdep.outputFile=target/cp.txt \
    >"$OUT/java-build.log" 2>&1 || { cat "$OUT/java-build.log"; return 1; }
}
if step java_build; then
  step java -cp "compat/java/target/classes:$(cat compat/java/target/cp.txt)" dev.tagseal.vectors.Main $VECTORS "$OUT/java-written.jsonl"
  step $GO run ./cmd/tagseal vectors check-written --dir $VECTORS --from java "$OUT/java-written.jsonl"
fi

exit $status

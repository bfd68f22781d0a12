#!/usr/bin/env bash
# The conformance harness over testvectors/v1 against every testee:
# `tagseal conformance` starts each testee once, drives it over every vector
# through the framed JSON protocol (testvectors/SPEC.md, "Conformance
# protocol") and holds it to its failure list (compat/<testee>/failures.txt).
#   tagseal     tagseal itself (`tagseal conformance testee`), empty list
#   confluent-go Confluent's Go serdes (compat/gotestee, cgo)
#   python, js, java, rust: see the marked places below
# Every testee runs even when an earlier one fails; the exit status is 1 if
# any failed. Each prints one summary line:
#   "<testee>: N passed, N failed, N known failures, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
TOOLS=${TAGSEAL_TOOLS:-$PWD/.tools}
GO=${GO:-go}
VECTORS=${VECTORS:-testvectors/v1}
# The binaries go to a directory of this run: .tools may be shared between
# checkouts, and another checkout's tagseal must not answer for this one.
BIN=$(mktemp -d "${TMPDIR:-/tmp}/tagseal-conformance.XXXXXX")
trap 'rm -rf "$BIN"' EXIT
status=0
summaries=()
step() { "$@" || { echo "conformance: FAILED: $*" >&2; status=1; }; }

# conformance NAME FAILURE-LIST TESTEE-COMMAND: one harness run ("" for no
# failure list). The testee's stderr goes to ours, prefixed.
conformance() {
  local name=$1 list=$2 testee=$3 out
  out=$("$BIN/tagseal" conformance --dir "$VECTORS" ${list:+--failure-list "$list"} --testee "$testee")
  local rc=$?
  printf '%s\n' "$out"
  local last
  last=$(printf '%s\n' "$out" | tail -n 1)
  case $last in
    *" passed, "*) summaries+=("$last") ;;
    *) summaries+=("$name: did not run (exit $rc)") ;;
  esac
  if [ $rc -ne 0 ]; then
    echo "conformance: FAILED: $name (exit $rc)" >&2
    status=1
  fi
}

if ! $GO build -o "$BIN/tagseal" ./cmd/tagseal; then
  echo "conformance: cannot build tagseal" >&2
  exit 1
fi

# tagseal itself.
# tagseal itself: no failure list, every case must pass.
conformance tagseal "" "$BIN/tagseal conformance testee"

# Confluent Go (confluent-kafka-go v2 serdes + rules/encryption; cgo).
if step $GO build -o "$BIN/gotestee" ./compat/gotestee; then
  conformance confluent-go compat/gotestee/failures.txt "$BIN/gotestee"
else
  summaries+=("confluent-go: not built")
fi

# --- python (conf-testees: Confluent's Python client, venv in $TOOLS/pyvectors) ---
# --- js (conf-testees: Confluent's JS client, compat/js) ---
# --- java (conf-testees: the Java port, compat/java) ---
# --- rust (conf-testees: rayokota's schema-registry-client, compat/rust) ---

echo "conformance summary:"
for s in "${summaries[@]}"; do echo "  $s"; done
exit $status

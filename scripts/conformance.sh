#!/usr/bin/env bash
# The conformance harness over testvectors/v1 against every testee:
# `tagseal conformance` starts each testee once, drives it over every vector
# through the framed JSON protocol (testvectors/SPEC.md, "Conformance
# protocol") and holds it to its failure list (compat/<testee>/failures.txt).
#   tagseal     tagseal itself (`tagseal conformance testee`), empty list
#   confluent-go Confluent's Go serdes (compat/gotestee, cgo)
#   python      Confluent's Python client (compat/python, venv in .tools/pyvectors)
#   js          Confluent's JS client (compat/js, node_modules from package-lock)
#   java        the Java port of SPEC.md (compat/java, Maven Central)
#   rust        Confluent's Rust client, schema-registry-client (compat/rust,
#               cargo target dir cached in .tools/rust-target)
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

# Confluent's Python client (compat/python, venv in $TOOLS/pyvectors,
# reinstalled when requirements or constraints change).
py_install() {
  local stamp="$TOOLS/pyvectors/.installed-$(cat compat/python/requirements.txt compat/python/constraints.txt | sha256sum | cut -c1-12)"
  [ -f "$stamp" ] && return 0
  echo "conformance: installing $(tr '\n' ' ' < compat/python/requirements.txt)into $TOOLS/pyvectors" >&2
  rm -rf "$TOOLS/pyvectors"
  python3 -m venv "$TOOLS/pyvectors" &&
    "$TOOLS/pyvectors/bin/pip" install --quiet --disable-pip-version-check \
      -r compat/python/requirements.txt -c compat/python/constraints.txt &&
    touch "$stamp"
}
if step py_install; then
  conformance python compat/python/failures.txt "$TOOLS/pyvectors/bin/python compat/python/testee.py"
else
  summaries+=("python: not installed")
fi

# Confluent's JS client (compat/js, node_modules from package-lock.json).
js_install() {
  if [ ! -f compat/js/node_modules/.package-lock.json ] || [ compat/js/package-lock.json -nt compat/js/node_modules/.package-lock.json ]; then
    echo "conformance: npm ci in compat/js" >&2
    (cd compat/js && npm ci --no-audit --no-fund --loglevel=error) >&2
  fi
}
if step js_install; then
  conformance js compat/js/failures.txt "node compat/js/testee.js"
else
  summaries+=("js: not installed")
fi

# The Java port of SPEC.md (compat/java: Tink, Avro, protobuf-java, Jackson
# from Maven Central). Maven's quiet mode still prints colour escapes: its
# output is kept in a log and shown on failure.
java_build() {
  mvn -q -B -f compat/java/pom.xml compile dependency:build-classpath -Dmdep.outputFile=target/cp.txt \
    >"$BIN/java-build.log" 2>&1 || { cat "$BIN/java-build.log" >&2; return 1; }
}
if step java_build; then
  conformance java compat/java/failures.txt "java -cp compat/java/target/classes:$(cat compat/java/target/cp.txt) dev.tagseal.vectors.Main"
else
  summaries+=("java: not built")
fi

# Confluent's Rust client, schema-registry-client (compat/rust; Cargo.lock
# pinned, --locked). cargo's target dir is cached in $TOOLS/rust-target: a
# cold debug build took 6 minutes on 2 shared cores (6 min CPU), a warm one
# takes seconds.
rust_build() {
  CARGO_TARGET_DIR="$TOOLS/rust-target" cargo build --locked --quiet --manifest-path compat/rust/Cargo.toml
}
if step rust_build; then
  conformance rust compat/rust/failures.txt "$TOOLS/rust-target/debug/tagseal-conformance-rust"
else
  summaries+=("rust: not built")
fi

echo "conformance summary:"
for s in "${summaries[@]}"; do echo "  $s"; done
exit $status

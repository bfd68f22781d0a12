#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 20s each). A crasher
# fails the run; Go writes it under the package's testdata/fuzz, where it
# becomes a regression seed once committed.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${1:-20s}
TARGETS=(
  ./formats/avro:FuzzRewrite
  ./formats/jsonschema:FuzzRewrite
  ./formats/protobuf:FuzzRewrite
  ./serde:FuzzFrame
  ./serde:FuzzStoredValue
)
for target in "${TARGETS[@]}"; do
  pkg=${target%%:*} name=${target##*:}
  out=$(mktemp)
  if ! ${GO:-go} test "$pkg" -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" >"$out" 2>&1; then
    cat "$out"
    rm -f "$out"
    echo "fuzz: $pkg $name FAILED" >&2
    exit 1
  fi
  echo "fuzz: $pkg $name: $(grep -o 'execs: [0-9]*' "$out" | tail -n 1) in $FUZZTIME"
  rm -f "$out"
done

#!/usr/bin/env bash
# Runs every native fuzz target in the module for a short time each.
# Usage: scripts/fuzz-all.sh [FUZZTIME] [PACKAGES]   (default 10s, ./...)
set -euo pipefail
fuzztime="${1:-10s}"
cd "$(dirname "$0")/.."
status=0
for pkg in $(go list ${2:-./...}); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  targets=$(grep -hoE '^func (Fuzz[A-Za-z0-9_]+)\(f \*testing\.F\)' "$dir"/*_test.go 2>/dev/null | sed -E 's/^func (Fuzz[A-Za-z0-9_]+).*/\1/' | sort -u || true)
  for t in $targets; do
    echo "== $pkg $t ($fuzztime)"
    if ! go test "$pkg" -run '^$' -fuzz "^${t}\$" -fuzztime "$fuzztime"; then
      echo "FUZZ FAILURE: $pkg $t"; status=1
    fi
  done
done
exit $status

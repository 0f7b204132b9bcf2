#!/usr/bin/env bash
# Grows the committed fuzz corpora: fuzzes every target of PACKAGES
# (default the cross-package targets in ./fuzz/) for FUZZTIME each, then
# copies what the fuzzer found interesting (kept in the Go build cache)
# into the package's testdata/fuzz/<Target>/, where `go test` replays it
# on every run. Commit the new files.
# Usage: scripts/fuzz-grow.sh [FUZZTIME] [PACKAGES]   (default 30s, ./fuzz/)
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-30s}
cache=$(go env GOCACHE)/fuzz
status=0
for pkg in $(go list "${2:-./fuzz/}"); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	targets=$(grep -hoE '^func (Fuzz[A-Za-z0-9_]+)\(f \*testing\.F\)' "$dir"/*_test.go 2>/dev/null | sed -E 's/^func (Fuzz[A-Za-z0-9_]+).*/\1/' | sort -u || true)
	for t in $targets; do
		echo "== $pkg $t ($fuzztime)"
		go test "$pkg" -run '^$' -fuzz "^${t}\$" -fuzztime "$fuzztime" || { echo "FUZZ FAILURE: $pkg $t"; status=1; }
		if [ -d "$cache/$pkg/$t" ]; then
			mkdir -p "$dir/testdata/fuzz/$t"
			before=$(ls "$dir/testdata/fuzz/$t" | wc -l)
			cp -n "$cache/$pkg/$t"/* "$dir/testdata/fuzz/$t/"
			echo "   corpus $dir/testdata/fuzz/$t: $before -> $(ls "$dir/testdata/fuzz/$t" | wc -l) inputs"
		fi
	done
done
exit $status

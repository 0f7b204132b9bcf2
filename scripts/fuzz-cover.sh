#!/usr/bin/env bash
# Coverage per package reached by the fuzz targets' corpora (seeds plus
# testdata/fuzz/, replayed as ordinary tests, no fuzzing): which code the
# fuzzers actually exercise. Profiles go to out/fuzz-cover/.
# Usage: scripts/fuzz-cover.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=out/fuzz-cover
rm -rf "$out"
mkdir -p "$out"
module=$(go list -m)
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	grep -qE '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' "$dir"/*_test.go 2>/dev/null || continue
	name=$(echo "${pkg#"$module"/}" | tr / _)
	if ! go test -count=1 -run '^Fuzz' -coverpkg=./core/...,./io/...,./sim/... -coverprofile="$out/$name.out" "$pkg" >"$out/$name.log" 2>&1; then
		cat "$out/$name.log" >&2
		exit 1
	fi
done
# Merge: a block counts as covered if any target's corpus reached it.
awk 'FNR == 1 { next } {
	split($1, a, ":"); file = a[1]; block = $1
	stmts[block] = $2; if ($3 > 0) hit[block] = 1
	n = split(file, parts, "/"); pkg = parts[1]; for (i = 2; i < n; i++) pkg = pkg "/" parts[i]
	pkgof[block] = pkg
}
END {
	for (b in stmts) { total[pkgof[b]] += stmts[b]; if (b in hit) covered[pkgof[b]] += stmts[b] }
	for (p in total) printf "%6.1f%%  %s\n", 100 * covered[p] / total[p], p
}' "$out"/*.out | sed "s|$module/||" | sort -k2 | tee "$out/summary.txt"

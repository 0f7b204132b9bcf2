#!/usr/bin/env bash
# Budgets that do not depend on wall time, so they hold on a loaded
# machine: allocations per op of the benchmarks in
# specs/budgets/benchmarks.txt (-benchmem, a fixed -benchtime count), and
# the simulated events and registry operations of every scenario in
# scenarios/*.yaml at seed 1 (deterministic: same code, same numbers).
#
#   check   measure and fail when a figure exceeds its budget by more than
#           the margin (MARGIN_PERCENT, default 20; allocs also get +1 so a
#           budget of 0 stays 0 and 1 may become 2 only with an update);
#   update  measure and rewrite specs/budgets/budgets.txt (commit it, and
#           say why the numbers moved).
#
# Usage: scripts/budgets.sh check|update
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-check}
margin=${MARGIN_PERCENT:-20}
file=specs/budgets/budgets.txt
measured=$(mktemp)
trap 'rm -f "$measured"' EXIT

# allocs: "allocs PKG BENCH N"
while read -r pkg bench; do
	case $pkg in '' | '#'*) continue ;; esac
	go test -run '^$' -bench "$bench" -benchmem -benchtime 200x -count 1 "$pkg" |
		awk -v pkg="$pkg" '/^Benchmark/ { for (i = 1; i <= NF; i++) if ($i == "allocs/op") { name = $1; sub(/-[0-9]+$/, "", name); print "allocs", pkg, name, $(i-1) } }'
done <specs/budgets/benchmarks.txt >>"$measured"

# simulated work: "events FILE N" and "registry_ops FILE N", seed 1
go build -o bin/ronsim ./cmd/ronsim
for f in scenarios/*.yaml; do
	./bin/ronsim run "$f" --seed 1 --json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
f = sys.argv[1]
print("events", f, d["events"])
reg = d.get("registry") or {}
if reg.get("ops"):
    print("registry_ops", f, reg["ops"])
' "$f" >>"$measured" || { echo "budgets: ronsim run $f failed" >&2; exit 1; }
done

if [ "$mode" = update ]; then
	{
		echo "# Budgets checked by scripts/budgets.sh (make budgets, make gates): kind,"
		echo "# subject, value. Regenerate with \`make budgets-update\` and commit with"
		echo "# the reason the numbers moved. Margin: ${margin}% (allocs: +1)."
		sort "$measured"
	} >"$file"
	echo "budgets: wrote $file ($(wc -l <"$measured") figures)"
	exit 0
fi

awk -v margin="$margin" '
	FNR == NR { if ($0 !~ /^#/ && NF == 4) budget[$1 " " $2 " " $3] = $4; else if ($0 !~ /^#/ && NF == 3) budget[$1 " " $2] = $3; next }
	{
		key = (NF == 4) ? $1 " " $2 " " $3 : $1 " " $2
		value = $NF
		if (!(key in budget)) { printf "budgets: NO BUDGET %s = %s (run make budgets-update)\n", key, value; bad++; next }
		limit = budget[key] * (100 + margin) / 100
		if ($1 == "allocs") limit = limit + 1
		verdict = (value + 0 > limit) ? "OVER" : "ok"
		if (verdict == "OVER") bad++
		printf "budgets: %-4s %s = %s (budget %s, limit %.0f)\n", verdict, key, value, budget[key], limit
	}
	END { if (bad) { printf "budgets: %d figures over budget or unbudgeted\n", bad; exit 1 } }
' "$file" "$measured"

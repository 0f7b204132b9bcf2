#!/usr/bin/env bash
# Model-checks the Promela specs in specs/spin/ with spin: every model must
# verify (exhaustive safety search, bounded by the model's constants and by
# -m depth), and every deliberately broken variant must be REJECTED (a
# model that cannot catch its planted bug proves nothing). Prints the state
# counts of every run.
# Usage: scripts/spin-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v spin >/dev/null || { echo "spin-check: spin missing (scripts/install-tools.sh spin)" >&2; exit 1; }
command -v gcc >/dev/null || { echo "spin-check: gcc missing" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
depth=100000
status=0

# model  variants that must fail
checks=(
	"namecas.pml NODEDUP DEDUP_BY_OP"
	"capability.pml LEAF_ONLY"
)

# run MODEL [DEFINE]: prints the summary; returns 0 when the search found
# no error, 1 when it found an assertion violation, 2 for anything else
# (a compile failure, a truncated search).
run() {
	local model=$1 define=${2:-}
	local dir="$work/${model%.pml}${define:+-$define}"
	mkdir -p "$dir"
	cp "specs/spin/$model" "$dir/"
	(cd "$dir" && spin -a ${define:+-D$define} "$model" >/dev/null &&
		gcc -O2 -DSAFETY -DMEMLIM=2048 -o pan pan.c 2>/dev/null &&
		./pan -m"$depth" >out.txt 2>&1) || true
	local errors
	errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$dir/out.txt")
	local states
	states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' "$dir/out.txt")
	local violation
	violation=$(grep -m1 -E '^pan:1:' "$dir/out.txt" || true)
	if grep -q 'max search depth too small' "$dir/out.txt"; then
		echo "spin-check: $model ${define:-}: search depth $depth truncated the search" >&2
		errors=truncated
	fi
	echo "spin: $model ${define:+-D$define }states=${states:-?} errors=${errors:-?} ${violation}"
	if [ "${errors:-x}" = 0 ]; then return 0; fi
	case $violation in *"assertion violated"*) return 1 ;; esac
	return 2
}

for c in "${checks[@]}"; do
	read -r model variants <<<"$c"
	if ! run "$model"; then
		echo "SPIN FAILURE: $model does not verify" >&2
		status=1
	fi
	for v in $variants; do
		rc=0
		run "$model" "$v" || rc=$?
		if [ $rc -ne 1 ]; then
			echo "SPIN FAILURE: $model -D$v (a broken variant) was not rejected by an assertion (rc $rc)" >&2
			status=1
		fi
	done
done
exit $status

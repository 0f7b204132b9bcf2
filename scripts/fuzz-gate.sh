#!/usr/bin/env bash
# The fuzz gate: every native fuzz target for a short fixed budget
# (scripts/fuzz-all.sh), then FuzzCanary (core/proto/oap, -tags canary),
# which MUST fail: it fuzzes a decoder with a planted bug, so a fuzzing
# setup that cannot find it (no instrumentation, a corpus not loaded, a
# target swallowing panics) fails the gate instead of passing silently.
# The canary's failing input is deleted afterwards.
# Usage: scripts/fuzz-gate.sh [BUDGET] [CANARY_BUDGET]   (default 5s, 120s)
set -uo pipefail
cd "$(dirname "$0")/.."
budget=${1:-5s}
canary_budget=${2:-120s}
status=0
./scripts/fuzz-all.sh "$budget" || status=1

corpus=core/proto/oap/testdata/fuzz/FuzzCanary
before=$(ls "$corpus" 2>/dev/null | sort)
log=$(mktemp)
start=$(date +%s)
if go test -tags canary -run '^$' -fuzz '^FuzzCanary$' -fuzztime "$canary_budget" ./core/proto/oap/ >"$log" 2>&1; then
	echo "FUZZ GATE FAILURE: FuzzCanary passed for $canary_budget; the fuzzer cannot find a planted bug" >&2
	tail -5 "$log" >&2
	status=1
elif grep -qE 're-encode differs|panic: runtime error' "$log"; then
	echo "fuzz gate: FuzzCanary found its planted bug in $(($(date +%s) - start))s, as it must"
else
	echo "FUZZ GATE FAILURE: FuzzCanary failed without finding its bug:" >&2
	tail -20 "$log" >&2
	status=1
fi
for f in $(ls "$corpus" 2>/dev/null | sort); do
	if ! grep -qxF "$f" <<<"$before"; then
		rm -f "$corpus/$f"
	fi
done
rm -f "$log"
exit $status

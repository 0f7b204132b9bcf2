#!/usr/bin/env bash
# make canary: proves the checks bite. Runs every deliberately wrong variant
# (test builds only, -tags canary): registry, storage, DHT, overlay,
# revocation and admission machines that must be caught by a correctness
# check of a shipped scenario (sim/runner *canary_test.go: the registry's
# lost log by synced_writes at the restart, its 10x elections by
# registry_latency, its unchecked forwarded signatures by the adversarial
# clients, storage's ignored pins by pins), simulators gentler than the faults they
# claim that must be caught by faults_bit (each only with its fault kind
# on), the shrinker on a canary's failure, and the node-panic canary. Then
# prints the table (variant, check that caught it, seeds needed) and runs
# FuzzCanary, which must FAIL (a fuzzing setup that cannot find a planted
# bug proves nothing).
# Usage: scripts/canary.sh   (FUZZ_CANARY_TIME, default 60s)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p out
table=out/canary-table.txt
rm -f "$table"
status=0
CANARY_TABLE="$PWD/$table" go test -count=1 -timeout 30m -tags canary ./sim/runner/ ./core/storage/ \
  -run 'Canary|NodePanicIsAFailedCheck' || status=1
echo
if [ -f "$table" ]; then cat "$table"; else echo "canary: no table written"; status=1; fi

echo "== FuzzCanary (must fail)"
corpus=core/proto/oap/testdata/fuzz/FuzzCanary
before=$(ls "$corpus" 2>/dev/null || true) # the committed seeds stay
if go test -tags canary -run '^$' -fuzz '^FuzzCanary$' -fuzztime "${FUZZ_CANARY_TIME:-60s}" ./core/proto/oap/ >out/fuzz-canary.log 2>&1; then
  echo "FuzzCanary PASSED: the fuzzer did not find the planted bug; fuzzing is broken"; status=1
else
  grep -m1 -E 'Failing input|--- FAIL' out/fuzz-canary.log || true
  echo "FuzzCanary failed as it must (log: out/fuzz-canary.log)"
fi
for f in "$corpus"/*; do
  [ -e "$f" ] || continue
  grep -qxF "$(basename "$f")" <<<"$before" || rm -f "$f" # the failing input it wrote
done
exit $status

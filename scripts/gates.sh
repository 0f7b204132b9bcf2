#!/usr/bin/env bash
# The safety gates (`make gates`, run by .ci/run after `make test`). Each
# gate installs the tool it needs (scripts/install-tools.sh) or fails; none
# skips itself. Every gate runs and the script fails at the end if any
# failed, printing each gate's wall time.
# Usage: scripts/gates.sh [GATE...]
#   lint secrets supply race fuzz budgets spin   (default: all, in that order)
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export PATH="$root/bin:$PATH"
FUZZ_BUDGET=${FUZZ_BUDGET:-5s}          # per fuzz target
CANARY_BUDGET=${CANARY_BUDGET:-120s}     # FuzzCanary must fail within this
RACE_FLAGS=${RACE_FLAGS:-}

gate_lint() {
	./scripts/install-tools.sh golangci-lint || return 1
	golangci-lint run ./...
}

# secrets: the scanner's own tests (the canary must be found), the canary
# again through the command, then the tree with the reasoned allow list.
gate_secrets() {
	go test -count=1 ./scripts/secretscan/ || return 1
	if go run ./scripts/secretscan scripts/secretscan/testdata/canary.txt >/dev/null 2>&1; then
		echo "secrets: the scanner missed its canary" >&2
		return 1
	fi
	go run ./scripts/secretscan -allow .secretscan-allow
}

# supply: module checksums, SBOMs and their licenses, and the offline
# vulnerability scan (GOPROXY=off: nothing but the local database and the
# module cache is used).
gate_supply() {
	go mod verify || return 1
	go test -count=1 ./scripts/licensecheck/ ./scripts/vulngate/ || return 1
	./scripts/sbom.sh || return 1
	go run ./scripts/licensecheck -allow scripts/licensecheck/allowed.txt out/sbom/*.cdx.json || return 1
	./scripts/install-tools.sh govulncheck vulndb || return 1
	local json=out/govulncheck.json
	GOPROXY=off govulncheck -db "file://$root/bin/vulndb" -format json ./... >"$json" || return 1
	go run ./scripts/vulngate -accepted scripts/vulngate/accepted.txt <"$json"
}

# race: the concurrency shells and binaries under the race detector, in
# full, memory-bound streaming tests included (about 3.5 minutes on 2
# shared cores; RACE_FLAGS=-short skips the 128-256 MiB streams).
gate_race() {
	go test -race $RACE_FLAGS -count=1 -timeout 20m ./io/... ./cmd/...
}

gate_fuzz() {
	./scripts/fuzz-gate.sh "$FUZZ_BUDGET" "$CANARY_BUDGET"
}

gate_budgets() {
	./scripts/budgets.sh check
}

gate_spin() {
	./scripts/install-tools.sh spin || return 1
	./scripts/spin-check.sh
}

gates=("$@")
if [ ${#gates[@]} -eq 0 ]; then
	gates=(lint secrets supply race fuzz budgets spin)
fi
mkdir -p out
failed=()
summary=()
for g in "${gates[@]}"; do
	echo "=== gate $g"
	start=$(date +%s)
	if ! declare -F "gate_$g" >/dev/null; then
		echo "gates: unknown gate $g" >&2
		exit 2
	fi
	if "gate_$g"; then
		result=ok
	else
		result=FAILED
		failed+=("$g")
	fi
	summary+=("$(printf '%-8s %-6s %4ds' "$g" "$result" $(($(date +%s) - start)))")
done
echo "=== gates summary"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
	echo "gates FAILED: ${failed[*]}" >&2
	exit 1
fi

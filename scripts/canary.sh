#!/usr/bin/env bash
# Proves the checks bite: runs the registry canaries (deliberately wrong
# registries, honoured only with -tags canary) and fails unless each one is
# caught by the linearizable or durability check on some seed, and the same
# seeds pass without the bug. See sim/runner/canary_test.go.
# Usage: scripts/canary.sh
set -euo pipefail
cd "$(dirname "$0")/.."
go test -count=1 -tags canary ./sim/runner/ -run Canary -v

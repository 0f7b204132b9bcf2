#!/usr/bin/env bash
# A seed sweep: `ronsim explore` over every scenario in scenarios/ (not the
# scale/ folder), SEEDS seeds each, in swarm mode where a scenario has a
# swarm section. Stops at the first failing seed and prints its replay
# command. The lincheck script sweeps the registry scenarios separately, so
# this one skips scenarios that check linearizable unless ALL=1.
# Usage: scripts/sweep.sh [SEEDS] [FROM]   (default 50 seeds from seed 1)
set -euo pipefail
seeds="${1:-50}"
from="${2:-1}"
cd "$(dirname "$0")/.."
go build -o bin/ronsim ./cmd/ronsim
for f in scenarios/*.yaml; do
  if [ "${ALL:-0}" != 1 ] && grep -qw linearizable "$f"; then
    continue
  fi
  echo "== sweep $f ($seeds seeds from $from)"
  ./bin/ronsim explore "$f" --seeds "$seeds" --from "$from"
done

#!/usr/bin/env bash
# scripts/pgo.sh: regenerate cmd/ronsim/default.pgo, the CPU profile Go's
# profile-guided optimisation builds ronsim with (go build picks up a
# main package's default.pgo by itself; see BENCHMARKS.md, "Simulator
# speed (issue 14.5)"). The profile is of `make lincheck`'s mix: SEEDS swarm
# seeds (default 3) of every registry scenario, merged. PGO changes how the
# compiler inlines and lays out code, never what it computes: trace hashes
# and verdicts are the same with or without it. A stale profile only
# optimises less; regenerate after large changes to the simulator or core.
# Usage: scripts/pgo.sh [SEEDS]
set -euo pipefail
seeds="${1:-3}"
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Profile a build without PGO so that the profile does not feed on itself.
go build -pgo=off -o "$tmp/ronsim" ./cmd/ronsim
profiles=()
for f in scenarios/*.yaml; do
  if ! awk '/^checks:/ {on=1} on && /^[a-z_]+:/ && !/^checks:/ {on=0} on' "$f" | grep -qw linearizable; then
    continue
  fi
  for seed in $(seq 1 "$seeds"); do
    p="$tmp/$(basename "$f" .yaml)-$seed.prof"
    "$tmp/ronsim" run "$f" --seed "$seed" --swarm --cpuprofile "$p" >/dev/null
    profiles+=("$p")
  done
done
go tool pprof -proto "${profiles[@]}" > cmd/ronsim/default.pgo
echo "pgo: cmd/ronsim/default.pgo from ${#profiles[@]} runs ($(wc -c < cmd/ronsim/default.pgo) bytes)"

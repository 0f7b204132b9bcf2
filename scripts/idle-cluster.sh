#!/usr/bin/env bash
# Idle cost of a 3-replica registry: starts three rond replicas on loopback
# (fresh node keys and data dirs, one cap key they share as a cluster's
# nodes must: their derived admin keys then agree too), lets them elect a
# leader for 6 s, then prints perf stat's task-clock and context switches
# of the three processes over SECONDS (default 10) while they serve
# nothing. The heartbeat figures in BENCHMARKS.md ("Raft heartbeat
# interval") come from it.
#
# Usage: scripts/idle-cluster.sh RONCTL ROND [SECONDS]
#   e.g. scripts/idle-cluster.sh bin/ronctl bin/rond 10
# Needs perf and xxd; uses UDP ports 17001-17003.
set -euo pipefail
if [ $# -lt 2 ]; then
	sed -n '2,12p' "$0" >&2
	exit 2
fi
ronctl=$1 rond=$2 secs=${3:-10}
dir=$(mktemp -d)
pids=()
cleanup() {
	[ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
ports=(17001 17002 17003)
ids=()
for i in 0 1 2; do
	mkdir -p "$dir/n$i"
	head -c 32 /dev/urandom | xxd -p -c 64 >"$dir/n$i/node.key"
	chmod 600 "$dir/n$i/node.key"
	ids+=("$("$ronctl" key id "$dir/n$i/node.key")")
done
replicas=$(IFS=,; echo "${ids[*]}")
head -c 32 /dev/urandom | xxd -p -c 64 >"$dir/cap.key" # read as cap key version 1
chmod 600 "$dir/cap.key"
for i in 0 1 2; do
	boot=""
	for j in 0 1 2; do
		[ "$j" != "$i" ] && boot="$boot${boot:+,}${ids[$j]}@127.0.0.1:${ports[$j]}"
	done
	"$rond" --http-addr 127.0.0.1:0 --quic-addr "127.0.0.1:${ports[$i]}" --node-key "$dir/n$i/node.key" \
		--cap-key-file "$dir/cap.key" --data-dir "$dir/n$i" --bootstrap "$boot" --replicas "$replicas" --log-level warn \
		>/dev/null 2>"$dir/n$i.err" &
	pids+=($!)
done
sleep 6 # the election and the first snapshot; what is measured is the idle time after it
perf stat -e task-clock,context-switches -p "$(IFS=,; echo "${pids[*]}")" -- sleep "$secs" 2>&1 |
	grep -E "task-clock|context-switches"

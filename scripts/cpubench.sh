#!/usr/bin/env bash
# CPU time per operation of one Go benchmark, for comparisons on a busy
# machine where wall-clock ns/op is noise: user+sys seconds of the test
# binary at GOMAXPROCS=1 with N+1 iterations minus those with 1 (setup and
# the calibration run cancel out), divided by N. Resolution is the
# kernel's accounting (about 10 ms per run), so pick N large enough.
#
#   go test -c -o /tmp/old.test ./core/storage/    # in the old tree
#   scripts/cpubench.sh /tmp/old.test 'BenchmarkChunkedAddress/64MiB/split$' 10
set -euo pipefail
bin=$1 re=$2 n=$3
cpu() {
	/usr/bin/time -f "%U %S" env GOMAXPROCS=1 "$bin" -test.run '^$' -test.bench "$re" -test.benchtime "${1}x" 2>&1 >/dev/null |
		tail -1 | awk '{print $1 + $2}'
}
a=$(cpu 1)
b=$(cpu $((n + 1)))
awk -v a="$a" -v b="$b" -v n="$n" -v name="$(basename "$bin") $re" 'BEGIN { printf "%-60s %8.2f ms/op CPU\n", name, (b - a) / n * 1000 }'

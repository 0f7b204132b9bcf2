#!/usr/bin/env bash
# The day-one demos against the 3-node compose cluster (make cluster-test):
# build the image, bring the cluster up, run D-1..D-3 from the host with
# ronctl and curl against the published ports on 127.0.0.1, and always tear
# the cluster down (trap), passing or not. Not part of `make test`: it needs
# Docker. Prints each step; exits 1 at the first failed expectation.
#
#   D-1  a blob put on node1 is fetched by address from node2 through the
#        gateway, whole and with byte ranges (206, Content-Range, ETag, 416)
#   D-2  node3 finds the blob's providers through the DHT and fetches it;
#        a blob put on node2 is found and fetched from node1 likewise
#   D-3  a producer claims a name and points it at an artifact on node1;
#        consumers resolve it on node2 and node3 (linearizable reads) and
#        fetch the artifact, integrity verified; a stale seq is refused (409)
#   D-4  the nodes share the cap key and the admin key: node1's root token
#        writes on node2 and node3, a token minted from the shared cap key
#        works everywhere, and once revoked through node1 (ronctl token
#        revoke) it is refused (401 revoked) by every node
#
# Environment: RON_CLUSTER_KEEP=1 leaves the cluster up for inspection.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
cluster=scripts/cluster.sh
ronctl=$PWD/bin/image/ronctl
work=$(mktemp -d)
n1=http://127.0.0.1:${RON_HTTP_PORT1:-18081}
n2=http://127.0.0.1:${RON_HTTP_PORT2:-18082}
n3=http://127.0.0.1:${RON_HTTP_PORT3:-18083}
state=${RON_CLUSTER_STATE:-$PWD/deploy/compose/.state}

finish() {
	local rc=$?
	if [ $rc -ne 0 ]; then
		echo "cluster-test: FAILED; last logs:" >&2
		$cluster compose logs --tail 60 >&2 || true
	fi
	if [ "${RON_CLUSTER_KEEP:-}" = 1 ]; then
		echo "cluster-test: cluster left up (RON_CLUSTER_KEEP=1); stop it with make cluster-down"
	else
		$cluster down >/dev/null 2>&1 || echo "cluster-test: teardown failed; run make cluster-down" >&2
	fi
	rm -rf "$work"
	echo "cluster-test: $([ $rc -eq 0 ] && echo PASS || echo FAIL) in $((SECONDS - start))s"
	exit $rc
}
trap finish EXIT

fail() { echo "cluster-test: $*" >&2; exit 1; }
step() { echo "cluster-test: $*"; }

# retry runs a command until it succeeds or 30 s pass (a fresh cluster
# may still be electing its registry leader or filling its DHT tables).
retry() {
	local deadline=$((SECONDS + 30))
	until "$@" >"$work/out" 2>"$work/err"; do
		[ $SECONDS -lt $deadline ] || fail "gave up on: $* ($(cat "$work/err"))"
		sleep 0.5
	done
	cat "$work/out"
}

# status_of prints the HTTP status of a curl request; a node that stalls
# fails the request after 10 s (status 000) instead of hanging the test.
status_of() { curl -s --max-time 10 -o "$work/body" -D "$work/headers" -w '%{http_code}' "$@"; }
header() { tr -d '\r' <"$work/headers" | sed -n "s/^$1: //Ip"; }

$cluster image
$cluster up
export RON_TOKEN
RON_TOKEN=$(cat "$state/node1/root.token")

step "D-1: put on node1, get by address (whole and ranges) from node2"
head -c 700000 /dev/urandom >"$work/blob" # three chunks at 256 KiB
addr=$("$ronctl" --node "$n1" put "$work/blob")
[[ $addr =~ ^b3:[0-9a-f]{64}$ ]] || fail "put answered $addr"
retry "$ronctl" --node "$n2" get "$addr" -o "$work/got" >/dev/null
cmp -s "$work/blob" "$work/got" || fail "node2 served different bytes"
code=$(status_of -H 'Range: bytes=300000-300099' "$n2/o/$addr")
[ "$code" = 206 ] || fail "range: HTTP $code"
cmp -s "$work/body" <(tail -c +300001 "$work/blob" | head -c 100) || fail "range: wrong bytes"
[ "$(header content-range)" = "bytes 300000-300099/700000" ] || fail "range: Content-Range $(header content-range)"
[ "$(header etag)" = "\"$addr\"" ] || fail "ETag $(header etag), want \"$addr\""
code=$(status_of -H 'Range: bytes=-10' "$n2/o/$addr")
[ "$code" = 206 ] && cmp -s "$work/body" <(tail -c 10 "$work/blob") || fail "suffix range: HTTP $code or wrong bytes"
code=$(status_of -H 'Range: bytes=800000-' "$n2/o/$addr")
[ "$code" = 416 ] && [ "$(header content-range)" = "bytes */700000" ] || fail "unsatisfiable range: HTTP $code $(header content-range)"

step "D-2: providers through the DHT, then transfer"
ids=$(for i in 1 2 3; do "$ronctl" key id "$state/keys/node$i.key"; done)
providers=$(retry "$ronctl" --node "$n3" providers "$addr" --json)
grep -qF -f <(echo "$ids") <<<"$providers" || fail "node3 knows no cluster node as provider: $providers"
retry "$ronctl" --node "$n3" get "$addr" -o "$work/got3" >/dev/null
cmp -s "$work/blob" "$work/got3" || fail "node3 served different bytes"
head -c 5000 /dev/urandom >"$work/small"
addr2=$(RON_TOKEN=$(cat "$state/node2/root.token") "$ronctl" --node "$n2" put "$work/small")
providers=$(retry "$ronctl" --node "$n1" providers "$addr2" --json)
grep -qF -f <(echo "$ids") <<<"$providers" || fail "node1 knows no provider of $addr2: $providers"
retry "$ronctl" --node "$n1" cat "$addr2" >"$work/got4"
cmp -s "$work/small" "$work/got4" || fail "node1 served different bytes for $addr2"

step "D-3: signed name -> artifact; consumers resolve and fetch"
name=release.demo-$RANDOM
"$ronctl" key gen "$work/owner.key" >/dev/null
printf 'artifact %s\n' "$name" >"$work/artifact"
art=$("$ronctl" --node "$n1" put "$work/artifact")
retry "$ronctl" --node "$n1" name claim "$name" --key "$work/owner.key" >/dev/null
"$ronctl" --node "$n1" name set "$name" "$art" --key "$work/owner.key" >/dev/null
for n in "$n2" "$n3"; do
	rec=$("$ronctl" --node "$n" name get "$name" --json)
	grep -q "\"target\":\"$art\"" <<<"$rec" || fail "$n resolves $name to $rec, want $art"
	"$ronctl" --node "$n" get "$art" -o "$work/art.got" >/dev/null # verifies the b3 hash
	cmp -s "$work/artifact" "$work/art.got" || fail "$n served a different artifact"
	code=$(status_of "$n/n/$name")
	[ "$code" = 200 ] && cmp -s "$work/body" "$work/artifact" || fail "$n /n/$name: HTTP $code or wrong bytes"
done
# Through node2 with node2's token: any node takes registry writes.
if RON_TOKEN=$(cat "$state/node2/root.token") "$ronctl" --node "$n2" name set "$name" "$addr" \
	--key "$work/owner.key" --seq 1 2>"$work/err"; then
	fail "a set with a stale seq was accepted"
fi
grep -q 409 "$work/err" || fail "stale seq: $(cat "$work/err"), want 409"

step "D-4: one cap key and admin key: tokens work on every node, a revoke reaches all"
root1=$(cat "$state/node1/root.token")
for n in "$n2" "$n3"; do
	code=$(status_of -X PUT --data-binary "root1 on $n" -H "Authorization: Bearer $root1" "$n/o")
	[ "$code" = 201 ] || fail "node1's root token on $n: HTTP $code $(cat "$work/body")"
done
tok=$("$ronctl" token issue --key "$state/keys/shared/cap.key" --tenant acme --ops write --ttl 1h)
for n in "$n1" "$n2" "$n3"; do
	code=$(status_of -X PUT --data-binary "acme on $n" -H "Authorization: Bearer $tok" "$n/o")
	[ "$code" = 201 ] || fail "a token minted from the shared cap key on $n: HTTP $code $(cat "$work/body")"
done
# revoked answers 401 with reason "revoked" once the node's registry view
# has the revoke (replicas apply it through raft; retry bounds the wait).
revoked_on() {
	local code
	code=$(status_of -X PUT --data-binary "after revoke" -H "Authorization: Bearer $tok" "$1/o")
	[ "$code" = 401 ] && grep -q '"reason":"revoked"' "$work/body"
}
# revoke_tok revokes tok through node1. A revoke is idempotent (a repeat
# succeeds), and an attempt whose answer was lost (a timeout, 503
# UNKNOWN_OUTCOME) may have committed: node1 refusing tok as revoked
# counts as done too.
revoke_tok() { "$ronctl" --node "$n1" --token "$root1" token revoke "$tok" || revoked_on "$n1"; }
retry revoke_tok >/dev/null
for n in "$n1" "$n2" "$n3"; do
	retry revoked_on "$n" >/dev/null
done

step "metrics: every node's /metrics passes promtool check metrics"
if command -v promtool >/dev/null; then
	for n in "$n1" "$n2" "$n3"; do
		curl -fsS "$n/metrics" >"$work/metrics"
		problems=$(promtool check metrics <"$work/metrics" 2>&1) || fail "$n/metrics: $problems"
		grep -q '^storage_put_latency_seconds_bucket' "$work/metrics" || fail "$n/metrics lacks storage_put_latency_seconds"
	done
else
	echo "cluster-test: promtool not installed (Debian: apt-get install prometheus); metrics check skipped"
fi

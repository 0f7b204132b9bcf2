#!/usr/bin/env bash
# The 3-node compose cluster (deploy/compose). Usage:
#
#   scripts/cluster.sh image   build static rond/ronctl on the host, then the
#                              FROM-scratch image (no registry needed)
#   scripts/cluster.sh up      keys (once: a node key each, one cap key and
#                              one admin key all nodes share), data folders,
#                              `compose up`, and wait until every node
#                              answers /readyz
#   scripts/cluster.sh down    `compose down` and remove keys and data
#   scripts/cluster.sh compose ARGS...   any compose command (ps, logs, ...)
#
# Environment: RON_IMAGE (ron/rond:dev), RON_CLUSTER_STATE
# (deploy/compose/.state), RON_HTTP_PORT1..3 (18081..18083),
# RON_CLUSTER_WAIT seconds for readiness (120), RON_COMPOSE_PROJECT (ron).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export RON_IMAGE=${RON_IMAGE:-ron/rond:dev}
export RON_CLUSTER_STATE=${RON_CLUSTER_STATE:-$root/deploy/compose/.state}
export RON_HTTP_PORT1=${RON_HTTP_PORT1:-18081}
export RON_HTTP_PORT2=${RON_HTTP_PORT2:-18082}
export RON_HTTP_PORT3=${RON_HTTP_PORT3:-18083}
export RON_UID=${RON_UID:-$(id -u)}
export RON_GID=${RON_GID:-$(id -g)}
project=${RON_COMPOSE_PROJECT:-ron}
ctx=$root/bin/image
ronctl=$ctx/ronctl

compose() {
	local file=$root/deploy/compose/docker-compose.yml
	if docker compose version >/dev/null 2>&1; then
		docker compose -p "$project" -f "$file" "$@"
	elif command -v docker-compose >/dev/null; then
		docker-compose -p "$project" -f "$file" "$@"
	else
		echo "cluster: neither 'docker compose' nor docker-compose is installed" >&2
		return 1
	fi
}

image() {
	mkdir -p "$ctx"
	local version
	version=$(git describe --always --dirty 2>/dev/null || echo dev)
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$ctx/rond" ./cmd/rond
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$ctx/ronctl" ./cmd/ronctl
	cp deploy/docker/Dockerfile "$ctx/Dockerfile"
	# The classic builder needs no buildx plugin and pulls nothing for
	# FROM scratch; BuildKit is used when the plugin is there.
	if ! docker buildx version >/dev/null 2>&1; then export DOCKER_BUILDKIT=0; fi
	docker build -q -t "$RON_IMAGE" "$ctx" >/dev/null
	echo "cluster: built $RON_IMAGE ($(du -h "$ctx/rond" | cut -f1) rond, static)"
}

# ids exports RON_NODEn_ID from the key files and RON_ADMIN_KEYS from the
# shared admin key's public key (zeros when absent, enough for `compose
# down`).
ids() {
	local i zeros
	zeros=$(printf '0%.0s' {1..64})
	for i in 1 2 3; do
		local key=$RON_CLUSTER_STATE/keys/node$i.key id=$zeros
		if [ -f "$key" ] && [ -x "$ronctl" ]; then id=$("$ronctl" key id "$key"); fi
		export "RON_NODE${i}_ID=$id"
	done
	local pub=$RON_CLUSTER_STATE/keys/admin.pub
	RON_ADMIN_KEYS=$zeros
	if [ -f "$pub" ]; then RON_ADMIN_KEYS=$(cat "$pub"); fi
	export RON_ADMIN_KEYS
}

# shared_keys makes, once, the keys every node shares (doc.go of cmd/rond:
# "nodes must share the capability key and every replica must list the
# same admin keys"): keys/shared/cap.key, 32 random bytes in hex, which
# rond reads as cap key version 1 (ronctl key rotate turns it into the
# versioned format), and keys/shared/admin.key, the Ed25519 seed that
# signs revocations, whose public key (keys/admin.pub) is --admin-keys.
# Both are written by `ronctl key gen` (crypto/rand, mode 0600, never
# over an existing file).
shared_keys() {
	local shared=$RON_CLUSTER_STATE/keys/shared
	mkdir -p "$shared"
	chmod 700 "$shared"
	[ -f "$shared/cap.key" ] || "$ronctl" key gen "$shared/cap.key" >/dev/null
	if [ ! -f "$shared/admin.key" ]; then
		local out pub
		out=$("$ronctl" key gen "$shared/admin.key")
		pub=$(sed -n 's/.*(owner \([0-9a-f]\{64\}\))$/\1/p' <<<"$out")
		if [ -z "$pub" ]; then
			echo "cluster: cannot read the admin public key from: $out" >&2
			return 1
		fi
		echo "$pub" >"$RON_CLUSTER_STATE/keys/admin.pub"
	fi
	if [ ! -s "$RON_CLUSTER_STATE/keys/admin.pub" ]; then
		echo "cluster: $RON_CLUSTER_STATE/keys/admin.pub is missing; run $0 down and up again" >&2
		return 1
	fi
}

up() {
	[ -x "$ronctl" ] || image
	mkdir -p "$RON_CLUSTER_STATE/keys"
	chmod 700 "$RON_CLUSTER_STATE" "$RON_CLUSTER_STATE/keys"
	local i
	for i in 1 2 3; do
		mkdir -p "$RON_CLUSTER_STATE/node$i"
		chmod 700 "$RON_CLUSTER_STATE/node$i"
		local key=$RON_CLUSTER_STATE/keys/node$i.key
		[ -f "$key" ] || "$ronctl" key gen "$key" >/dev/null
	done
	shared_keys
	ids
	compose up -d --no-build --remove-orphans
	wait_ready
	for i in 1 2 3; do
		local port_var=RON_HTTP_PORT$i id_var=RON_NODE${i}_ID
		echo "cluster: node$i http://127.0.0.1:${!port_var} id ${!id_var}"
	done
	echo "cluster: root tokens in $RON_CLUSTER_STATE/nodeN/root.token (export RON_TOKEN=\$(cat ...)); each works on every node"
	echo "cluster: shared cap key $RON_CLUSTER_STATE/keys/shared/cap.key (ronctl token issue --key ...)"
}

wait_ready() {
	local deadline=$((SECONDS + ${RON_CLUSTER_WAIT:-120})) i
	for i in 1 2 3; do
		local port_var=RON_HTTP_PORT$i
		local url=http://127.0.0.1:${!port_var}/readyz
		until curl -fsS -o /dev/null "$url" 2>/dev/null; do
			if [ $SECONDS -ge $deadline ]; then
				echo "cluster: node$i not ready at $url after ${RON_CLUSTER_WAIT:-120}s" >&2
				compose logs --tail 40 >&2 || true
				return 1
			fi
			sleep 0.5
		done
	done
	echo "cluster: 3 nodes ready in ${SECONDS}s"
}

down() {
	ids
	compose down -v --remove-orphans --timeout 15
	rm -rf "$RON_CLUSTER_STATE"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
image) image ;;
up) up ;;
down) down ;;
compose) ids; compose "$@" ;;
*)
	sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac

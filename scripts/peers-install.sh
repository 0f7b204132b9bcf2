#!/usr/bin/env bash
# Installs the peers `make bench-peers` compares rond with (not needed by
# `make test`): etcd from Debian's etcd-server (3.4 on bookworm), and kubo
# built from its module source into bin/ipfs.
#
# kubo v0.43.1's go.mod replaces go-libp2p with a fork the module proxy
# does not serve, so `go install .../cmd/ipfs@v0.43.1` fails. This builds
# a copy of the module with the replace dropped and go-libp2p at v0.50.0,
# the release that requires the same quic-go (v0.62) and webtransport-go
# (v0.13) as the fork. The build takes many minutes on 2 cores; it runs
# niced with one package at a time.
#
# Usage: scripts/peers-install.sh [etcd] [kubo]   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
want=${*:-etcd kubo}
kubo_version=v0.43.1

if [[ " $want " == *" etcd "* ]] && ! command -v etcd >/dev/null; then
	apt-get update
	apt-get install -y etcd-server
fi

if [[ " $want " == *" kubo "* ]] && [ ! -x bin/ipfs ]; then
	dir=$(go mod download -json "github.com/ipfs/kubo@$kubo_version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
	src=$(mktemp -d)
	trap 'rm -rf "$src"' EXIT
	cp -r "$dir/." "$src"
	chmod -R u+w "$src"
	sed -i '/^replace github.com\/libp2p\/go-libp2p =>/d' "$src/go.mod"
	sed -i 's#^\tgithub.com/libp2p/go-libp2p v[0-9.]*$#\tgithub.com/libp2p/go-libp2p v0.50.0#' "$src/go.mod"
	mkdir -p bin
	(cd "$src" && GOFLAGS=-mod=mod nice -n 15 go build -p 1 -o "$OLDPWD/bin/ipfs" ./cmd/ipfs)
	bin/ipfs version
fi

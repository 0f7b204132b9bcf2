#!/usr/bin/env bash
# Installs the gate tools, pinned, into the project-local bin/ when missing
# (Go tools through the module proxy, spin through apt-get). A gate never
# skips itself for want of a tool: this script installs it or fails.
# Usage: scripts/install-tools.sh            (all tools)
#        scripts/install-tools.sh NAME...    (golangci-lint govulncheck cyclonedx-gomod apidiff spin vulndb)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export GOBIN="$root/bin"
# go install of a versioned path ignores the main module; -mod=readonly
# from .ci/run would still be rejected by some tool modules, so clear it.
export GOFLAGS=

GOLANGCI_LINT_VERSION=v2.15.0
GOVULNCHECK_VERSION=v1.10.0
CYCLONEDX_GOMOD_VERSION=v1.10.0
APIDIFF_VERSION=v0.0.0-20261120182113-8801fbdfac81   # golang.org/x/exp
# The vulnerability database is pinned too: a scan is reproducible, and a
# newer database is a reviewed change (bump this and commit).
VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018      # golang.org/x/vulndb

install_go() { # name module@version
	local name=$1 mod=$2
	if [ -x "$GOBIN/$name" ] && [ -f "$GOBIN/.$name.version" ] && [ "$(cat "$GOBIN/.$name.version")" = "$mod" ]; then
		return 0
	fi
	echo "install-tools: go install $mod" >&2
	go install "$mod"
	echo "$mod" >"$GOBIN/.$name.version"
}

install_spin() {
	command -v spin >/dev/null 2>&1 && return 0
	local sudo=""
	if [ "$(id -u)" -ne 0 ]; then sudo="sudo -n"; fi
	echo "install-tools: apt-get install spin" >&2
	if ! { $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
		$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends spin gcc; } >/tmp/ci-apt-spin.log 2>&1; then
		echo "install-tools: apt-get install spin failed:" >&2
		tail -5 /tmp/ci-apt-spin.log >&2
		exit 1
	fi
	command -v spin >/dev/null 2>&1 || { echo "install-tools: spin still missing" >&2; exit 1; }
}

# vulndb: the golang.org/x/vulndb module, fetched through the module proxy,
# converted into govulncheck's file:// database layout in bin/vulndb.
install_vulndb() {
	local want="golang.org/x/vulndb@$VULNDB_VERSION"
	if [ -f bin/vulndb/.version ] && [ "$(cat bin/vulndb/.version)" = "$want" ]; then
		return 0
	fi
	echo "install-tools: building the offline vulnerability database from $want" >&2
	local info dir modified
	info=$(go mod download -json "$want")
	dir=$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	modified=$(go list -m -json "$want" | sed -n 's/^[[:space:]]*"Time": "\(.*\)",$/\1/p')
	if [ -z "$dir" ] || [ ! -d "$dir/data/osv" ]; then
		echo "install-tools: $want has no data/osv" >&2
		exit 1
	fi
	rm -rf bin/vulndb
	go run ./scripts/vulndb -osv "$dir/data/osv" -out "$root/bin/vulndb" -modified "$modified"
	echo "$want" >bin/vulndb/.version
}

tools=("$@")
if [ ${#tools[@]} -eq 0 ]; then
	tools=(golangci-lint govulncheck cyclonedx-gomod spin vulndb) # apidiff: installed by scripts/apidiff.sh when run
fi
mkdir -p "$GOBIN"
for t in "${tools[@]}"; do
	case $t in
	golangci-lint) install_go golangci-lint "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$GOLANGCI_LINT_VERSION" ;;
	govulncheck) install_go govulncheck "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION" ;;
	cyclonedx-gomod) install_go cyclonedx-gomod "github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@$CYCLONEDX_GOMOD_VERSION" ;;
	apidiff) install_go apidiff "golang.org/x/exp/cmd/apidiff@$APIDIFF_VERSION" ;;
	spin) install_spin ;;
	vulndb) install_vulndb ;;
	*) echo "install-tools: unknown tool $t" >&2; exit 2 ;;
	esac
done

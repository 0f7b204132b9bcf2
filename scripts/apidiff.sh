#!/usr/bin/env bash
# Reports changes to the exported API of the module's packages against a
# git ref (apidiff from golang.org/x/exp, pinned in install-tools.sh).
# The base defaults to the latest release tag; there is none yet, so it
# falls back to the merge-base with main (or the first commit). It fails
# on an incompatible change unless ALLOW_INCOMPATIBLE=1 (set it when the
# commit message says why the break is intended).
# Usage: scripts/apidiff.sh [REF]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
./scripts/install-tools.sh apidiff
base=${1:-}
if [ -z "$base" ]; then
	base=$(git describe --tags --abbrev=0 --match 'v*' 2>/dev/null || true)
fi
if [ -z "$base" ]; then
	base=$(git merge-base HEAD main 2>/dev/null || git rev-list --max-parents=0 HEAD | tail -1)
	echo "apidiff: no release tag (v*); comparing against $base"
fi
tmp=$(mktemp -d)
trap 'git worktree remove --force "$tmp/base" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git worktree add --detach -q "$tmp/base" "$base"
module=$(go list -m)
# Exported API: core/, io/ and sim/ packages (cmd/ are binaries; internal
# packages are not API).
pkgs=$(go list ./core/... ./io/... ./sim/... | grep -v '/internal/')
incompatible=0
for pkg in $pkgs; do
	rel=${pkg#"$module"/}
	[ -d "$tmp/base/$rel" ] || { echo "apidiff: $rel: new package"; continue; }
	(cd "$tmp/base" && GOFLAGS=-mod=mod "$root/bin/apidiff" -w "$tmp/old.export" "$pkg" 2>/dev/null) || { echo "apidiff: $rel: base does not build, skipped"; continue; }
	report=$("$root/bin/apidiff" "$tmp/old.export" "$pkg")
	if [ -n "$report" ]; then
		echo "== $rel"
		echo "$report"
		if grep -q '^Incompatible changes:' <<<"$report"; then incompatible=$((incompatible + 1)); fi
	fi
done
if [ "$incompatible" -gt 0 ]; then
	echo "apidiff: $incompatible packages with incompatible changes against $base"
	[ "${ALLOW_INCOMPATIBLE:-0}" = 1 ] || exit 1
fi

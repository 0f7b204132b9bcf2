#!/usr/bin/env bash
# Writes a CycloneDX JSON SBOM per binary (cmd/*) into out/sbom/, with the
# licenses detected from the module cache (no network). cyclonedx-gomod
# reads the main module's version from git with go-git, which does not
# follow linked worktrees: the SBOMs are built from a throwaway local clone
# of HEAD (so uncommitted changes are not in them).
# Usage: scripts/sbom.sh [OUTDIR]   (default out/sbom)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=${1:-$root/out/sbom}
./scripts/install-tools.sh cyclonedx-gomod
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git clone -q "$root" "$tmp/src"
cd "$tmp/src"
for main in cmd/*/; do
	name=$(basename "$main")
	"$root/bin/cyclonedx-gomod" app -json -licenses -assert-licenses -noserial \
		-output "$out/$name.cdx.json" -main "cmd/$name" . 2>"$tmp/$name.log" || {
		cat "$tmp/$name.log" >&2
		exit 1
	}
	echo "sbom: $out/$name.cdx.json"
done

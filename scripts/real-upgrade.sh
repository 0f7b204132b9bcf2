#!/usr/bin/env bash
# make real-upgrade: mixed-version runs against real rond processes. Builds
# rond from commit OLD (the old build) and from this tree (the new one),
# then runs scenarios/rolling_upgrade.yaml (every replica upgraded one by
# one) and scenarios/rolling_downgrade.yaml (two upgraded, then rolled
# back) under ronsim real with --rond-old OLD --rond NEW, then
# scripts/real-upgrade-audit.sh (one macronode's audit log rolled back).
#
# OLD defaults to 6db240a, the merge that brought `rond migrate` and the
# data dir FORMAT record to the first-parent history (found with
# `git log --first-parent --reverse -- cmd/rond/migrate.go`; there is no
# release tag yet). Once a release is tagged, set OLD to the latest tag.
#
# When OLD is missing from the clone (a shallow clone, as some CI systems
# make), the script tries `git fetch origin OLD`; if that fails too, it
# SKIPS with a loud warning and exit 0 rather than failing: the runs need
# history the build cannot get, which is a property of the checkout, not
# of the change. Everything else (OLD without a format record, a build
# failure, a failing check) fails.
set -euo pipefail
cd "$(dirname "$0")/.."
OLD="${OLD:-6db240a}"
GO="${GO:-go}"
out=out/real-upgrade
rm -rf "$out"
mkdir -p "$out" "$out/audit"

if ! git cat-file -e "$OLD^{commit}" 2>/dev/null; then
	if git remote get-url origin >/dev/null 2>&1; then
		git fetch -q origin "$OLD" 2>/dev/null || true
	fi
fi
if ! git cat-file -e "$OLD^{commit}" 2>/dev/null; then
	shallow=$(git rev-parse --is-shallow-repository 2>/dev/null || echo unknown)
	{
		echo "################################################################"
		echo "real-upgrade: SKIPPED: commit $OLD (the old build) is not in this clone"
		echo "  (shallow clone: $shallow). The mixed-version runs did not happen."
		echo "  Fix: git fetch --unshallow (or clone with full history), or set"
		echo "  OLD=<a commit or tag this clone has that carries cmd/rond/migrate.go>."
		echo "################################################################"
	} >&2
	exit 0
fi
if ! git cat-file -e "$OLD:cmd/rond/migrate.go" 2>/dev/null; then
	echo "real-upgrade: $OLD has no cmd/rond/migrate.go: the old build must write the data dir FORMAT record (set OLD to 6db240a or later)" >&2
	exit 1
fi

start=$(date +%s)
rev=$(git rev-parse --short "$OLD")
echo "real-upgrade: old build $rev ($(git log -1 --format=%s "$OLD"))"
git archive --format=tar --prefix=old-src/ "$OLD" | tar -x -C "$out"
(cd "$out/old-src" && $GO build -ldflags "-X main.version=old-$rev" -o ../rond-old ./cmd/rond)
rm -rf "$out/old-src"
$GO build -o bin/ ./cmd/rond ./cmd/ronsim
built=$(date +%s)
echo "real-upgrade: builds took $((built - start)) s"
for f in scenarios/rolling_upgrade.yaml scenarios/rolling_downgrade.yaml; do
	name=$(basename "$f" .yaml)
	./bin/ronsim real "$f" --rond-old "$out/rond-old" --rond bin/rond --keep "$out/$name" | tee "$out/$name.txt"
done
# The registry's cluster version gate (core/registry/clusterversion.go):
# upgraded nodes read the test-only entry version 2 (sim/real/upgrade.go),
# so the version must rise once every replica is upgraded, and never when
# one stayed on the old build.
if ! grep -q "cluster version 2" "$out/rolling_upgrade.txt"; then
	echo "real-upgrade: FAIL: after rolling_upgrade.yaml the replicas do not report cluster version 2" >&2
	exit 1
fi
if grep -q "cluster version" "$out/rolling_downgrade.txt"; then
	echo "real-upgrade: FAIL: rolling_downgrade.yaml raised the cluster version with a replica on the old build" >&2
	exit 1
fi
# The audit log across a rollback of one macronode: with
# audit_object_writes off (the default) the old build keeps every record,
# asserted; what the opt-in loses is reported (cmd/rond doc.go, "Audit and
# rollbacks"); about 5 s.
./scripts/real-upgrade-audit.sh "$out/rond-old" bin/rond "$out/audit"
echo "real-upgrade: PASS (old $rev -> this tree and back) in $(($(date +%s) - start)) s"

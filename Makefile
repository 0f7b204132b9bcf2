# RON — see README.md. Every target is safe to run on a fresh clone.
GO       ?= go
# Seeds per scenario: SEEDS for `make sim` and `make lincheck` run by hand,
# CI_SEEDS for the CI-sized forms inside `make test` (2 cores, < 10 min).
# CI sizes its sweeps so that a bug that shows on 1 seed in 50 is caught:
# P(caught in N seeds) = 1 - (49/50)^N; N = 150 gives 0.952 (N = 228 would
# give 0.99). `make test` runs seeds 1..CI_SEEDS (30: 0.45) to stay under
# 10 minutes on 2 cores; .ci/run then runs `make ci-deep`, seeds
# CI_SEEDS+1..CI_DEEP_SEEDS (31..150) of the same sweeps, so every CI run
# checks 150 seeds of every scenario. Measured on 2 cores at 150 seeds:
# sim-ci 199 s, lincheck-ci 195 s (10 registry scenarios).
SEEDS    ?= 200
CI_SEEDS ?= 30
CI_DEEP_SEEDS ?= 150
FUZZTIME ?= 10s
PKGS     := ./...

.PHONY: all build run demo test test-unit test-invariants lint vet fmt-check determinism sim sim-ci lincheck lincheck-ci canary fuzz bench bench-go bench-node bench-peers scale clean
.PHONY: image cluster-up cluster-down cluster-test
.PHONY: real real-ci real-canary ci-deep real-upgrade flags-off
.PHONY: gates tools sbom vulncheck fuzz-cover fuzz-grow budgets budgets-update spin apidiff

all: build

build:
	$(GO) build $(PKGS)
	$(GO) build -o bin/ ./cmd/...

## run: a working single node (micronode, in memory)
run:
	$(GO) run ./cmd/rond

## demo: replay the simulator showcase
demo:
	$(GO) run ./cmd/ronsim run scenarios/partition.yaml --seed 7

## test: everything CI runs (keep under 10 minutes on 2 cores)
test: fmt-check vet test-unit test-invariants determinism sim-ci lincheck-ci canary real-ci

test-unit:
	$(GO) test -count=1 -timeout 15m $(PKGS)

## test-invariants: core and simulator tests with the expensive invariant
## checks on (core/internal/invariants)
test-invariants:
	$(GO) test -count=1 -short -timeout 15m -tags invariants ./core/... ./sim/...

lint: fmt-check vet
	$(GO) test -count=1 -run 'TestLayoutDirection|TestCorePurity|TestLintCatchesViolations' .

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

## determinism: every scenario twice with the same seed must give the same trace hash
determinism:
	$(GO) run ./cmd/ronsim determinism scenarios/*.yaml

## sim: a seed sweep across the scenarios (SEEDS per scenario, swarm mode)
sim:
	./scripts/sweep.sh $(SEEDS)

sim-ci:
	./scripts/sweep.sh $(CI_SEEDS)

## lincheck: many seeds of every registry scenario under porcupine
lincheck:
	./scripts/lincheck.sh $(SEEDS)

lincheck-ci:
	./scripts/lincheck.sh $(CI_SEEDS)

## ci-deep: the rest of CI's sweeps (seeds CI_SEEDS+1..CI_DEEP_SEEDS of
## sim-ci and lincheck-ci), then the mixed-version runs (real-upgrade);
## .ci/run runs it after `make test`.
ci-deep:
	./scripts/sweep.sh $$(( $(CI_DEEP_SEEDS) - $(CI_SEEDS) )) $$(( $(CI_SEEDS) + 1 ))
	./scripts/lincheck.sh $$(( $(CI_DEEP_SEEDS) - $(CI_SEEDS) )) $$(( $(CI_SEEDS) + 1 ))
	$(MAKE) flags-off
	$(MAKE) real-upgrade

## flags-off: the scenario suite with each kill switch thrown (repair,
## republish) on FLAGS_OFF_SEEDS more seeds than make test's one
## (sim/runner TestScenarioSuiteWithEachFlagOff); in ci-deep.
FLAGS_OFF_SEEDS ?= 3
flags-off:
	RON_FLAGS_OFF_SEEDS=$(FLAGS_OFF_SEEDS) $(GO) test -count=1 -timeout 20m -run TestScenarioSuiteWithEachFlagOff ./sim/runner/

## canary: deliberately wrong registries, stores and simulators must be
## caught (table: variant, check, seeds needed), and FuzzCanary must fail
canary:
	./scripts/canary.sh

## fuzz: a short run of every fuzz target, then grow the committed
## corpora of the cross-package targets in fuzz/ (commit the new inputs)
fuzz:
	./scripts/fuzz-all.sh $(FUZZTIME)
	./scripts/fuzz-grow.sh $(FUZZTIME) ./fuzz/

## scale: the DHT scaling runs in scenarios/scale/ (10k with churn, 100k); not
## part of `make test` (minutes and GiBs, see BENCHMARKS.md). The 10k run is
## checked for determinism once; every report ends with its wall time.
scale:
	$(GO) build -o bin/ronsim ./cmd/ronsim
	./bin/ronsim determinism scenarios/scale/dht_10k.yaml --seeds 1
	for f in scenarios/scale/*.yaml; do ./bin/ronsim run $$f || exit 1; done

## image: static rond/ronctl built on the host, in a FROM-scratch image
## (ron/rond:dev; no registry needed). See deploy/README.md.
image:
	./scripts/cluster.sh image

## cluster-up / cluster-down: the 3-node compose cluster on 127.0.0.1:18081-18083
cluster-up:
	./scripts/cluster.sh image
	./scripts/cluster.sh up

cluster-down:
	./scripts/cluster.sh down

## cluster-test: image, cluster up, demos D-1..D-3 from the host, always down.
## Needs Docker with compose; not part of `make test`.
cluster-test:
	./scripts/cluster-test.sh

## bench: the Go benchmarks, then bench-node (figures in BENCHMARKS.md)
bench: bench-go bench-node

bench-go:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

## bench-node: cmd/ronbench drives nodes over HTTP on loopback: an
## in-process micronode and macronode (per-tenant quota raised), then the
## rond binary as shipped (quota on: 429s are counted). About 2 minutes.
bench-node:
	$(GO) build -o bin/ ./cmd/rond ./cmd/ronbench
	./bin/ronbench
	./bin/ronbench --macronode
	./bin/ronbench --rond bin/rond --macronode --small-time 5s

## bench-peers: issue 15's side-by-side table. rond (a macronode; 3
## replicas for names) next to kubo (KUBO=path/to/ipfs), a 3-member etcd
## (ETCD=path, default etcd on PATH: Debian's etcd-server) and a net/http
## FileServer, same workloads, order reversed every other run, medians of
## RUNS runs, goal ratios and load averages. A peer that is absent is
## printed MISSING, never measured. PEER_TIME per phase, BIG_MIB object.
## PEER_FLAGS adds ronbench flags (default --micronode: the micronode's
## byte figures too). Not part of `make test`; about 5 minutes.
RUNS ?= 3
PEER_TIME ?= 3s
BIG_MIB ?= 256
PEER_FLAGS ?= --micronode
bench-peers:
	$(GO) build -o bin/ ./cmd/rond ./cmd/ronbench
	./bin/ronbench --peers --rond bin/rond --kubo "$(KUBO)" --etcd "$(or $(ETCD),etcd)" \
		--runs $(RUNS) --peer-time $(PEER_TIME) --big-mib $(BIG_MIB) $(PEER_FLAGS)

## real-ci: one short scenario against real rond processes (3 nodes, 26 s,
## an isolated leader, a one-way cut, a crash) with every check; the node
## logs and the history stay in out/real-ci.
## real: SCENARIOS (default scenarios/partition.yaml) RUNS times each,
## seeds 1..RUNS; each run keeps its logs in out/real/NAME-seedN.
SCENARIOS ?= scenarios/partition.yaml
RUNS      ?= 1
real-ci:
	$(GO) build -o bin/ ./cmd/rond ./cmd/ronsim
	rm -rf out/real-ci
	./bin/ronsim real scenarios/real_smoke.yaml --rond bin/rond --keep out/real-ci

real:
	$(GO) build -o bin/ ./cmd/rond ./cmd/ronsim
	for f in $(SCENARIOS); do for s in $$(seq 1 $(RUNS)); do \
		d=out/real/$$(basename $$f .yaml)-seed$$s; rm -rf $$d; \
		./bin/ronsim real $$f --seed $$s --rond bin/rond --keep $$d || exit 1; \
	done; done

## real-upgrade: mixed versions against real processes: rond built from
## commit OLD (default 6db240a, the first mainline commit whose rond writes
## the data dir FORMAT record; no release tag yet) and from this tree, then
## scenarios/rolling_upgrade.yaml and rolling_downgrade.yaml under ronsim
## real, then one macronode's audit log rolled back
## (scripts/real-upgrade.sh, real-upgrade-audit.sh; skips loudly when the
## clone lacks OLD).
## Part of ci-deep.
OLD ?= 6db240a
real-upgrade:
	OLD=$(OLD) GO=$(GO) ./scripts/real-upgrade.sh

## real-canary: canary builds of rond (local_resolve, ack_before_commit)
## must be caught by ronsim real within 3 runs of scenarios/real_canary.yaml,
## skip_sync within 6 runs of sim/real/testdata/
## real_power_loss.yaml (every replica loses power at once), the clean
## build passing the same runs (several minutes).
real-canary:
	RON_REAL_CANARY=1 $(GO) test -count=1 -timeout 30m -run TestCanaryCaughtOnRealProcesses -v ./sim/real/

clean:
	rm -rf bin

## gates: the safety gates (lint, secrets, supply chain, race, fuzz, budgets,
## spin); run by .ci/run after `make test`. Tools are installed into bin/
## by scripts/install-tools.sh (pinned) or the gate fails. GATES=... runs
## a subset, e.g. `make gates GATES="lint spin"`.
GATES ?=
gates:
	./scripts/gates.sh $(GATES)

tools:
	./scripts/install-tools.sh

## sbom: CycloneDX JSON per binary in out/sbom/, licenses checked against
## scripts/licensecheck/allowed.txt
sbom:
	./scripts/sbom.sh
	$(GO) run ./scripts/licensecheck out/sbom/*.cdx.json

## vulncheck: govulncheck against the offline database built from golang.org/x/vulndb
vulncheck:
	./scripts/gates.sh supply

## fuzz-grow: fuzz the cross-package targets in fuzz/ for FUZZTIME each;
## new interesting inputs stay in fuzz/testdata/fuzz/ (commit them).
fuzz-grow:
	./scripts/fuzz-grow.sh $(FUZZTIME) ./fuzz/

## fuzz-cover: coverage per package of every fuzz target's corpus
fuzz-cover:
	./scripts/fuzz-cover.sh

## budgets: allocation and simulated-work budgets (specs/budgets) checked
## with a margin; budgets-update rewrites them from a fresh measurement.
budgets:
	./scripts/budgets.sh check

budgets-update:
	./scripts/budgets.sh update

## spin: model-check specs/spin (and reject the broken variants)
spin:
	./scripts/spin-check.sh

## apidiff: exported API changes against a git ref (APIDIFF_BASE, default
## the latest release tag, else the first commit)
APIDIFF_BASE ?=
apidiff:
	./scripts/apidiff.sh $(APIDIFF_BASE)

package simdisk

import (
	"bytes"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/env/disktest"
)

// harness drives a Disk the way the engine does: Submit queues, Drain
// applies in submission order. It verifies the disk's O(n) invariants after
// every drain and crash.
type harness struct {
	t      *testing.T
	disk   *Disk
	queue  []env.DiskDone
	nextID env.OpID
	mutant string // non-empty only in the mutation canary
}

func newHarness(t *testing.T, seed uint64, f Faults) *harness {
	d := New(env.NewRand(seed))
	d.SetFaults(f)
	return &harness{t: t, disk: d}
}

func (h *harness) Submit(op env.DiskOp) env.OpID {
	h.nextID++
	h.queue = append(h.queue, env.DiskDone{ID: h.nextID, Op: op})
	return h.nextID
}

func (h *harness) Drain() []env.DiskDone {
	done := h.queue
	h.queue = nil
	for i := range done {
		h.disk.Latency(&done[i].Op) // draw as the engine does
		done[i].Result = h.disk.Apply(&done[i].Op)
	}
	h.mustVerify()
	return h.mutateDone(done)
}

func (h *harness) Crash() {
	if len(h.queue) != 0 {
		h.t.Fatalf("crash with %d ops outstanding", len(h.queue))
	}
	h.disk.Crash()
	h.mutateCrash()
	h.mustVerify()
}

func (h *harness) mustVerify() {
	if err := h.disk.verify(); err != nil {
		h.t.Fatal(err)
	}
}

func TestConformance(t *testing.T) {
	variants := []struct {
		name   string
		faults Faults
	}{
		{"Healthy", Faults{}},
		{"HalfUnsyncedSurvive", Faults{UnsyncedSurviveProb: 0.5, Latency: 1000, LatencyJitter: 0.5}},
		{"AllUnsyncedSurvive", Faults{UnsyncedSurviveProb: 1}},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			seed := uint64(0)
			disktest.Run(t, func(t *testing.T) disktest.Harness {
				seed++
				return newHarness(t, seed, v.faults)
			})
		})
	}
}

// The mutation canary checks the suite itself: each mutant breaks one
// promise of the disk contract, and the suite must fail on every one. The
// suite takes a *testing.T, so each mutant runs in a child process (this
// test binary, re-executed).
const mutantEnv = "SIMDISK_MUTANT"

var mutants = []string{"lose-synced", "flip-get", "drop-more", "reorder", "torn-survivors", "stale-read",
	"keys-only-values", "keys-only-ignored"}

func TestSuiteCatchesMutants(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary once per mutant")
	}
	for _, m := range mutants {
		t.Run(m, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestMutantChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), mutantEnv+"="+m)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the conformance suite passed a disk with mutant %q:\n%s", m, out)
			}
			if !strings.Contains(string(out), "--- FAIL") {
				t.Fatalf("mutant %q: child failed without a test failure:\n%s", m, out)
			}
		})
	}
}

// TestMutantChild runs the suite over a broken disk; it only runs as the
// child of TestSuiteCatchesMutants.
func TestMutantChild(t *testing.T) {
	mutant := os.Getenv(mutantEnv)
	if mutant == "" {
		t.Skip("runs only as a child of TestSuiteCatchesMutants")
	}
	disktest.Run(t, func(t *testing.T) disktest.Harness {
		f := Faults{}
		if mutant == "torn-survivors" {
			f = Faults{UnsyncedSurviveProb: 1, TornWriteProb: 1}
		}
		h := newHarness(t, 7, f)
		h.mutant = mutant
		return h
	})
}

func (h *harness) mutateDone(done []env.DiskDone) []env.DiskDone {
	switch h.mutant {
	case "flip-get":
		for i := range done {
			if done[i].Op.Kind == env.DiskGet && len(done[i].Result.Value) > 0 {
				done[i].Result.Value[0] ^= 1
			}
		}
	case "drop-more":
		for i := range done {
			done[i].Result.More = false
		}
	case "reorder":
		if len(done) >= 2 {
			done[0], done[1] = done[1], done[0]
		}
	case "stale-read":
		for i := range done {
			if done[i].Op.Kind == env.DiskGet && bytes.HasPrefix(done[i].Op.Key, []byte("k")) {
				done[i].Result = env.DiskResult{}
			}
		}
	case "keys-only-values", "keys-only-ignored":
		h.mutateKeysOnly(done)
	}
	return done
}

// mutateKeysOnly breaks keys-only scans: "keys-only-values" returns the
// values anyway, "keys-only-ignored" also forgets to list the keys of
// empty values (a disk that finds keys by reading values might).
func (h *harness) mutateKeysOnly(done []env.DiskDone) {
	for i := range done {
		op := done[i].Op
		if op.Kind != env.DiskScan || !op.KeysOnly || done[i].Result.Err != nil {
			continue
		}
		full := op
		full.KeysOnly = false
		res := h.disk.Apply(&full)
		if h.mutant == "keys-only-ignored" {
			res.Pairs = slices.DeleteFunc(res.Pairs, func(kv env.KV) bool { return len(kv.Value) == 0 })
			for j := range res.Pairs {
				res.Pairs[j].Value = nil
			}
		}
		done[i].Result = res
	}
}

// mutateCrash: "lose-synced" drops the smallest key at every crash, synced
// or not.
func (h *harness) mutateCrash() {
	if h.mutant != "lose-synced" {
		return
	}
	res := h.disk.Apply(&env.DiskOp{Kind: env.DiskScan, Limit: 1})
	if len(res.Pairs) == 1 {
		h.disk.Apply(&env.DiskOp{Kind: env.DiskDelete, Key: res.Pairs[0].Key})
		h.disk.Apply(&env.DiskOp{Kind: env.DiskSync})
	}
}

package registry

import (
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/env/envtest"
	rproto "github.com/ron-network/ron/core/proto"
)

// TestSequentialSetDiskOps: on sequential sets every disk write a replica
// makes for raft is followed by a sync. A Ready whose only durable change
// is a higher commit index (the leader's on every set, a follower's when
// the commit reaches it alone) writes nothing (hardStateWrite), so each
// replica submits one batch per sync: the Ready carrying the set's entry.
// Before, each of those Readies also wrote its hard state, unsynced: about
// two batches per sync on every replica.
func TestSequentialSetDiskOps(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	l := c.leader(2 * time.Second)
	alice := newOwner(1)
	if r := c.do(l, Claim{Name: "a.org", Owner: alice.pub}); r.Err != nil {
		t.Fatalf("claim: %v", r.Err)
	}
	c.awaitConverged(2 * time.Second)
	batches, syncs := make([]int, replicas3), make([]int, replicas3)
	for i := range replicas3 {
		c.nodes[i].env.disk.Observe = func(op *env.DiskOp, _ env.DiskResult) {
			if op.Tag != tagPersist {
				return
			}
			switch op.Kind {
			case env.DiskBatch:
				batches[i]++
			case env.DiskSync:
				syncs[i]++
			}
		}
	}
	const sets = 20 // well below SnapshotEntries: no compaction writes
	for seq := uint64(1); seq <= sets; seq++ {
		if r := c.do(l, alice.set("a.org", rproto.AddrOf([]byte{byte(seq)}), seq)); r.Err != nil {
			t.Fatalf("set %d: %v", seq, r.Err)
		}
	}
	c.awaitConverged(2 * time.Second)
	for i := range replicas3 {
		t.Logf("replica %d: %d batches, %d syncs for %d sets", i, batches[i], syncs[i], sets)
		if syncs[i] < sets || batches[i] != syncs[i] {
			t.Errorf("replica %d: %d batches and %d syncs for %d sequential sets, want one batch per sync and a sync per set",
				i, batches[i], syncs[i], sets)
		}
	}
}

// TestCrashWithDeferredCommitLosesNoWrite: after sequential sets the
// replicas' last commit-only Readies left their hard states unwritten, so
// the commit index on disk lags what was applied and answered. Crashing
// every replica (their unsynced writes kept or dropped) and restarting
// them all must rebuild every acknowledged write: each restarts at the
// older commit index and raft commits the rest again.
func TestCrashWithDeferredCommitLosesNoWrite(t *testing.T) {
	for _, survive := range []float64{0, 1} {
		c := newCluster(t, replicas3, 1, Config{})
		for i := range replicas3 {
			c.nodes[i].env.disk.UnsyncedSurvive = survive
		}
		l := c.leader(2 * time.Second)
		alice := newOwner(1)
		names := []string{"a.org", "b.org", "c.org"}
		for _, name := range names {
			if r := c.do(l, Claim{Name: name, Owner: alice.pub}); r.Err != nil {
				t.Fatalf("claim %s: %v", name, r.Err)
			}
		}
		const sets = 5
		for seq := uint64(1); seq <= sets; seq++ {
			for _, name := range names {
				if r := c.do(l, alice.set(name, rproto.AddrOf([]byte(name+string(rune('0'+seq)))), seq)); r.Err != nil {
					t.Fatalf("set %s %d: %v", name, seq, r.Err)
				}
			}
		}
		c.awaitConverged(2 * time.Second)
		applied := c.nodes[l].reg.AppliedIndex()
		// The leader's last Ready committed the last set and wrote nothing:
		// its hard state on disk still names an older commit index.
		if commit := diskCommit(t, c.nodes[l].env.disk); commit >= applied {
			t.Fatalf("survive %v: leader's commit on disk %d, applied %d: want the last commit unwritten", survive, commit, applied)
		}
		for i := range replicas3 {
			c.crash(i)
		}
		for i := range replicas3 {
			c.restart(i)
		}
		c.leader(3 * time.Second)
		if !c.c.RunUntil(3*time.Second, func() bool {
			for i := range replicas3 {
				if c.nodes[i].reg.Failed() || c.nodes[i].reg.AppliedIndex() < applied {
					return false
				}
			}
			return c.converged()
		}) {
			t.Fatalf("survive %v: replicas did not reapply through %d after the restart", survive, applied)
		}
		for _, name := range names {
			want := rproto.AddrOf([]byte(name + string(rune('0'+sets))))
			if r := c.do(3, Resolve{Name: name}); r.Err != nil || r.Record.Seq != sets || r.Record.Target != want {
				t.Fatalf("survive %v: resolve %s after the restart: %+v, want seq %d", survive, name, r, sets)
			}
		}
	}
}

// diskCommit is the commit index of the hard state in d's current state.
func diskCommit(t *testing.T, d *envtest.Disk) uint64 {
	t.Helper()
	v, ok := d.Get(keyHardState)
	if !ok {
		return 0
	}
	raw, err := env.Unseal(v)
	if err != nil {
		t.Fatal(err)
	}
	hs := &pb.HardState{}
	if err := proto.Unmarshal(raw, hs); err != nil {
		t.Fatal(err)
	}
	return hs.GetCommit()
}

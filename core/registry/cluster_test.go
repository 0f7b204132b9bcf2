package registry

import (
	"crypto/ed25519"
	"slices"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	gproto "google.golang.org/protobuf/proto"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
)

// nodes 0..2 are replicas, node 3 is a non-replica.
const replicas3 = 3

func TestElectsOneLeaderAndAllAgree(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	l := c.leader(2 * time.Second)
	c.run(300 * time.Millisecond)
	if got := c.leader(time.Millisecond); got != l {
		t.Fatalf("leader moved from %d to %d without faults", l, got)
	}
	for i, n := range c.nodes[:replicas3] {
		id, ok := n.reg.Leader()
		if !ok || id != c.nodes[l].id {
			t.Fatalf("replica %d thinks the leader is %v (%v), want node %d", i, id.Short(), ok, l)
		}
	}
	if c.metric(l, MetricLeaderChanges, "") < 1 {
		t.Fatalf("leader change not counted")
	}
	for i := range c.nodes[:replicas3] {
		if want := map[bool]float64{true: 1, false: 0}[i == l]; c.metric(i, MetricIsLeader, "") != want {
			t.Fatalf("replica %d: %s = %v, want %v (leader is %d)", i, MetricIsLeader, c.metric(i, MetricIsLeader, ""), want, l)
		}
	}
}

func TestOpsThroughLeaderFollowerAndNonReplica(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	l := c.leader(2 * time.Second)
	f := (l + 1) % replicas3
	alice, bob := newOwner(1), newOwner(2)
	target := proto.AddrOf([]byte("v1"))

	if r := c.do(l, Claim{Name: "Example.org", Owner: alice.pub}); r.Err != nil {
		t.Fatalf("claim via leader: %v", r.Err)
	}
	if r := c.do(3, Claim{Name: "example.org", Owner: bob.pub}); !errIs(r.Err, ErrTaken) {
		t.Fatalf("second owner's claim via non-replica: %v, want taken", r.Err)
	}
	if r := c.do(f, Claim{Name: "example.org", Owner: alice.pub}); r.Err != nil {
		t.Fatalf("idempotent claim via follower: %v", r.Err)
	}
	if r := c.do(f, alice.set("example.org", target, 1)); r.Err != nil || r.Record.Seq != 1 {
		t.Fatalf("set via follower: %+v", r)
	}
	// A stale seq carries the name's current state, so a CAS retry needs
	// no read: through a non-replica (the reply envelope) and a replica.
	other := proto.AddrOf([]byte("v-other"))
	for _, i := range []int{3, l} {
		r := c.do(i, alice.set("example.org", other, 1))
		if !errIs(r.Err, ErrStaleSeq) || !r.Record.Found || r.Record.Seq != 1 || r.Record.Target != target ||
			string(r.Record.Owner) != string(alice.pub) {
			t.Fatalf("repeated seq via node %d: %+v, want stale seq with seq 1 and the first target", i, r)
		}
	}
	if r := c.do(3, bob.set("example.org", target, 2)); !errIs(r.Err, ErrNotOwner) {
		t.Fatalf("set by non-owner: %v, want not owner", r.Err)
	}
	if r := c.do(l, alice.set("missing.org", target, 1)); !errIs(r.Err, ErrNotFound) {
		t.Fatalf("set of unclaimed: %v, want not found", r.Err)
	}
	for _, i := range []int{l, f, 3} {
		r := c.do(i, Resolve{Name: "EXAMPLE.org"})
		if r.Err != nil || !r.Record.Found || r.Record.Seq != 1 || r.Record.Target != target || string(r.Record.Owner) != string(alice.pub) || r.Record.Stale {
			t.Fatalf("resolve via node %d: %+v", i, r)
		}
	}
	if r := c.do(3, Resolve{Name: "nobody.org"}); r.Err != nil || r.Record.Found {
		t.Fatalf("resolve of unclaimed: %+v", r)
	}
	c.awaitConverged(time.Second)
	for _, i := range []int{f, 3} {
		r := c.do(i, StaleResolve{Name: "example.org"})
		if r.Err != nil || !r.Record.Stale || r.Record.Seq != 1 {
			t.Fatalf("stale resolve via node %d: %+v", i, r)
		}
	}
	if c.metric(3, MetricCommitLatency, "") != 0 || len(c.nodes[3].env.Recorder.Observations[MetricCommitLatency]) == 0 {
		t.Fatalf("commit latency not observed at the origin")
	}
	if len(c.nodes[3].env.Recorder.Observations[MetricResolveLatency]) == 0 {
		t.Fatalf("resolve latency not observed at the origin")
	}
}

func TestDescribeRegistersSignedDescriptors(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	c.leader(2 * time.Second)
	n := c.nodes[3]
	d := signedDescriptor(n.key, []string{"quic://10.0.0.4:4433"}, 1)
	if r := c.do(3, Describe{Descriptor: d}); r.Err != nil {
		t.Fatalf("describe: %v", r.Err)
	}
	if r := c.do(3, Describe{Descriptor: d}); !errIs(r.Err, ErrStaleSeq) {
		t.Fatalf("same seq again: %v, want stale seq", r.Err)
	}
	forged := d
	forged.Addrs = []string{"quic://evil:1"}
	if r := c.do(3, Describe{Descriptor: forged}); !errIs(r.Err, ErrBadSignature) {
		t.Fatalf("forged descriptor: %v, want bad signature", r.Err)
	}
	c.awaitConverged(time.Second)
	got := c.nodes[0].reg.Descriptors()
	if len(got) != 1 || got[0].NodeID != n.id || got[0].Addrs[0] != d.Addrs[0] {
		t.Fatalf("descriptors: %+v", got)
	}
}

// TestPartitionedLeaderNeverAnswersWrongly isolates the leader while
// clients write through it and through the majority: the old leader's ops
// end in ErrUnknownOutcome (never ok, never a definite error that did not
// happen), a new leader serves the majority, and after healing every
// replica converges on a state the majority's answers explain.
func TestPartitionedLeaderNeverAnswersWrongly(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	old := c.leader(2 * time.Second)
	alice := newOwner(1)
	if r := c.do(3, Claim{Name: "p.org", Owner: alice.pub}); r.Err != nil {
		t.Fatalf("claim: %v", r.Err)
	}
	c.isolate(old)
	stuckSet := c.submit(old, alice.set("p.org", proto.AddrOf([]byte("old")), 1))
	stuckRead := c.submit(old, Resolve{Name: "p.org"})
	// CheckQuorum steps the old leader down within two election timeouts,
	// and the majority elects a leader (a split vote costs another timeout).
	electionTimeout := ElectionTicks * TickIntervalDefault
	next := -1
	stepped := func() bool {
		for i := 0; i < replicas3; i++ {
			if i != old && c.nodes[i].reg.IsLeader() {
				next = i
			}
		}
		return next >= 0 && !c.nodes[old].reg.IsLeader()
	}
	if !c.c.RunUntil(10*electionTimeout, stepped) {
		t.Fatalf("after %v: isolated leader still leads: %v; new leader in the majority: %d",
			10*electionTimeout, c.nodes[old].reg.IsLeader(), next)
	}
	if c.metric(old, MetricIsLeader, "") != 0 || c.metric(next, MetricIsLeader, "") != 1 {
		t.Fatalf("%s: old leader %v, new leader %v; want 0 and 1", MetricIsLeader,
			c.metric(old, MetricIsLeader, ""), c.metric(next, MetricIsLeader, ""))
	}
	newTarget := proto.AddrOf([]byte("new"))
	if r := c.do(next, alice.set("p.org", newTarget, 1)); r.Err != nil {
		t.Fatalf("set via new leader: %v", r.Err)
	}
	for _, id := range []struct {
		name string
		id   uint64
	}{{"set", uint64(stuckSet)}, {"resolve", uint64(stuckRead)}} {
		res, done := c.await(old, env.RequestID(id.id), c.opTimeout())
		if !done {
			t.Fatalf("isolated %s never answered", id.name)
		}
		if !errIs(res.Err, ErrUnknownOutcome) {
			t.Fatalf("isolated %s answered %+v, want unknown outcome", id.name, res)
		}
	}
	c.heal()
	c.awaitConverged(3 * time.Second)
	r := c.do(3, Resolve{Name: "p.org"})
	if r.Err != nil || r.Record.Seq != 1 || r.Record.Target != newTarget {
		t.Fatalf("after heal: %+v, want the majority's set", r)
	}
}

func TestRestartRejoinsWithSameState(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	l := c.leader(2 * time.Second)
	alice := newOwner(1)
	for i := 0; i < 5; i++ {
		name := string(rune('a'+i)) + ".org"
		if r := c.do(3, Claim{Name: name, Owner: alice.pub}); r.Err != nil {
			t.Fatalf("claim %s: %v", name, r.Err)
		}
	}
	f := (l + 1) % replicas3
	c.crash(f)
	for i := 0; i < 5; i++ {
		name := string(rune('a'+i)) + ".org"
		if r := c.do(l, alice.set(name, proto.AddrOf([]byte(name)), 1)); r.Err != nil {
			t.Fatalf("set %s: %v", name, r.Err)
		}
	}
	c.restart(f)
	c.awaitConverged(3 * time.Second)
	if c.nodes[f].reg.Failed() || c.nodes[f].reg.AppliedIndex() == 0 {
		t.Fatalf("restarted replica failed or empty")
	}
	// Crash the leader too: its durable log alone must rebuild the same
	// state, and the cluster must keep serving.
	c.crash(l)
	c.restart(l)
	c.leader(3 * time.Second)
	c.awaitConverged(3 * time.Second)
	if r := c.do(l, Resolve{Name: "c.org"}); r.Err != nil || r.Record.Seq != 1 {
		t.Fatalf("resolve after restarts: %+v", r)
	}
}

func TestCorruptEntryDetectedAtRestart(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	l := c.leader(2 * time.Second)
	alice := newOwner(1)
	if r := c.do(3, Claim{Name: "c.org", Owner: alice.pub}); r.Err != nil {
		t.Fatalf("claim: %v", r.Err)
	}
	c.awaitConverged(time.Second)
	f := (l + 1) % replicas3
	disk := c.crash(f)
	keys := disk.Keys(keyEntryPrefix)
	if len(keys) == 0 {
		t.Fatalf("no entries on disk")
	}
	disk.Corrupt(keys[len(keys)-1])
	c.restart(f)
	c.run(50 * time.Millisecond)
	if !c.nodes[f].reg.Failed() {
		t.Fatalf("corrupt entry not detected")
	}
	if got := c.metric(f, MetricCorruption, ""); got != 1 {
		t.Fatalf("registry_corruption_total = %v, want 1", got)
	}
	if r := c.do(f, Claim{Name: "d.org", Owner: alice.pub}); !errIs(r.Err, ErrFailed) {
		t.Fatalf("failed replica answered %v, want ErrFailed", r.Err)
	}
	// The failed replica never votes: the other two still make progress.
	if r := c.do(3, Claim{Name: "d.org", Owner: alice.pub}); r.Err != nil {
		t.Fatalf("claim with one replica failed: %v", r.Err)
	}
}

func TestDiskErrorFailsReplica(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	l := c.leader(2 * time.Second)
	f := (l + 1) % replicas3
	c.nodes[f].env.disk.FailNext = true
	alice := newOwner(1)
	if r := c.do(3, Claim{Name: "e.org", Owner: alice.pub}); r.Err != nil {
		t.Fatalf("claim: %v", r.Err)
	}
	c.run(50 * time.Millisecond)
	if !c.nodes[f].reg.Failed() || c.metric(f, MetricCorruption, "") != 0 {
		t.Fatalf("I/O error: failed=%v corruption=%v, want failed and not counted as corruption",
			c.nodes[f].reg.Failed(), c.metric(f, MetricCorruption, ""))
	}
	c.crash(f)
	c.restart(f)
	c.awaitConverged(3 * time.Second)
	if c.nodes[f].reg.Failed() {
		t.Fatalf("restart did not recover from an I/O error")
	}
}

// TestSnapshotsBoundTheLog writes past several snapshots and checks that
// the durable log stays bounded, that a restart recovers from the
// snapshot, and that a follower cut off past compaction catches up by
// snapshot.
func TestSnapshotsBoundTheLog(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	c := newCluster(t, replicas3, 1, Config{SnapshotEntries: 50})
	l := c.leader(2 * time.Second)
	lag := (l + 1) % replicas3
	alice := newOwner(1)
	if r := c.do(l, Claim{Name: "s.org", Owner: alice.pub}); r.Err != nil {
		t.Fatalf("claim: %v", r.Err)
	}
	c.awaitConverged(time.Second)
	c.isolate(lag)
	const sets = 260
	for seq := uint64(1); seq <= sets; seq++ {
		if r := c.do(l, alice.set("s.org", proto.AddrOf([]byte{byte(seq)}), seq)); r.Err != nil {
			t.Fatalf("set %d: %v", seq, r.Err)
		}
	}
	bound := int(50 + LogRetainEntries + 10)
	if n := len(c.nodes[l].env.disk.Keys(keyEntryPrefix)); n > bound {
		t.Fatalf("leader keeps %d entries on disk, bound %d", n, bound)
	}
	if _, ok := c.nodes[l].env.disk.Get(keySnapshot); !ok {
		t.Fatalf("no snapshot on disk")
	}
	c.heal()
	c.awaitConverged(5 * time.Second)
	if c.nodes[lag].reg.snapIndex == 0 {
		t.Fatalf("lagging follower caught up without a snapshot")
	}
	c.crash(l)
	c.restart(l)
	c.awaitConverged(5 * time.Second)
	if r := c.do(l, Resolve{Name: "s.org"}); r.Err != nil || r.Record.Seq != sets {
		t.Fatalf("resolve after snapshot restart: %+v", r)
	}
}

// TestRetriedSetAppliedOnce drops the first reply to a forwarded Set: the
// origin retries the same op id, and the dedup table answers ok again
// instead of applying it twice (which would say stale seq).
func TestRetriedSetAppliedOnce(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	c.leader(2 * time.Second)
	alice := newOwner(1)
	if r := c.do(3, Claim{Name: "d.org", Owner: alice.pub}); r.Err != nil {
		t.Fatalf("claim: %v", r.Err)
	}
	client := c.nodes[3].id
	dropped := 0
	c.cut = func(from, to proto.NodeID, frame []byte) bool {
		if to == client && dropped == 0 && isReply(frame) {
			dropped++
			return true
		}
		return false
	}
	r := c.do(3, alice.set("d.org", proto.AddrOf([]byte("x")), 1))
	if dropped != 1 || r.Err != nil || r.Record.Seq != 1 {
		t.Fatalf("retried set: dropped %d, result %+v", dropped, r)
	}
	c.heal()
	if r := c.do(3, Resolve{Name: "d.org"}); r.Record.Seq != 1 {
		t.Fatalf("seq after retried set: %d, want 1", r.Record.Seq)
	}
}

func TestInvalidInputsRejectedWithoutStateChange(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	l := c.leader(2 * time.Second)
	alice := newOwner(1)
	if r := c.do(l, Claim{Name: "ok.org", Owner: alice.pub}); r.Err != nil {
		t.Fatalf("claim: %v", r.Err)
	}
	c.awaitConverged(time.Second)
	before, applied := c.nodes[l].reg.StateHash(), c.nodes[l].reg.AppliedIndex()
	good := alice.set("ok.org", proto.Addr{}, 1)
	badSig := good
	badSig.Sig = append([]byte(nil), good.Sig...)
	badSig.Sig[0] ^= 1
	cases := []struct {
		body   any
		want   error
		reason string
	}{
		{Claim{Name: "bad_name", Owner: alice.pub}, ErrInvalidName, reasonInvalidName},
		{Claim{Name: strings.Repeat("a", 64), Owner: alice.pub}, ErrInvalidName, reasonInvalidName},
		{Claim{Name: "ok.org", Owner: alice.pub[:31]}, ErrBadSignature, reasonBadKey},
		{Resolve{Name: "ünicode.org"}, ErrInvalidName, reasonInvalidName},
		{Set{Name: "ok.org", Owner: alice.pub, Sig: []byte{1}}, ErrBadSignature, reasonBadSignature},
		{badSig, ErrBadSignature, reasonBadSignature},
		{Describe{Descriptor: signedDescriptor(alice.priv, make([]string, DescriptorAddrsMax+1), 1)}, ErrTooLarge, reasonTooLarge},
		{"not a request", node.ErrUnknownRequest, reasonUnknownRequest},
	}
	for _, i := range []int{l, 3} {
		for k, tc := range cases {
			was := c.metric(i, MetricRejects, tc.reason)
			r := c.do(i, tc.body)
			if !errIs(r.Err, tc.want) {
				t.Fatalf("node %d case %d: %v, want %v", i, k, r.Err, tc.want)
			}
			if c.metric(i, MetricRejects, tc.reason) != was+1 {
				t.Fatalf("node %d case %d: reject %q not counted", i, k, tc.reason)
			}
		}
	}
	c.run(100 * time.Millisecond)
	if c.nodes[l].reg.StateHash() != before || c.nodes[l].reg.AppliedIndex() != applied {
		t.Fatalf("rejected inputs changed the replicated state: applied %d -> %d", applied, c.nodes[l].reg.AppliedIndex())
	}
}

func TestCanaryBugsIgnoredInNormalBuilds(t *testing.T) {
	if canaryBugs {
		t.Skip("canary build")
	}
	c := newCluster(t, replicas3, 0, Config{Bug: Bug{LocalResolve: true, SkipSync: true}})
	if got := c.metric(0, MetricRejects, reasonCanaryIgnored); got != 1 {
		t.Fatalf("ignored canary not counted: %v", got)
	}
	if c.nodes[0].reg.bug.any() {
		t.Fatalf("canary bug active in a normal build")
	}
}

func signedDescriptor(key ed25519.PrivateKey, addrs []string, seq uint64) NodeDescriptor {
	pub := key.Public().(ed25519.PublicKey)
	d := NodeDescriptor{NodeID: proto.NodeIDFromPublicKey(pub), PublicKey: pub, Addrs: addrs, Seq: seq}
	d.Sig = ed25519.Sign(key, DescriptorSigningBytes(d))
	return d
}

// isReply reports whether frame carries a reply envelope.
func isReply(frame []byte) bool {
	f, err := oap.Decode(frame)
	return err == nil && len(f.Payload) >= 2 && f.Payload[1] == envReply
}

// A raft message is stepped only when it arrives from the replica whose
// raft id it names as its sender: one relayed or forged by another node,
// replica or not, is counted as malformed and dropped.
func TestRaftMessageMustComeFromTheReplicaItNames(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	c.leader(2 * time.Second)
	raftID := func(i int) uint64 {
		return uint64(slices.Index(c.replicas, c.nodes[i].id) + 1)
	}
	heartbeat := func(from, to int) []byte {
		m := &pb.Message{Type: new(pb.MsgHeartbeat), From: new(raftID(from)), To: new(raftID(to)), Term: new(uint64(1))}
		payload, err := appendRaftMessage([]byte{codecVersion, envRaft}, m)
		if err != nil {
			t.Fatal(err)
		}
		return oap.MustEncode(&oap.Frame{Header: oap.Header{Flags: oap.FlagEVENT, AppProto: oap.ProtoRegistry}, Payload: payload})
	}
	malformed := func() float64 { return c.metric(0, MetricRejects, reasonMalformed) }
	before := malformed()
	for _, sender := range []int{2, 3} { // another replica, a non-replica
		c.nodes[0].node.Step(env.Message{From: c.nodes[sender].id, Frame: heartbeat(1, 0)})
	}
	if got := malformed() - before; got != 2 {
		t.Fatalf("%v malformed rejects for two misattributed messages, want 2", got)
	}
	c.nodes[0].node.Step(env.Message{From: c.nodes[1].id, Frame: heartbeat(1, 0)})
	if got := malformed() - before; got != 2 {
		t.Fatalf("a message from the replica it names was rejected (%v rejects)", got)
	}
}

// TestFollowerForwardsWritesToTheLeader: a follower sends its clients'
// writes to the leader as forwards (forwardWrite), not as raft
// proposals, so a write through a follower commits even when every raft
// MsgProp is dropped, and a stale seq still comes back with the current
// seq.
func TestFollowerForwardsWritesToTheLeader(t *testing.T) {
	c := newCluster(t, replicas3, 0, Config{})
	l := c.leader(2 * time.Second)
	f := (l + 1) % replicas3
	c.run(100 * time.Millisecond) // the follower hears of the leader
	props := 0
	c.cut = func(_, _ proto.NodeID, frame []byte) bool {
		fr, err := oap.Decode(frame)
		if err != nil || fr.AppProto != oap.ProtoRegistry || len(fr.Payload) < 2 || fr.Payload[1] != envRaft {
			return false
		}
		var m pb.Message
		if gproto.Unmarshal(fr.Payload[2:], &m) == nil && m.GetType() == pb.MsgProp {
			props++
			return true
		}
		return false
	}
	alice := newOwner(1)
	if r := c.do(f, Claim{Name: "fwd.org", Owner: alice.pub}); r.Err != nil {
		t.Fatalf("claim via follower: %v", r.Err)
	}
	if r := c.do(f, alice.set("fwd.org", proto.AddrOf([]byte("v1")), 1)); r.Err != nil || r.Record.Seq != 1 {
		t.Fatalf("set via follower: %+v", r)
	}
	if r := c.do(f, alice.set("fwd.org", proto.AddrOf([]byte("v2")), 1)); !errIs(r.Err, ErrStaleSeq) || r.Record.Seq != 1 {
		t.Fatalf("stale set via follower: %+v, want ErrStaleSeq with seq 1", r)
	}
	if props != 0 {
		t.Fatalf("%d raft proposals sent: the follower proposed instead of forwarding", props)
	}
}

// A Set that a replica's applied state already shows as refused (a stale
// seq, another owner) is judged by a linearizable read instead of a log
// entry (checkFirst): no entry is appended, and the 409 still carries the
// name's state at the read, on the leader and on a follower alike.
func TestRefusedSetTakesNoLogEntry(t *testing.T) {
	c := newCluster(t, replicas3, 0, Config{})
	l := c.leader(2 * time.Second)
	f := (l + 1) % replicas3
	alice, mallory := newOwner(1), newOwner(2)
	if r := c.do(l, Claim{Name: "cas.org", Owner: alice.pub}); r.Err != nil {
		t.Fatalf("claim: %v", r.Err)
	}
	v2 := proto.AddrOf([]byte("v2"))
	for seq, target := range []proto.Addr{proto.AddrOf([]byte("v1")), v2} {
		if r := c.do(f, alice.set("cas.org", target, uint64(seq+1))); r.Err != nil {
			t.Fatalf("set %d: %v", seq+1, r.Err)
		}
	}
	c.awaitConverged(time.Second)
	applied := c.nodes[l].reg.AppliedIndex()
	for _, i := range []int{l, f} {
		for _, seq := range []uint64{1, 2} {
			r := c.do(i, alice.set("cas.org", proto.AddrOf([]byte("late")), seq))
			if !errIs(r.Err, ErrStaleSeq) || r.Record.Seq != 2 || r.Record.Target != v2 || !r.Record.Found {
				t.Fatalf("node %d: stale set seq %d: %+v, want ErrStaleSeq with seq 2 and target v2", i, seq, r)
			}
		}
		if r := c.do(i, mallory.set("cas.org", proto.AddrOf([]byte("x")), 3)); !errIs(r.Err, ErrNotOwner) || r.Record.Seq != 2 {
			t.Fatalf("node %d: set by another owner: %+v, want ErrNotOwner with seq 2", i, r)
		}
	}
	c.run(100 * time.Millisecond)
	if got := c.nodes[l].reg.AppliedIndex(); got != applied {
		t.Fatalf("refused sets appended %d log entries", got-applied)
	}
	// The next seq is still proposed and applies.
	if r := c.do(f, alice.set("cas.org", proto.AddrOf([]byte("v3")), 3)); r.Err != nil || r.Record.Seq != 3 {
		t.Fatalf("set 3 after the refusals: %+v", r)
	}
}

// A conflict check whose read is lost gets no second read: the retry
// proposes the Set, which the apply refuses, as before checkFirst.
func TestLostConflictCheckFallsBackToProposal(t *testing.T) {
	c := newCluster(t, replicas3, 0, Config{})
	l := c.leader(2 * time.Second)
	f := (l + 1) % replicas3
	alice := newOwner(1)
	if r := c.do(l, Claim{Name: "lost.org", Owner: alice.pub}); r.Err != nil {
		t.Fatalf("claim: %v", r.Err)
	}
	if r := c.do(f, alice.set("lost.org", proto.AddrOf([]byte("v1")), 1)); r.Err != nil {
		t.Fatalf("set 1: %v", r.Err)
	}
	c.awaitConverged(time.Second)
	reads := 0
	c.cut = func(_, _ proto.NodeID, frame []byte) bool {
		fr, err := oap.Decode(frame)
		if err != nil || fr.AppProto != oap.ProtoRegistry || len(fr.Payload) < 2 || fr.Payload[1] != envRaft {
			return false
		}
		var m pb.Message
		if gproto.Unmarshal(fr.Payload[2:], &m) == nil && m.GetType() == pb.MsgReadIndex {
			reads++
			return true
		}
		return false
	}
	applied := c.nodes[l].reg.AppliedIndex()
	if r := c.do(f, alice.set("lost.org", proto.AddrOf([]byte("late")), 1)); !errIs(r.Err, ErrStaleSeq) || r.Record.Seq != 1 {
		t.Fatalf("stale set with its check's read lost: %+v, want ErrStaleSeq with seq 1", r)
	}
	if reads != 1 {
		t.Fatalf("%d ReadIndex messages from the follower, want 1 (one check, then the proposal)", reads)
	}
	if got := c.nodes[l].reg.AppliedIndex(); got != applied+1 {
		t.Fatalf("applied %d -> %d, want the refused Set's one entry", applied, got)
	}
}

// A replica cut off from the quorum knows no leader (PreVote and
// CheckQuorum make it a pre-candidate that never wins): past
// NoLeaderGrace election timeouts NoLeader says so and registry_has_leader
// is 0, which rond's readiness reads (/readyz registry_no_leader); once
// the partition heals and it hears the leader, both clear. The replicas
// of the majority and the non-replica never report it.
func TestNoLeaderPastGraceOnCutOffReplica(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	l := c.leader(2 * time.Second)
	f := (l + 1) % replicas3
	if !c.c.RunUntil(2*time.Second, func() bool { _, known := c.nodes[f].reg.Leader(); return known }) {
		t.Fatalf("follower %d never heard of leader %d", f, l)
	}
	for i := range c.nodes {
		if c.nodes[i].reg.NoLeader() {
			t.Fatalf("node %d reports no leader while %d leads", i, l)
		}
	}
	if c.metric(f, MetricHasLeader, "") != 1 {
		t.Fatalf("follower %d: %s = %v, want 1", f, MetricHasLeader, c.metric(f, MetricHasLeader, ""))
	}
	c.isolate(f)
	limit := 10 * ElectionTicks * TickIntervalDefault
	if !c.c.RunUntil(limit, func() bool { return c.nodes[f].reg.NoLeader() }) {
		t.Fatalf("after %v cut off, replica %d still reports a leader", limit, f)
	}
	if c.metric(f, MetricHasLeader, "") != 0 {
		t.Fatalf("cut-off replica: %s = %v, want 0", MetricHasLeader, c.metric(f, MetricHasLeader, ""))
	}
	for i := range c.nodes {
		if i != f && c.nodes[i].reg.NoLeader() {
			t.Fatalf("node %d (not cut off) reports no leader", i)
		}
	}
	c.heal()
	if !c.c.RunUntil(limit, func() bool {
		_, known := c.nodes[f].reg.Leader()
		return known && !c.nodes[f].reg.NoLeader()
	}) {
		t.Fatalf("after %v healed, replica %d still reports no leader", limit, f)
	}
	if c.metric(f, MetricHasLeader, "") != 1 {
		t.Fatalf("healed replica: %s = %v, want 1", MetricHasLeader, c.metric(f, MetricHasLeader, ""))
	}
}

// A single replica leads alone: never NoLeader.
func TestNoLeaderNeverOnSingleReplica(t *testing.T) {
	c := newCluster(t, 1, 0, Config{})
	c.leader(2 * time.Second)
	c.run(5 * ElectionTicks * TickIntervalDefault)
	if c.nodes[0].reg.NoLeader() {
		t.Fatalf("a single replica reports no leader")
	}
}

// A non-replica that pulls revocations hears every replica each period;
// cut off from all of them it says so (ReplicasSilent, rond's
// registry_unreachable) past its grace, and not once it hears them again.
// The replicas never report it.
func TestReplicasSilentOnCutOffNonReplica(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{RevocationPullInterval: RevocationPullIntervalDefault})
	c.leader(2 * time.Second)
	const nr = replicas3 // the non-replica
	c.run(3 * RevocationPullIntervalDefault)
	for i := range c.nodes {
		if c.nodes[i].reg.ReplicasSilent() {
			t.Fatalf("node %d reports the replicas silent with no fault", i)
		}
	}
	c.isolate(nr)
	limit := 10 * RevocationPullIntervalDefault
	if !c.c.RunUntil(limit, func() bool { return c.nodes[nr].reg.ReplicasSilent() }) {
		t.Fatalf("after %v cut off, the non-replica still hears the replicas", limit)
	}
	c.heal()
	if !c.c.RunUntil(limit, func() bool { return !c.nodes[nr].reg.ReplicasSilent() }) {
		t.Fatalf("after %v healed, the non-replica still reports the replicas silent", limit)
	}
}

package registry

import (
	"errors"
	"fmt"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// raisedCluster is a 3-replica cluster plus one non-replica (node 3), all
// at VersionQuota, with a leader and the cluster raised; the non-replica
// has learned the cluster version and the leader (a warm-up Claim
// without a tenant).
func raisedCluster(t *testing.T, cfg Config) *cluster {
	t.Helper()
	all := map[int]uint64{0: VersionQuota, 1: VersionQuota, 2: VersionQuota, 3: VersionQuota}
	c := newClusterVersions(t, replicas3, 1, cfg, all)
	c.leader(2 * time.Second)
	for deadline := 0; c.nodes[0].reg.ClusterVersion() < VersionQuota; deadline++ {
		if deadline > 100 {
			t.Fatalf("cluster version stuck at %d", c.nodes[0].reg.ClusterVersion())
		}
		c.run(VersionAdvertiseTicks * TickIntervalDefault)
	}
	if err := c.do(3, Claim{Name: "warm.org", Owner: newOwner(9).pub}).Err; err != nil {
		t.Fatalf("warm-up claim through the non-replica: %v", err)
	}
	return c
}

// TestTenantWriteRateClusterWide: the leader holds a tenant to
// TenantWriteRate (burst TenantWriteBurst) over the whole cluster: once
// its burst is spent, its Claims and its names' Sets are refused
// ErrTenantRate whichever node they enter through (leader, follower,
// non-replica), nothing reaches the log for them, another tenant is not
// affected, and after a token's worth of virtual time one more write
// passes.
func TestTenantWriteRateClusterWide(t *testing.T) {
	c := raisedCluster(t, Config{TenantWriteRate: 0.5, TenantWriteBurst: 3}) // a token every 2 s
	l := c.leader(time.Second)
	alice, bob := newOwner(1), newOwner(2)
	claim := func(i int, name, tenant string, who owner) error {
		return c.do(i, Claim{Name: name, Owner: who.pub, Tenant: tenant}).Err
	}
	// The burst, spent through three different nodes (the non-replica,
	// a follower, the leader).
	entry := []int{3, (l + 1) % replicas3, l}
	for k, i := range entry {
		if err := claim(i, fmt.Sprintf("evil%d.org", k), "evil", alice); err != nil {
			t.Fatalf("claim %d of the burst through node %d: %v", k, i, err)
		}
	}
	applied := c.nodes[l].reg.AppliedIndex()
	for i := range c.nodes {
		if err := claim(i, fmt.Sprintf("over%d.org", i), "evil", alice); !errors.Is(err, ErrTenantRate) {
			t.Fatalf("claim over the rate through node %d: %v, want ErrTenantRate", i, err)
		}
	}
	// A Set is charged to its name's tenant.
	if err := c.do((l+2)%replicas3, alice.set("evil0.org", proto.Addr{1}, 1)).Err; !errors.Is(err, ErrTenantRate) {
		t.Fatalf("set of evil's name over the rate: %v, want ErrTenantRate", err)
	}
	if got := c.nodes[l].reg.AppliedIndex(); got != applied {
		t.Fatalf("refused writes moved the leader's applied index %d -> %d", applied, got)
	}
	if got := c.metric(l, MetricRejects, reasonTenantRate); got != float64(len(c.nodes)+1) {
		t.Fatalf("leader counted %v %s rejects, want %d", got, reasonTenantRate, len(c.nodes)+1)
	}
	for _, i := range []int{3, l} {
		if err := claim(i, fmt.Sprintf("good%d.org", i), "good", bob); err != nil {
			t.Fatalf("another tenant's claim through node %d: %v", i, err)
		}
	}
	c.run(2 * time.Second) // one token
	if err := c.do(3, alice.set("evil0.org", proto.Addr{1}, 1)).Err; err != nil {
		t.Fatalf("set after the refill: %v", err)
	}
	if err := claim((l+1)%replicas3, "late.org", "evil", alice); !errors.Is(err, ErrTenantRate) {
		t.Fatalf("second write after one token's refill: %v, want ErrTenantRate", err)
	}
}

// TestTenantWriteRateOffByDefault: with no rate set, a tenant's writes
// are never refused by rate and nothing is counted.
func TestTenantWriteRateOffByDefault(t *testing.T) {
	c := raisedCluster(t, Config{})
	l := c.leader(time.Second)
	alice := newOwner(1)
	for k := range 8 {
		if err := c.do(k%len(c.nodes), Claim{Name: fmt.Sprintf("n%d.org", k), Owner: alice.pub, Tenant: "evil"}).Err; err != nil {
			t.Fatalf("claim %d: %v", k, err)
		}
	}
	if got := c.metric(l, MetricRejects, reasonTenantRate); got != 0 {
		t.Fatalf("%v %s rejects with no rate set", got, reasonTenantRate)
	}
}

// TestTenantRatesBounded: the table never holds more than TenantRatesMax
// tenants; a new tenant drops the refilled buckets, else the fullest one
// (so no tenant loses tokens to another's arrival but that one).
func TestTenantRatesBounded(t *testing.T) {
	tr := newTenantRates(1, 2)
	digest := func(i int) [TenantDigestBytes]byte { return TenantDigest(fmt.Sprint("t", i)) }
	now := env.Time(1e9)
	for i := range TenantRatesMax {
		at := now.Add(time.Duration(i) * time.Microsecond)
		if !tr.take(at, digest(i)) {
			t.Fatalf("tenant %d refused its first write", i)
		}
	}
	late := now.Add(TenantRatesMax * time.Microsecond)
	// Tenant 0's bucket is the fullest: it is the one dropped.
	if !tr.take(late, digest(-1)) || len(tr.due) != TenantRatesMax {
		t.Fatalf("new tenant in a full table: %d buckets", len(tr.due))
	}
	if _, ok := tr.due[digest(0)]; ok {
		t.Fatalf("the fullest bucket was kept")
	}
	for i := 1; i < TenantRatesMax; i++ {
		if _, ok := tr.due[digest(i)]; !ok {
			t.Fatalf("tenant %d's bucket dropped", i)
		}
	}
	// A second spends tenant 1's last token: its third write is refused.
	if !tr.take(late, digest(1)) || tr.take(late, digest(1)) {
		t.Fatalf("burst 2 not kept for tenant 1")
	}
	// Once every bucket refilled, one arrival drops them all.
	if !tr.take(late.Add(10*time.Second), digest(-2)) || len(tr.due) != 1 {
		t.Fatalf("refilled buckets kept: %d", len(tr.due))
	}
}

// TestTenantWriteRateResetsOnLeaderChange: a new leader starts every
// tenant with a full bucket (the rate is leader-local, doc.go), and the
// old leader's spent bucket does not follow the tenant.
func TestTenantWriteRateResetsOnLeaderChange(t *testing.T) {
	c := raisedCluster(t, Config{TenantWriteRate: 0.01, TenantWriteBurst: 1}) // a token every 100 s
	l := c.leader(time.Second)
	alice := newOwner(1)
	if err := c.do(3, Claim{Name: "a.org", Owner: alice.pub, Tenant: "evil"}).Err; err != nil {
		t.Fatalf("first claim: %v", err)
	}
	if err := c.do(3, Claim{Name: "b.org", Owner: alice.pub, Tenant: "evil"}).Err; !errors.Is(err, ErrTenantRate) {
		t.Fatalf("second claim: %v, want ErrTenantRate", err)
	}
	c.isolate(l)
	newLeader := func() bool {
		for i := range replicas3 {
			if i != l && c.nodes[i].reg.IsLeader() {
				return true
			}
		}
		return false
	}
	if !c.c.RunUntil(10*time.Second, newLeader) {
		t.Fatalf("no new leader after isolating %d", l)
	}
	c.heal()
	if got := c.leader(5 * time.Second); got == l {
		t.Fatalf("leader %d again", l)
	}
	if err := c.do(3, Claim{Name: "b.org", Owner: alice.pub, Tenant: "evil"}).Err; err != nil {
		t.Fatalf("claim through the new leader: %v, want a full bucket", err)
	}
}

// TestTenantWriteRateFiltersRaftProposals: a proposal raft forwards to
// the leader (MsgProp) loses the entries whose tenant is over its rate;
// the others, and entries of other tenants, are stepped.
func TestTenantWriteRateFiltersRaftProposals(t *testing.T) {
	c := raisedCluster(t, Config{TenantWriteRate: 0.01, TenantWriteBurst: 1})
	l := c.leader(time.Second)
	reg := c.nodes[l].reg
	alice := newOwner(1)
	claim := func(seq uint64, name, tenant string) *pb.Entry {
		o, code, reason := opFromRequest(Claim{Name: name, Owner: alice.pub, Tenant: tenant})
		if code != codeOK {
			t.Fatalf("claim %s: %v (%s)", name, code, reason)
		}
		data := encodeEntry(&entry{version: VersionQuota, from: origin{node: proto.NodeID{7}, session: 1, seq: seq}, floor: seq, op: o})
		return &pb.Entry{Type: pb.EntryNormal.Enum(), Data: data}
	}
	m := &pb.Message{Type: pb.MsgProp.Enum(), Entries: []*pb.Entry{claim(1, "a.org", "evil"), claim(2, "b.org", "evil"), claim(3, "c.org", "good")}}
	if !reg.filterProposals(m) || len(m.Entries) != 2 {
		t.Fatalf("kept %d entries, want 2 (evil's first, good's)", len(m.Entries))
	}
	for i, want := range []string{"a.org", "c.org"} {
		if e, err := decodeEntry(m.Entries[i].GetData()); err != nil || e.op.name != want {
			t.Fatalf("entry %d: %q (%v), want %s", i, e.op.name, err, want)
		}
	}
	m = &pb.Message{Type: pb.MsgProp.Enum(), Entries: []*pb.Entry{claim(4, "d.org", "evil")}}
	if reg.filterProposals(m) {
		t.Fatalf("a proposal of only over-rate entries was kept")
	}
}

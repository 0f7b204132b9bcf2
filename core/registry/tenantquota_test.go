package registry

import (
	"errors"
	"testing"
	"time"

	"github.com/ron-network/ron/core/proto"
)

// quotaMachine is a machine at cluster version v that applies claims by
// tenant; claim applies one and returns its code.
type quotaMachine struct {
	m    *machine
	v    uint64
	next uint64
}

func newQuotaMachine(v uint64) *quotaMachine {
	q := &quotaMachine{m: newMachine(), v: v}
	if v > VersionBase {
		q.next++
		q.m.apply(q.next, 1, encodeEntry(&entry{version: v, from: origin{node: proto.NodeID{9}, session: 1, seq: q.next},
			op: op{kind: opClusterVersion, seq: v}}))
		if q.m.clusterVersion != v {
			panic("cluster version not raised")
		}
	}
	return q
}

func (q *quotaMachine) claim(t *testing.T, name string, who owner, tenant string, quota uint64) code {
	t.Helper()
	o, c, reason := opFromRequest(Claim{Name: name, Owner: who.pub, Tenant: tenant, Quota: quota})
	if c != codeOK {
		t.Fatalf("claim %s: %v (%s)", name, c, reason)
	}
	q.next++
	ae := q.m.apply(q.next, 1, encodeEntry(&entry{version: q.v, from: origin{node: proto.NodeID{1}, session: 1, seq: q.next}, floor: q.next, op: o}))
	if ae.reason != "" {
		t.Fatalf("claim %s rejected at apply: %s", name, ae.reason)
	}
	return ae.code
}

// TestTenantQuotaAtApply: at VersionQuota a tenant's claims of new names
// are refused codeNameQuota past the entry's quota; a claim of a name that
// exists (its own, or another tenant's with the same owner) is not new;
// other tenants, an empty tenant and quota 0 are not bounded by it.
func TestTenantQuotaAtApply(t *testing.T) {
	q := newQuotaMachine(VersionQuota)
	alice, bob := newOwner(1), newOwner(2)
	for _, n := range []string{"a.org", "b.org"} {
		if c := q.claim(t, n, alice, "evil", 2); c != codeOK {
			t.Fatalf("claim %s within quota: %v", n, c)
		}
	}
	if c := q.claim(t, "c.org", alice, "evil", 2); c != codeNameQuota {
		t.Fatalf("third name past quota 2: %v, want codeNameQuota", c)
	}
	if c := q.claim(t, "a.org", alice, "evil", 2); c != codeOK {
		t.Fatalf("re-claim of an owned name at quota: %v", c)
	}
	if c := q.claim(t, "a.org", bob, "evil", 2); c != codeTaken {
		t.Fatalf("claim of another owner's name: %v, want codeTaken (not the quota)", c)
	}
	if c := q.claim(t, "c.org", alice, "good", 2); c != codeOK {
		t.Fatalf("another tenant: %v", c)
	}
	if c := q.claim(t, "d.org", alice, "", 1); c != codeOK {
		t.Fatalf("no tenant: %v", c)
	}
	if c := q.claim(t, "e.org", alice, "evil", 0); c != codeOK {
		t.Fatalf("quota 0 (no bound): %v", c)
	}
	if c := q.claim(t, "f.org", alice, "evil", 3); c != codeNameQuota {
		t.Fatalf("fourth name past quota 3 (e.org counted under quota 0): %v", c)
	}
	if got := q.m.created[TenantDigest("evil")]; got != 3 {
		t.Fatalf("evil created %d names, want 3", got)
	}
	if err := codeNameQuota.err(); !errors.Is(err, ErrNameQuota) {
		t.Fatalf("codeNameQuota reads %v", err)
	}
}

// TestTenantQuotaSurvivesSnapshot: the counts are rebuilt from a decoded
// state, which re-encodes to the same bytes and hash.
func TestTenantQuotaSurvivesSnapshot(t *testing.T) {
	q := newQuotaMachine(VersionQuota)
	alice := newOwner(1)
	q.claim(t, "a.org", alice, "evil", 2)
	q.claim(t, "b.org", alice, "evil", 2)
	data := q.m.encode()
	back, err := decodeMachine(data)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if string(back.encode()) != string(data) || back.stateHash() != q.m.stateHash() {
		t.Fatalf("round trip changed the state")
	}
	q.m = back
	if c := q.claim(t, "c.org", alice, "evil", 2); c != codeNameQuota {
		t.Fatalf("claim past quota after restore: %v, want codeNameQuota", c)
	}
}

// TestTenantQuotaNotBeforeVersion: below VersionQuota the entry carries
// no tenant, apply never refuses by quota, and names created then count
// for no one after the raise.
func TestTenantQuotaNotBeforeVersion(t *testing.T) {
	for _, v := range []uint64{VersionBase, VersionTest} {
		q := newQuotaMachine(v)
		alice := newOwner(1)
		for _, n := range []string{"a.org", "b.org", "c.org"} {
			if c := q.claim(t, n, alice, "evil", 1); c != codeOK {
				t.Fatalf("version %d: claim %s refused %v: no quota below VersionQuota", v, n, c)
			}
		}
		if len(q.m.created) != 0 {
			t.Fatalf("version %d: counts %v", v, q.m.created)
		}
		q.next++
		q.m.apply(q.next, 1, encodeEntry(&entry{version: VersionQuota, from: origin{node: proto.NodeID{9}, session: 1, seq: q.next},
			op: op{kind: opClusterVersion, seq: VersionQuota}}))
		q.v = VersionQuota
		if c := q.claim(t, "d.org", alice, "evil", 1); c != codeOK {
			t.Fatalf("version %d raised: first counted claim refused %v", v, c)
		}
		if c := q.claim(t, "e.org", alice, "evil", 1); c != codeNameQuota {
			t.Fatalf("version %d raised: second counted claim %v, want codeNameQuota", v, c)
		}
	}
}

// TestTenantQuotaClusterWide: in a 3-replica cluster at VersionQuota, the
// quota holds over claims made through a non-replica (which learns the
// cluster version from the replica answering its first Claim), through a
// replica, and across a restart of the non-replica.
func TestTenantQuotaClusterWide(t *testing.T) {
	all := map[int]uint64{0: VersionQuota, 1: VersionQuota, 2: VersionQuota, 3: VersionQuota}
	c := newClusterVersions(t, replicas3, 1, Config{}, all)
	c.leader(2 * time.Second)
	for deadline := 0; c.nodes[0].reg.ClusterVersion() < VersionQuota; deadline++ {
		if deadline > 100 {
			t.Fatalf("cluster version stuck at %d", c.nodes[0].reg.ClusterVersion())
		}
		c.run(VersionAdvertiseTicks * TickIntervalDefault)
	}
	alice := newOwner(1)
	claim := func(i int, name string) error {
		return c.do(i, Claim{Name: name, Owner: alice.pub, Tenant: "evil", Quota: 3}).Err
	}
	// The non-replica's first Claim leaves without its tenant (it has not
	// heard the cluster version yet): a.org counts for no one.
	for _, n := range []string{"a.org", "b.org", "c.org"} {
		if err := claim(3, n); err != nil {
			t.Fatalf("claim %s through the non-replica: %v", n, err)
		}
	}
	if err := claim(0, "d.org"); err != nil {
		t.Fatalf("claim d.org through a replica (third counted): %v", err)
	}
	if err := claim(1, "e.org"); !errors.Is(err, ErrNameQuota) {
		t.Fatalf("claim past the quota through another replica: %v, want ErrNameQuota", err)
	}
	if err := claim(3, "b.org"); err != nil {
		t.Fatalf("re-claim of an owned name at the quota: %v", err)
	}
	c.crash(3)
	c.restart(3)
	// After a restart the first Claim again leaves without its tenant
	// (counted for no one), and the next is refused.
	if err := claim(3, "f.org"); err != nil {
		t.Fatalf("first claim after a restart: %v", err)
	}
	if err := claim(3, "g.org"); !errors.Is(err, ErrNameQuota) {
		t.Fatalf("claim past the quota through the restarted non-replica: %v, want ErrNameQuota", err)
	}
	for i := range replicas3 {
		if v := c.nodes[i].reg.ClusterVersion(); v != VersionQuota {
			t.Fatalf("replica %d at %d", i, v)
		}
	}
}

// TestTenantQuotaGatedByVersion: with one replica reading only
// VersionBase the cluster stays below VersionQuota and no Claim is refused
// by quota; with every replica at VersionQuota, a non-replica whose own
// VersionMax is VersionBase (rond's cluster_name_quota off on a gateway)
// still carries its Claims' tenants once a replica told it the version,
// so its tenants are bounded like any other; only its first Claim went
// without (registry_claims_untenanted_total on every replica).
func TestTenantQuotaGatedByVersion(t *testing.T) {
	alice := newOwner(1)
	claim := func(c *cluster, i int, name string) error {
		return c.do(i, Claim{Name: name, Owner: alice.pub, Tenant: "evil", Quota: 1}).Err
	}
	mixed := newClusterVersions(t, replicas3, 1, Config{}, map[int]uint64{0: VersionQuota, 1: VersionQuota, 2: VersionBase, 3: VersionQuota})
	mixed.leader(2 * time.Second)
	mixed.run(4 * VersionAdvertFreshTicks * TickIntervalDefault)
	for i, n := range []string{"a.org", "b.org", "c.org"} {
		if err := claim(mixed, i%4, n); err != nil {
			t.Fatalf("mixed cluster: claim %s: %v", n, err)
		}
	}
	if v := mixed.nodes[0].reg.ClusterVersion(); v != VersionBase {
		t.Fatalf("mixed cluster at version %d", v)
	}

	oldClient := newClusterVersions(t, replicas3, 1, Config{}, map[int]uint64{0: VersionQuota, 1: VersionQuota, 2: VersionQuota})
	oldClient.leader(2 * time.Second)
	oldClient.run(4 * VersionAdvertFreshTicks * TickIntervalDefault)
	if v := oldClient.nodes[0].reg.ClusterVersion(); v != VersionQuota {
		t.Fatalf("cluster at version %d, want %d", v, VersionQuota)
	}
	// The first Claim leaves without its tenant (the non-replica has not
	// heard the version yet) and counts for no one; the next counts.
	for _, n := range []string{"a.org", "b.org"} {
		if err := claim(oldClient, 3, n); err != nil {
			t.Fatalf("claim %s through a non-replica with VersionMax %d: %v", n, VersionBase, err)
		}
	}
	if err := claim(oldClient, 3, "c.org"); !errors.Is(err, ErrNameQuota) {
		t.Fatalf("claim past quota 1 through a non-replica with VersionMax %d: %v, want ErrNameQuota", VersionBase, err)
	}
	if got := oldClient.metric(3, MetricRejects, reasonMalformed); got != 0 {
		t.Fatalf("non-replica counted %v malformed messages", got)
	}
	if err := claim(oldClient, 0, "d.org"); !errors.Is(err, ErrNameQuota) {
		t.Fatalf("claim past quota 1 through a replica: %v, want ErrNameQuota", err)
	}
	oldClient.awaitConverged(10 * time.Second)
	for i := range replicas3 {
		if got := oldClient.metric(i, MetricClaimsUntenanted, ""); got != 1 {
			t.Fatalf("replica %d: %s %v, want 1 (a.org)", i, MetricClaimsUntenanted, got)
		}
	}
}

// TestClaimsUntenantedAtApply: apply flags a Claim that created a name
// without a tenant at VersionQuota, and nothing else: not below it, not a
// tenant's claim, not a claim of a name that exists, not a refused one.
func TestClaimsUntenantedAtApply(t *testing.T) {
	alice, bob := newOwner(1), newOwner(2)
	apply := func(q *quotaMachine, name string, who owner, tenant string) appliedEntry {
		t.Helper()
		o, c, reason := opFromRequest(Claim{Name: name, Owner: who.pub, Tenant: tenant, Quota: 1})
		if c != codeOK {
			t.Fatalf("claim %s: %v (%s)", name, c, reason)
		}
		q.next++
		return q.m.apply(q.next, 1, encodeEntry(&entry{version: q.v, from: origin{node: proto.NodeID{1}, session: 1, seq: q.next}, floor: q.next, op: o}))
	}
	base := newQuotaMachine(VersionTest)
	if ae := apply(base, "a.org", alice, ""); ae.code != codeOK || ae.untenanted {
		t.Fatalf("below VersionQuota: %v untenanted %v, want codeOK, false", ae.code, ae.untenanted)
	}
	q := newQuotaMachine(VersionQuota)
	for _, tc := range []struct {
		name, tenant string
		who          owner
		code         code
		untenanted   bool
	}{
		{"a.org", "", alice, codeOK, true},
		{"a.org", "", alice, codeOK, false}, // exists: nothing created
		{"a.org", "", bob, codeTaken, false},
		{"b.org", "acme", alice, codeOK, false},
		{"c.org", "acme", alice, codeNameQuota, false},
		{"c.org", "", alice, codeOK, true},
	} {
		if ae := apply(q, tc.name, tc.who, tc.tenant); ae.code != tc.code || ae.untenanted != tc.untenanted {
			t.Fatalf("claim %s tenant %q: %v untenanted %v, want %v, %v", tc.name, tc.tenant, ae.code, ae.untenanted, tc.code, tc.untenanted)
		}
	}
}

package registry

import (
	"crypto/ed25519"
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/ron-network/ron/core/proto"
)

// TestNonMemberRefused: with Config.Members set, a node outside it gets
// ErrNotMember for a forwarded Claim, Set, Resolve, StaleResolve and
// Revoke, none of which is applied, and never learns a revocation by
// pulling; a listed non-replica claims, sets, resolves and learns
// revocations as before. Replicas count the refusals as not_member.
func TestNonMemberRefused(t *testing.T) {
	admin := adminKey(0)
	interval := 200 * time.Millisecond
	members := make([]proto.NodeID, 4) // the 3 replicas and node 3; node 4 is outside
	for i := range members {
		members[i] = proto.NodeIDFromPublicKey(testKey(i).Public().(ed25519.PublicKey))
	}
	c := newCluster(t, 3, 2, Config{AdminKeys: []ed25519.PublicKey{admin.Public().(ed25519.PublicKey)},
		RevocationPullInterval: interval, Members: members})
	c.leader(5 * time.Second)
	const member, outsider = 3, 4
	alice := newOwner(1)
	target := proto.AddrOf([]byte("v1"))

	if r := c.do(member, Claim{Name: "member.org", Owner: alice.pub}); r.Err != nil {
		t.Fatalf("member's claim: %v", r.Err)
	}
	if r := c.do(member, alice.set("member.org", target, 1)); r.Err != nil {
		t.Fatalf("member's set: %v", r.Err)
	}
	if r := c.do(member, Resolve{Name: "member.org"}); r.Err != nil || !r.Record.Found || r.Record.Target != target {
		t.Fatalf("member's resolve: %+v (%v)", r, r.Err)
	}

	for _, body := range []any{
		Claim{Name: "outsider.org", Owner: alice.pub},
		alice.set("member.org", proto.AddrOf([]byte("v2")), 2),
		Resolve{Name: "member.org"},
		StaleResolve{Name: "member.org"},
		revokeBody(admin, tokenID(9), math.MaxInt64),
	} {
		r := c.do(outsider, body)
		if !errors.Is(r.Err, ErrNotMember) || r.Record.Found {
			t.Fatalf("outsider's %T: %+v (%v), want ErrNotMember and no record", body, r, r.Err)
		}
	}
	if r := c.do(member, Resolve{Name: "outsider.org"}); r.Err != nil || r.Record.Found {
		t.Fatalf("the outsider's claim was applied: %+v (%v)", r, r.Err)
	}
	if r := c.do(member, Resolve{Name: "member.org"}); r.Err != nil || r.Record.Seq != 1 {
		t.Fatalf("the outsider's set was applied: %+v (%v)", r, r.Err)
	}

	id := tokenID(7)
	if r := c.do(member, revokeBody(admin, id, math.MaxInt64)); r.Err != nil {
		t.Fatalf("member's revoke: %v", r.Err)
	}
	bound := interval + interval/4 + 20*time.Millisecond
	if !waitFor(c, bound, func() bool { return c.nodes[member].reg.Revoked(id) }) {
		t.Fatalf("the member did not learn the revocation within %v", bound)
	}
	c.run(4 * interval) // the outsider pulls several times
	if c.nodes[outsider].reg.Revoked(id) || c.nodes[outsider].reg.RevocationIndex() != 0 {
		t.Fatalf("the outsider learned revocations by pulling")
	}
	if c.nodes[member].reg.Revoked(tokenID(9)) {
		t.Fatalf("the outsider's revoke was applied")
	}
	var refused float64
	for i := 0; i < 3; i++ {
		refused += c.metric(i, MetricRejects, reasonNotMember)
	}
	if refused < 5+3 { // the five ops and some pulls
		t.Fatalf("replicas counted %v not_member refusals, want the ops and the pulls", refused)
	}
	if got := c.metric(member, MetricRejects, reasonNotMember); got != 0 {
		t.Fatalf("the member counted %v not_member refusals", got)
	}
}

// TestNoMembersServesAll: without Config.Members any node forwards, as
// before (an open network).
func TestNoMembersServesAll(t *testing.T) {
	c := newCluster(t, 3, 1, Config{})
	c.leader(5 * time.Second)
	if r := c.do(3, Claim{Name: "open.org", Owner: newOwner(1).pub}); r.Err != nil {
		t.Fatalf("claim on an open registry: %v", r.Err)
	}
}

// TestSetMembers: a SetMembers request replaces a running registry's
// membership. An outsider whose forward was refused is served once every
// replica lists it; a member dropped from the replicas' lists is refused
// at once. The raft voters are not touched: the replicas keep their
// leader and commit throughout. The old code had no SetMembers: the list
// was fixed at New.
func TestSetMembers(t *testing.T) {
	ids := make([]proto.NodeID, 5) // the 3 replicas, node 3 and node 4
	for i := range ids {
		ids[i] = proto.NodeIDFromPublicKey(testKey(i).Public().(ed25519.PublicKey))
	}
	c := newCluster(t, 3, 2, Config{Members: ids[:4]})
	c.leader(5 * time.Second)
	const member, outsider = 3, 4
	set := func(members []proto.NodeID) {
		t.Helper()
		for i := 0; i < 3; i++ {
			resp, ok := c.c.Await(i, c.submit(i, SetMembers{Members: members}), time.Second)
			if r, is := resp.(SetMembers); !ok || !is || !slices.Equal(r.Members, members) {
				t.Fatalf("replica %d: SetMembers answered %#v", i, resp)
			}
		}
	}
	alice := newOwner(1)
	if r := c.do(outsider, Claim{Name: "outsider.org", Owner: alice.pub}); !errors.Is(r.Err, ErrNotMember) {
		t.Fatalf("outsider's claim before it is listed: %v, want ErrNotMember", r.Err)
	}
	set(ids)
	if r := c.do(outsider, Claim{Name: "outsider.org", Owner: alice.pub}); r.Err != nil {
		t.Fatalf("outsider's claim once listed: %v", r.Err)
	}
	set(append(slices.Clone(ids[:3]), ids[outsider]))
	if r := c.do(member, Resolve{Name: "outsider.org"}); !errors.Is(r.Err, ErrNotMember) {
		t.Fatalf("a dropped member's resolve: %+v (%v), want ErrNotMember", r, r.Err)
	}
	if r := c.do(outsider, Resolve{Name: "outsider.org"}); r.Err != nil || !r.Record.Found {
		t.Fatalf("the listed outsider's resolve: %+v (%v)", r, r.Err)
	}
}

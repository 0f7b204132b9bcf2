package registry

import (
	"crypto/ed25519"
	"math"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
)

func adminKey(i int) ed25519.PrivateKey { return testKey(2000 + i) }

func revokeBody(key ed25519.PrivateKey, id auth.TokenID, until env.Time) Revoke {
	return Revoke{ID: id, Until: until, Admin: key.Public().(ed25519.PublicKey),
		Sig: ed25519.Sign(key, RevokeSigningBytes(id, until))}
}

func tokenID(i int) auth.TokenID { return auth.TokenID{byte(i >> 8), byte(i), 0xaa} }

// revokeEntry builds a log entry for a Revoke as a replica would propose
// it (stamped), bypassing the ingress checks so that apply's own checks are
// what is tested.
func revokeEntry(seq uint64, body Revoke, stamp env.Time) []byte {
	o := op{kind: opRevoke, token: body.ID, until: body.Until, stamp: stamp}
	copy(o.owner[:], body.Admin)
	copy(o.sig[:], body.Sig)
	return encodeEntry(&entry{from: origin{node: proto.NodeID{9}, session: 1, seq: seq}, floor: seq, op: o})
}

func adminMachine(keys ...ed25519.PrivateKey) *machine {
	m := newMachine()
	for _, k := range keys {
		var pub [ed25519.PublicKeySize]byte
		copy(pub[:], k.Public().(ed25519.PublicKey))
		m.admins = append(m.admins, pub)
	}
	return m
}

// TestRevokeAppliedOnlyWithAdminSignature: apply re-checks the admin list
// and the signature, so a log entry that skipped ingress changes nothing.
func TestRevokeAppliedOnlyWithAdminSignature(t *testing.T) {
	admin, stranger := adminKey(0), adminKey(1)
	m := adminMachine(admin)
	forged := revokeBody(admin, tokenID(2), 100)
	forged.Sig = ed25519.Sign(admin, RevokeSigningBytes(tokenID(3), 100)) // signs another id
	cases := []struct {
		body Revoke
		want code
		id   auth.TokenID
	}{
		{revokeBody(stranger, tokenID(1), 100), codeNotAdmin, tokenID(1)},
		{forged, codeBadSignature, tokenID(2)},
		{revokeBody(admin, tokenID(4), 100), codeOK, tokenID(4)},
	}
	for i, c := range cases {
		ae := m.apply(uint64(i+1), 1, revokeEntry(uint64(i+1), c.body, 0))
		if ae.code != c.want {
			t.Errorf("case %d: code %d, want %d", i, ae.code, c.want)
		}
		if got := m.revs[c.id] != nil; got != (c.want == codeOK) {
			t.Errorf("case %d: revoked = %v after code %d", i, got, ae.code)
		}
	}
}

// TestRevokePrunesByStampNotClock: entries whose token expired more than
// RevocationRetainAfterExpiry before the latest stamp are dropped at the
// next Revoke's apply, and only then; a full list refuses new ids.
func TestRevokePrunesByStampNotClock(t *testing.T) {
	admin := adminKey(0)
	m := adminMachine(admin)
	retain := env.Time(RevocationRetainAfterExpiry)
	m.apply(1, 1, revokeEntry(1, revokeBody(admin, tokenID(1), 1000), 0))
	m.apply(2, 1, revokeEntry(2, revokeBody(admin, tokenID(2), math.MaxInt64), 0))
	m.apply(3, 1, revokeEntry(3, revokeBody(admin, tokenID(3), 5000), 1000+retain-1))
	if m.revs[tokenID(1)] == nil {
		t.Fatalf("entry pruned one nanosecond early")
	}
	m.apply(4, 1, revokeEntry(4, revokeBody(admin, tokenID(4), 5000), 1000+retain))
	if m.revs[tokenID(1)] != nil || m.revs[tokenID(2)] == nil || m.revs[tokenID(3)] == nil {
		t.Fatalf("after stamp expiry+retain: %d entries, want ids 2, 3, 4", len(m.revs))
	}
	// A stamp going backwards (another replica's slower clock) never
	// lowers the prune clock.
	m.apply(5, 1, revokeEntry(5, revokeBody(admin, tokenID(5), 5000), 0))
	if m.revClock != 1000+retain {
		t.Fatalf("revClock %d, want %d", m.revClock, 1000+retain)
	}
	// Revoking an already useless token succeeds without an entry.
	if ae := m.apply(6, 1, revokeEntry(6, revokeBody(admin, tokenID(6), 10), 0)); ae.code != codeOK || m.revs[tokenID(6)] != nil {
		t.Fatalf("expired revoke: code %d, entry %v", ae.code, m.revs[tokenID(6)])
	}
	index := uint64(7)
	for i := len(m.revs); i < RevocationsMax; i++ {
		m.apply(index, 1, revokeEntry(index, revokeBody(admin, tokenID(100+i), math.MaxInt64), 0))
		index++
	}
	if ae := m.apply(index, 1, revokeEntry(index, revokeBody(admin, tokenID(99), math.MaxInt64), 0)); ae.code != codeTooLarge {
		t.Fatalf("revoke into a full list: code %d, want too large", ae.code)
	}
	m.checkInvariants()
}

// TestRevocationStateRoundTrip: revocations are in the canonical encoding,
// the state hash and pull answers, and decode back exactly.
func TestRevocationStateRoundTrip(t *testing.T) {
	admin := adminKey(0)
	rapid.Check(t, func(t *rapid.T) {
		m := adminMachine(admin)
		n := rapid.IntRange(0, 30).Draw(t, "n")
		for i := 1; i <= n; i++ {
			id := tokenID(rapid.IntRange(0, 10).Draw(t, "id"))
			until := env.Time(rapid.Int64Range(0, 1e12).Draw(t, "until"))
			stamp := env.Time(rapid.Int64Range(0, 1e12).Draw(t, "stamp"))
			m.apply(uint64(i), 1, revokeEntry(uint64(i), revokeBody(admin, id, until), stamp))
		}
		data := m.encode()
		back, err := decodeMachine(data)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if string(back.encode()) != string(data) || back.stateHash() != m.stateHash() || len(back.revs) != len(m.revs) {
			t.Fatalf("round trip changed the state")
		}
		// Pulling from 0, page by page, yields exactly the list.
		seen := map[auth.TokenID]bool{}
		for since := uint64(0); ; {
			entries, through := m.revocationsSince(since)
			for _, e := range entries {
				if e.index <= since || seen[e.id] {
					t.Fatalf("entry %x at %d repeated or not after %d", e.id[:3], e.index, since)
				}
				seen[e.id] = true
			}
			if through == since || through == m.applied {
				break
			}
			since = through
		}
		if len(seen) != len(m.revs) {
			t.Fatalf("pull saw %d of %d entries", len(seen), len(m.revs))
		}
		if len(m.revs) > 0 {
			before := m.stateHash()
			for id := range m.revs {
				delete(m.revs, id)
				break
			}
			if m.stateHash() == before {
				t.Fatalf("state hash ignores revocations")
			}
		}
	})
}

// TestRevokeRejectedAtIngress: a node refuses a Revoke from a key not in
// AdminKeys (or badly signed) before proposing it.
func TestRevokeRejectedAtIngress(t *testing.T) {
	admin := adminKey(0)
	c := newCluster(t, 3, 1, Config{AdminKeys: []ed25519.PublicKey{admin.Public().(ed25519.PublicKey)}})
	c.leader(5 * time.Second)
	for _, i := range []int{0, 3} {
		if res := c.do(i, revokeBody(adminKey(1), tokenID(1), 100)); !errIs(res.Err, ErrNotAdmin) {
			t.Fatalf("node %d: stranger's revoke: %v, want not admin", i, res.Err)
		}
		bad := revokeBody(admin, tokenID(1), 100)
		bad.Until++
		if res := c.do(i, bad); !errIs(res.Err, ErrBadSignature) {
			t.Fatalf("node %d: bad signature: %v", i, res.Err)
		}
	}
	if c.metric(0, MetricRejects, reasonNotAdmin) != 1 {
		t.Fatalf("not_admin rejects not counted")
	}
	for _, n := range c.nodes[:3] {
		if n.reg.AppliedIndex() > 1 || n.reg.Revoked(tokenID(1)) {
			t.Fatalf("rejected revokes reached the log (applied %d)", n.reg.AppliedIndex())
		}
	}
}

// TestNonReplicaLearnsRevocationWithinPullBound: a non-replica's view
// holds a committed revocation one pull interval (plus round trips) after
// the commit; one cut off from every replica learns it within the same
// bound after the heal, and a restarted one relearns it.
func TestNonReplicaLearnsRevocationWithinPullBound(t *testing.T) {
	admin := adminKey(0)
	interval := 200 * time.Millisecond
	c := newCluster(t, 3, 2, Config{AdminKeys: []ed25519.PublicKey{admin.Public().(ed25519.PublicKey)},
		RevocationPullInterval: interval})
	c.leader(5 * time.Second)
	c.isolate(4)
	id := tokenID(7)
	if res := c.do(3, revokeBody(admin, id, math.MaxInt64)); res.Err != nil {
		t.Fatalf("revoke: %v", res.Err)
	}
	bound := interval + interval/4 + 20*time.Millisecond // jitter, round trips
	if !waitFor(c, bound, func() bool { return c.nodes[3].reg.Revoked(id) }) {
		t.Fatalf("non-replica did not learn the revocation within %v", bound)
	}
	c.run(2 * time.Second)
	if c.nodes[4].reg.Revoked(id) {
		t.Fatalf("an isolated node learned a revocation")
	}
	c.heal()
	if !waitFor(c, bound, func() bool { return c.nodes[4].reg.Revoked(id) }) {
		t.Fatalf("healed node did not learn the revocation within %v", bound)
	}
	c.crash(3)
	c.restart(3)
	if !waitFor(c, bound, func() bool { return c.nodes[3].reg.Revoked(id) }) {
		t.Fatalf("restarted node did not relearn the revocation")
	}
	for _, n := range c.nodes[:3] {
		if !n.reg.Revoked(id) {
			t.Fatalf("a replica does not hold the revocation")
		}
	}
	if c.nodes[3].reg.Revoked(tokenID(8)) {
		t.Fatalf("an unrevoked id is revoked")
	}
}

func waitFor(c *cluster, limit time.Duration, cond func() bool) bool {
	for waited := time.Duration(0); waited <= limit; waited += time.Millisecond {
		if cond() {
			return true
		}
		c.round()
	}
	return false
}

// TestPullAnswersFromAnotherIncarnationIgnored: an answer for an older
// session or a since beyond the view never extends the view.
func TestPullAnswersFromAnotherIncarnationIgnored(t *testing.T) {
	admin := adminKey(0)
	c := newCluster(t, 1, 1, Config{AdminKeys: []ed25519.PublicKey{admin.Public().(ed25519.PublicKey)},
		RevocationPullInterval: time.Second})
	reg := c.nodes[1].reg
	reg.mergePull(reg.session+1, 0, 10, []revEntry{{id: tokenID(1), until: math.MaxInt64, index: 1}})
	reg.mergePull(reg.session, 5, 10, []revEntry{{id: tokenID(2), until: math.MaxInt64, index: 6}})
	if reg.Revoked(tokenID(1)) || reg.Revoked(tokenID(2)) || reg.RevocationIndex() != 0 {
		t.Fatalf("a foreign or non-contiguous answer changed the view")
	}
	reg.mergePull(reg.session, 0, 10, []revEntry{{id: tokenID(3), until: math.MaxInt64, index: 4}})
	if !reg.Revoked(tokenID(3)) || reg.RevocationIndex() != 10 {
		t.Fatalf("a valid answer was not merged")
	}
}

// FuzzRevocationEnvelope feeds arbitrary pull and list payloads to a
// replica and a non-replica: no input panics, breaks an invariant or
// grows the view past its bound.
func FuzzRevocationEnvelope(f *testing.F) {
	f.Add([]byte{codecVersion, envRevPull, 1, 0})
	f.Add([]byte{codecVersion, envRevList, 1, 0, 5, 1})
	f.Add([]byte{codecVersion, envRevList, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, payload []byte) {
		c := newCluster(t, 1, 1, Config{RevocationPullInterval: time.Second})
		c.run(50 * time.Millisecond)
		for _, n := range c.nodes {
			if len(payload) >= 3 && payload[1] == envRevList {
				payload[2] = byte(n.reg.session & 0x7f) // often this incarnation's session
			}
			frame, err := oap.Encode(&oap.Frame{Header: oap.Header{Flags: oap.FlagRESP, AppProto: oap.ProtoRegistry}, Payload: payload})
			if err != nil {
				return
			}
			n.node.Step(env.Message{From: c.nodes[0].id, Frame: frame})
			n.reg.CheckInvariants()
			if n.reg.revView != nil && n.reg.revView.Len() > RevocationsPerPullMax {
				t.Fatalf("one answer grew the view to %d", n.reg.revView.Len())
			}
		}
	})
}

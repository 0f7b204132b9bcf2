package registry

import (
	"crypto/ed25519"
	"errors"
	"testing"

	"pgregory.net/rapid"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
	"github.com/ron-network/ron/specs/namespec"
)

var specNames = []string{"a.org", "b.org", "c.org"}

// TestMachineAgreesWithNamespec applies random op sequences (with random
// retries of earlier ops) to the registry's state machine and to the
// sequential spec, and compares every output; a retried op must return its
// first result and leave the spec state alone.
func TestMachineAgreesWithNamespec(t *testing.T) {
	owners := []owner{newOwner(1), newOwner(2), newOwner(3)}
	targets := []proto.Addr{proto.AddrOf([]byte("1")), proto.AddrOf([]byte("2"))}
	client := proto.NodeID{7}
	rapid.Check(t, func(t *rapid.T) {
		m := newMachine()
		spec := map[string]namespec.State{}
		type done struct {
			e    entry
			code code
			out  namespec.Output
		}
		var history []done
		index := uint64(0)
		// window is the oldest history position the client still waits
		// for: the last PendingOpsMax-1 ops plus the one being applied.
		window := func() int { return max(0, len(history)-PendingOpsMax+1) }
		floor := func() uint64 {
			if w := window(); w < len(history) {
				return history[w].e.from.seq
			}
			return index
		}
		for n := rapid.IntRange(1, 80).Draw(t, "ops"); n > 0; n-- {
			index++
			if len(history) > 0 && rapid.Bool().Draw(t, "retry") {
				h := history[rapid.IntRange(window(), len(history)-1).Draw(t, "which")]
				h.e.floor = floor()
				ae := m.apply(index, 1, encodeEntry(&h.e))
				if ae.code != h.code {
					t.Fatalf("retry of seq %d: %v, first answer %v", h.e.from.seq, ae.code, h.code)
				}
				continue
			}
			name := rapid.SampledFrom(specNames).Draw(t, "name")
			o := rapid.SampledFrom(owners).Draw(t, "owner")
			var op op
			var sop namespec.Op
			if rapid.Bool().Draw(t, "claim") {
				s := Claim{Name: name, Owner: o.pub}
				op, _, _ = opFromRequest(s)
				sop = namespec.Op{Kind: namespec.Claim, Owner: string(o.pub)}
			} else {
				tg, seq := rapid.SampledFrom(targets).Draw(t, "target"), rapid.Uint64Range(0, 4).Draw(t, "seq")
				op, _, _ = opFromRequest(o.set(name, tg, seq))
				sop = namespec.Op{Kind: namespec.Set, Owner: string(o.pub), Target: string(tg[:]), Seq: seq}
			}
			e := entry{from: origin{node: client, session: 9, seq: index}, floor: floor(), op: op}
			ae := m.apply(index, 1, encodeEntry(&e))
			next, out := namespec.Step(spec[name], sop)
			spec[name] = next
			if want := specCode(out.Outcome); ae.code != want {
				t.Fatalf("%v %s: machine %v, spec %v", op.kind, name, ae.code, out.Outcome)
			}
			history = append(history, done{e: e, code: ae.code, out: out})
			m.checkInvariants()
		}
		for _, name := range specNames {
			got := m.lookup(name)
			_, out := namespec.Step(spec[name], namespec.Op{Kind: namespec.Resolve})
			if got.Found != out.Found || got.Seq != out.Seq || (got.Found && (string(got.Owner) != out.Owner || string(got.Target[:]) != specTarget(out.Target))) {
				t.Fatalf("resolve %s: machine %+v, spec %+v", name, got, out)
			}
		}
	})
}

func specCode(o namespec.Outcome) code {
	return [...]code{codeOK, codeTaken, codeNotFound, codeNotOwner, codeStaleSeq}[o]
}

func specTarget(t string) string {
	if t == "" {
		var zero proto.Addr
		return string(zero[:])
	}
	return t
}

// TestStateRoundTrip checks that the canonical encoding decodes to the same
// content, re-encodes to the same bytes, and that a snapshot verifies only
// with a replica's key.
func TestStateRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := newMachine()
		alice := newOwner(1)
		for i := uint64(1); i <= uint64(rapid.IntRange(0, 40).Draw(t, "n")); i++ {
			name := rapid.SampledFrom(specNames).Draw(t, "name")
			var o op
			if rapid.Bool().Draw(t, "claim") {
				o, _, _ = opFromRequest(Claim{Name: name, Owner: alice.pub})
			} else {
				o, _, _ = opFromRequest(alice.set(name, proto.AddrOf([]byte{byte(i)}), rapid.Uint64Range(1, 3).Draw(t, "seq")))
			}
			node := proto.NodeID{byte(rapid.IntRange(0, 3).Draw(t, "client"))}
			m.apply(i, 1, encodeEntry(&entry{from: origin{node: node, session: 1, seq: i}, floor: 1, op: o}))
		}
		data := m.encode()
		back, err := decodeMachine(data)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if string(back.encode()) != string(data) || back.stateHash() != m.stateHash() || back.chain != m.chain {
			t.Fatalf("round trip changed the state")
		}
		key := testKey(0)
		snap := signSnapshot(key, data, VersionBase)
		isKey := func(pub ed25519.PublicKey) bool { return string(pub) == string(key.Public().(ed25519.PublicKey)) }
		if _, err := openSnapshot(snap, isKey, VersionBase); err != nil {
			t.Fatalf("open own snapshot: %v", err)
		}
		if _, err := openSnapshot(snap, func(ed25519.PublicKey) bool { return false }, VersionBase); err == nil {
			t.Fatalf("snapshot from a non-replica accepted")
		}
		snap[len(snap)/2] ^= 1
		if _, err := openSnapshot(snap, isKey, VersionBase); err == nil {
			t.Fatalf("tampered snapshot accepted")
		}
		newer := signSnapshot(key, data, VersionBase)
		newer[0] = codecVersion + 1
		if _, err := openSnapshot(newer, isKey, VersionBase); !errors.Is(err, env.ErrNewerFormat) || isCorruption(err) {
			t.Fatalf("snapshot of a newer version: %v, want env.ErrNewerFormat and not corruption", err)
		}
	})
}

// TestLimitsRelations asserts the derived limits: the worst-case state fits
// SnapshotBytesMax, and a signed snapshot inside a raft message fits one
// OAP/1 frame and one disk value.
func TestLimitsRelations(t *testing.T) {
	const varintMax = 10
	nameBytes := 2 + NameBytesMax + 32 + 32 + varintMax + TenantDigestBytes
	descBytes := 32 + 32 + 1 + DescriptorAddrsMax*(2+DescriptorAddrBytesMax) + varintMax + 64
	sessionBytes := 32 + 3*varintMax + 1 + SessionResultsMax*(2*varintMax+1)
	state := 1 + 2*varintMax + 32 + 3*3 + NamesMax*nameBytes + DescriptorsMax*descBytes + SessionsMax*sessionBytes
	if state > SnapshotBytesMax {
		t.Fatalf("worst-case state %d bytes exceeds SnapshotBytesMax %d", state, SnapshotBytesMax)
	}
	const envelope = 1 << 10 // snapshot signature, raft message fields, OAP header
	if SnapshotBytesMax+envelope > oap.FrameBytesMax || SnapshotBytesMax+envelope > env.DiskValueBytesMax {
		t.Fatalf("a snapshot of %d bytes does not fit a frame or a disk value", SnapshotBytesMax)
	}
	if PendingOpsMax > SessionResultsMax {
		t.Fatalf("PendingOpsMax %d > SessionResultsMax %d: dedup could forget a pending op", PendingOpsMax, SessionResultsMax)
	}
	if RaftMsgBytesMax+envelope > oap.FrameBytesMax {
		t.Fatalf("raft messages may not fit a frame")
	}
}

func TestNormalizeName(t *testing.T) {
	ok := map[string]string{"Example.ORG": "example.org", "a": "a", "a-b.c0": "a-b.c0", "Z-9.y": "z-9.y"}
	for in, want := range ok {
		if got, err := NormalizeName(in); err != nil || got != want {
			t.Errorf("NormalizeName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	// A name that is already normal (every name in the log, every name a
	// replica checks again) is returned as it is.
	if allocs := testing.AllocsPerRun(100, func() { _, _ = NormalizeName("a-b.c0") }); allocs != 0 {
		t.Errorf("NormalizeName of a normal name allocates %v times", allocs)
	}
	long := ""
	for len(long) < NameBytesMax-63 {
		long += "abcdefghij."
	}
	bad := []string{"", ".", "a.", ".a", "a..b", "a_b", "ä.org", "a b", string(make([]byte, 64)),
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", long + long}
	for _, in := range bad {
		if _, err := NormalizeName(in); err == nil {
			t.Errorf("NormalizeName(%q) accepted", in)
		}
	}
	if string(SetSigningBytes("A.org", proto.Addr{}, 1)) != string(SetSigningBytes("a.org", proto.Addr{}, 1)) {
		t.Errorf("SetSigningBytes depends on case")
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	alice := newOwner(1)
	o, _, _ := opFromRequest(alice.set("f.org", proto.Addr{1}, 3))
	f.Add(encodeForward(&forward{from: origin{session: 1, seq: 2}, floor: 1, op: o}, VersionBase))
	c, _, _ := opFromRequest(Claim{Name: "q.org", Owner: alice.pub, Tenant: "evil", Quota: 3})
	f.Add(encodeForward(&forward{from: origin{session: 1, seq: 2}, floor: 1, op: c}, VersionQuota))
	f.Add(encodeReply(&reply{session: 1, seq: 2, code: codeTaken, rec: Record{Found: true, Owner: alice.pub, Seq: 4}, leader: 2}))
	f.Add([]byte{codecVersion, envRaft, 8, 1})
	f.Add([]byte{1, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		kind, _, fw, rp, err := decodeEnvelope(b, proto.NodeID{})
		if err != nil {
			return
		}
		switch kind {
		case envForward:
			if again := encodeForward(&fw, VersionBase); string(again) != string(b) {
				t.Fatalf("forward does not re-encode exactly")
			}
		case envForwardQ:
			if again := encodeForward(&fw, VersionQuota); string(again) != string(b) {
				t.Fatalf("tenant forward does not re-encode exactly")
			}
		case envReply:
			if again := encodeReply(&rp); string(again) != string(b) {
				t.Fatalf("reply does not re-encode exactly")
			}
		}
	})
}

func FuzzDecodeEntry(f *testing.F) {
	alice := newOwner(1)
	o, _, _ := opFromRequest(Claim{Name: "f.org", Owner: alice.pub})
	f.Add(encodeEntry(&entry{from: origin{session: 1, seq: 2}, floor: 1, op: o}))
	d, _, _ := opFromRequest(Describe{Descriptor: signedDescriptor(alice.priv, []string{"x"}, 1)})
	f.Add(encodeEntry(&entry{op: d}))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEntry(b)
		if err != nil {
			return
		}
		if string(encodeEntry(&e)) != string(b) {
			t.Fatalf("entry does not re-encode exactly")
		}
		m := newMachine()
		m.apply(1, 1, b) // must not panic on any decodable entry
		m.checkInvariants()
	})
}

func FuzzDecodeMachine(f *testing.F) {
	m := newMachine()
	alice := newOwner(1)
	o, _, _ := opFromRequest(Claim{Name: "f.org", Owner: alice.pub})
	m.apply(1, 1, encodeEntry(&entry{from: origin{session: 1, seq: 1}, floor: 1, op: o}))
	f.Add(m.encode())
	f.Add(newMachine().encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMachine(b)
		if err != nil {
			return
		}
		m.checkInvariants()
		if string(m.encode()) != string(b) {
			t.Fatalf("state does not re-encode exactly")
		}
	})
}

// raiseFloor drops results below the floor and, past SessionResultsMax,
// the oldest ones (raising the floor past them), keeping the rest in order.
func TestSessionRaiseFloor(t *testing.T) {
	var s session
	for seq := uint64(1); seq <= SessionResultsMax+2; seq++ {
		s.results = append(s.results, cachedResult{seq: seq, nameSeq: seq * 10})
	}
	s.raiseFloor(1)
	if s.floor != 3 || len(s.results) != SessionResultsMax || s.results[0].seq != 3 {
		t.Fatalf("over the limit: floor %d, %d results from seq %d", s.floor, len(s.results), s.results[0].seq)
	}
	s.raiseFloor(7)
	for i, r := range s.results {
		if want := uint64(7 + i); r.seq != want || r.nameSeq != want*10 {
			t.Fatalf("result %d is %+v, want seq %d", i, r, want)
		}
	}
	if s.floor != 7 || len(s.results) != SessionResultsMax+2-6 {
		t.Fatalf("floor %d, %d results", s.floor, len(s.results))
	}
	s.raiseFloor(5) // a lower floor changes nothing
	if s.floor != 7 || s.results[0].seq != 7 {
		t.Fatalf("a lower floor moved it to %d (first result %d)", s.floor, s.results[0].seq)
	}
}

// A log entry that carries a read (which is never proposed) is malformed:
// every replica skips it alike instead of panicking in exec (found by
// FuzzDecodeEntry; its input is in the seed corpus).
func TestEntryCarryingAReadIsMalformed(t *testing.T) {
	for _, kind := range []opKind{opResolve, opStaleResolve} {
		b := encodeEntry(&entry{from: origin{session: 1, seq: 1}, floor: 1, op: op{kind: kind, name: "f.org"}})
		if _, err := decodeEntry(b); err == nil {
			t.Fatalf("%s: an entry carrying a read decoded", opNames[kind])
		}
		m := newMachine()
		if got := m.apply(1, 1, b); got.reason != reasonMalformed || got.hasOrigin {
			t.Fatalf("%s: applied as %+v, want skipped as malformed", opNames[kind], got)
		}
		m.checkInvariants()
	}
}

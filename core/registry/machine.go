package registry

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"slices"

	"lukechampine.com/blake3"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/wire"
)

// Replicated state limits. Their worst-case encoded sizes add up to less
// than SnapshotBytesMax (asserted in a test), so a snapshot always fits in
// one OAP/1 frame and one disk value.
const (
	// NamesMax bounds the claimed names; a claim of a new name beyond it
	// is refused (code codeTooLarge, reported as ErrRegistryFull).
	NamesMax = 1024
	// DescriptorsMax bounds the node descriptors.
	DescriptorsMax = 128
	// SessionsMax bounds the dedup table's client sessions; beyond it the
	// session applied least recently is evicted.
	SessionsMax = 128
	// SessionResultsMax bounds the results remembered per session.
	SessionResultsMax = 64
	// SnapshotBytesMax bounds the encoded state.
	SnapshotBytesMax = 800 << 10
)

// nameRecord is one claimed name.
type nameRecord struct {
	owner  [32]byte
	target proto.Addr
	seq    uint64
	// tenant is the digest of the tenant whose claim created the name
	// (zero: created before VersionQuota, by an exempt token, or by a
	// client that named no tenant: counted for no one).
	tenant [TenantDigestBytes]byte
}

// sessionKey names one incarnation of a client node.
type sessionKey struct {
	node    proto.NodeID
	session uint64
}

func (a sessionKey) compare(b sessionKey) int {
	if c := a.node.Compare(b.node); c != 0 {
		return c
	}
	switch {
	case a.session < b.session:
		return -1
	case a.session > b.session:
		return 1
	}
	return 0
}

// cachedResult is the remembered outcome of one applied write.
type cachedResult struct {
	seq     uint64 // the op's number in its session
	code    code
	nameSeq uint64 // the name's (or descriptor's) seq after the op
}

// session is the dedup state of one client session.
//
// Invariants: results ascend by seq, every seq >= floor, at most
// SessionResultsMax of them. An op numbered below floor is "expired": the
// origin no longer waits for it, and it may already have been applied, so it
// is never applied again (its retry gets ErrUnknownOutcome).
type session struct {
	floor     uint64
	lastIndex uint64 // log index of the last entry applied for it
	results   []cachedResult
}

// machine is the replicated state: names, descriptors, the dedup table and
// the hash chain over every applied entry. apply is a pure function of the
// state and the entry, so every replica computes the same results.
type machine struct {
	names map[string]*nameRecord
	// created counts, per tenant digest, the names whose record carries
	// it. It is derived from names (rebuilt on decode), not encoded.
	created     map[[TenantDigestBytes]byte]int
	descs       map[proto.NodeID]*descriptor
	sessions    map[sessionKey]*session
	applied     uint64
	appliedTerm uint64
	chain       [32]byte
	// revs is the revocation list; revClock is the latest proposer stamp
	// of an applied Revoke, the only "now" pruning uses (revoke.go).
	revs     map[auth.TokenID]*revocation
	revClock env.Time
	// clusterVersion is the entry version every replica was known to read
	// when an opClusterVersion entry raised it (VersionBase until then).
	// Entries of a higher version are rejected at apply.
	clusterVersion uint64
	// admins are Config.AdminKeys (not state: configuration every replica
	// shares, checked again at apply).
	admins [][ed25519.PublicKeySize]byte
	// chainScratch is extendChain's reusable input buffer (not state).
	chainScratch []byte
	// sessionsChecked is 1 + the applied index at which checkInvariants
	// last walked the sessions (0: never). Sessions change only when an
	// entry is applied (or in a new machine), so the O(sessions) walk is
	// repeated only after one was; the node checks after every step.
	sessionsChecked uint64
}

func newMachine() *machine {
	return &machine{names: map[string]*nameRecord{}, created: map[[TenantDigestBytes]byte]int{}, descs: map[proto.NodeID]*descriptor{},
		sessions: map[sessionKey]*session{}, revs: map[auth.TokenID]*revocation{}, clusterVersion: VersionBase}
}

// applied is what apply reports about one entry.
type appliedEntry struct {
	hasOrigin bool
	from      origin
	op        op
	code      code
	nameSeq   uint64
	reason    string // a reject reason when the entry itself was invalid
	// untenanted: a Claim at VersionQuota or above created its name
	// without a tenant, counted for no one (MetricClaimsUntenanted).
	untenanted bool
}

// apply applies one committed entry. Empty entries (a new leader's no-op)
// and undecodable ones only advance the index and the chain.
func (m *machine) apply(index, term uint64, data []byte) appliedEntry {
	if index != m.applied+1 {
		panic(fmt.Sprintf("registry: applying index %d after %d", index, m.applied))
	}
	m.extendChain(index, term, data)
	m.applied, m.appliedTerm = index, term
	if len(data) == 0 {
		return appliedEntry{}
	}
	e, err := decodeEntry(data)
	if err != nil {
		return appliedEntry{reason: reasonMalformed}
	}
	if e.op.kind == opClusterVersion || e.version > m.clusterVersion {
		return appliedEntry{reason: m.applyVersion(&e)}
	}
	out := appliedEntry{hasOrigin: true, from: e.from, op: e.op}
	if c, reason := validateOp(&e.op); c != codeOK {
		out.code, out.reason = c, reasonApplyInvalid+"_"+reason
		return out
	}
	untenanted := e.op.kind == opClaim && e.op.tenant == [TenantDigestBytes]byte{} &&
		m.clusterVersion >= VersionQuota && m.names[e.op.name] == nil
	out.code, out.nameSeq = m.dedupApply(index, &e)
	out.untenanted = untenanted && m.names[e.op.name] != nil
	return out
}

// extendChain sets chain = BLAKE3-256(chain || index || term || data). It
// hashes one contiguous copy with Sum256 rather than streaming into a
// blake3.New hasher: the hasher is a 3 KiB allocation per applied entry,
// a fifth of all the bytes a registry run allocated. The digest is the same.
func (m *machine) extendChain(index, term uint64, data []byte) {
	b := append(m.chainScratch[:0], m.chain[:]...)
	b = binary.BigEndian.AppendUint64(b, index)
	b = binary.BigEndian.AppendUint64(b, term)
	b = append(b, data...)
	m.chain = blake3.Sum256(b)
	m.chainScratch = b[:0]
}

// dedupApply runs e.op at most once per (origin, seq).
func (m *machine) dedupApply(index uint64, e *entry) (code, uint64) {
	key := sessionKey{e.from.node, e.from.session}
	s := m.sessions[key]
	if s != nil {
		if e.from.seq < s.floor {
			return codeUnknownOutcome, 0
		}
		for _, r := range s.results {
			if r.seq == e.from.seq {
				return r.code, r.nameSeq
			}
		}
	}
	c, nameSeq := m.exec(&e.op)
	if s == nil {
		s = m.newSession(key)
	}
	s.lastIndex = index
	s.results = append(s.results, cachedResult{seq: e.from.seq, code: c, nameSeq: nameSeq})
	slices.SortFunc(s.results, func(a, b cachedResult) int { return cmpUint64(a.seq, b.seq) })
	s.raiseFloor(e.floor)
	return c, nameSeq
}

func (m *machine) newSession(key sessionKey) *session {
	if len(m.sessions) >= SessionsMax {
		var victim sessionKey
		var victimIndex uint64
		first := true
		// map order ok: the minimum by (lastIndex, key) is order-independent.
		for k, s := range m.sessions {
			if first || s.lastIndex < victimIndex || (s.lastIndex == victimIndex && k.compare(victim) < 0) {
				victim, victimIndex, first = k, s.lastIndex, false
			}
		}
		delete(m.sessions, victim)
	}
	s := &session{}
	m.sessions[key] = s
	return s
}

// raiseFloor forgets results below floor and, past SessionResultsMax, the
// oldest results (which then count as expired).
func (s *session) raiseFloor(floor uint64) {
	if floor > s.floor {
		s.floor = floor
	}
	i := 0
	if over := len(s.results) - SessionResultsMax; over > 0 {
		i, s.floor = over, s.results[over-1].seq+1
	}
	for i < len(s.results) && s.results[i].seq < s.floor {
		i++
	}
	// In place: the next result appended reuses the array (results hold no
	// pointers, and nothing else refers to the array).
	s.results = s.results[:copy(s.results, s.results[i:])]
}

func cmpUint64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// exec is the sequential specification (specs/namespec) plus descriptors,
// revocations and capacity limits. A Set's signature is not checked here:
// its proposer verified it (doc.go, "Signatures").
func (m *machine) exec(o *op) (code, uint64) {
	switch o.kind {
	case opClaim:
		rec := m.names[o.name]
		if rec == nil {
			counted := o.tenant != [TenantDigestBytes]byte{}
			if counted && o.quota > 0 && uint64(m.created[o.tenant]) >= o.quota {
				return codeNameQuota, 0
			}
			if len(m.names) >= NamesMax {
				return codeTooLarge, 0
			}
			m.names[o.name] = &nameRecord{owner: o.owner, tenant: o.tenant}
			if counted {
				m.created[o.tenant]++
			}
			return codeOK, 0
		}
		if rec.owner != o.owner {
			return codeTaken, rec.seq
		}
		return codeOK, rec.seq
	case opSet:
		rec := m.names[o.name]
		if c, seq := setOutcome(rec, o); c != codeOK {
			return c, seq
		}
		rec.target, rec.seq = o.target, o.seq
		return codeOK, rec.seq
	case opDescribe:
		return m.describe(&o.desc)
	case opRevoke:
		return m.revoke(o), 0
	}
	panic(fmt.Sprintf("registry: exec of op kind %v", o.kind))
}

// setOutcome is a Set's verdict on a name's record (nil: unclaimed):
// codeOK when it applies, else the refusal and the name's seq. exec
// applies by it, and a conflict check (Registry.checked) refuses by it.
func setOutcome(rec *nameRecord, o *op) (code, uint64) {
	switch {
	case rec == nil:
		return codeNotFound, 0
	case rec.owner != o.owner:
		return codeNotOwner, rec.seq
	case o.seq != rec.seq+1:
		return codeStaleSeq, rec.seq
	}
	return codeOK, rec.seq
}

func (m *machine) describe(d *descriptor) (code, uint64) {
	old := m.descs[d.node]
	if old != nil && d.seq <= old.seq {
		return codeStaleSeq, old.seq
	}
	if old == nil && len(m.descs) >= DescriptorsMax {
		return codeTooLarge, 0
	}
	c := *d
	c.addrs = append([]string(nil), d.addrs...)
	m.descs[d.node] = &c
	return codeOK, d.seq
}

// lookup reads a name from the applied state.
func (m *machine) lookup(name string) Record {
	rec := m.names[name]
	if rec == nil {
		return Record{}
	}
	return Record{Found: true, Owner: append([]byte(nil), rec.owner[:]...), Target: rec.target, Seq: rec.seq}
}

// descriptors returns every descriptor, sorted by node id.
func (m *machine) descriptors() []NodeDescriptor {
	out := make([]NodeDescriptor, 0, len(m.descs))
	for _, id := range env.SortedKeysFunc(m.descs, proto.NodeID.Compare) {
		out = append(out, m.descs[id].public())
	}
	return out
}

// appendContent appends the canonical encoding of names, descriptors and
// sessions, each sorted by key.
func (m *machine) appendContent(b []byte) []byte {
	names := env.SortedKeys(m.names)
	b = wire.AppendUvarint(b, uint64(len(names)))
	for _, n := range names {
		r := m.names[n]
		b = wire.AppendString(b, n)
		b = append(b, r.owner[:]...)
		b = append(b, r.target[:]...)
		b = wire.AppendUvarint(b, r.seq)
		if m.clusterVersion >= VersionQuota {
			b = append(b, r.tenant[:]...)
		}
	}
	ids := env.SortedKeysFunc(m.descs, proto.NodeID.Compare)
	b = wire.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		b = appendDescriptor(b, m.descs[id])
	}
	keys := env.SortedKeysFunc(m.sessions, sessionKey.compare)
	b = wire.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		s := m.sessions[k]
		b = append(b, k.node[:]...)
		b = wire.AppendUvarint(b, k.session)
		b = wire.AppendUvarint(b, s.floor)
		b = wire.AppendUvarint(b, s.lastIndex)
		b = wire.AppendUvarint(b, uint64(len(s.results)))
		for _, r := range s.results {
			b = wire.AppendUvarint(b, r.seq)
			b = append(b, byte(r.code))
			b = wire.AppendUvarint(b, r.nameSeq)
		}
	}
	b = m.appendRevocations(b)
	if m.clusterVersion > VersionBase {
		// Only above the base, so a base cluster's state (and its hash)
		// is what builds without cluster versions wrote.
		b = wire.AppendUvarint(b, m.clusterVersion)
	}
	return b
}

// encode is the canonical state encoding: the cluster version, applied
// index and term, the chain hash, then the content.
func (m *machine) encode() []byte {
	b := []byte{byte(m.clusterVersion)}
	b = wire.AppendUvarint(b, m.applied)
	b = wire.AppendUvarint(b, m.appliedTerm)
	b = append(b, m.chain[:]...)
	return m.appendContent(b)
}

// stateHash is the BLAKE3 of the canonical content encoding.
func (m *machine) stateHash() [32]byte {
	return blake3.Sum256(m.appendContent(nil))
}

// decodeMachine parses encode's output, checking every limit, key order and
// name, so that a snapshot from disk or a peer is as valid as one built by
// apply.
func decodeMachine(data []byte) (*machine, error) {
	m := newMachine()
	r := wire.NewReader(data)
	if m.clusterVersion = r.Uint(versionLast); m.clusterVersion < VersionBase && r.Err() == nil {
		return nil, fmt.Errorf("registry: state version %d: %w", m.clusterVersion, wire.ErrMalformed)
	}
	m.applied, m.appliedTerm = r.Uvarint(), r.Uvarint()
	r.Fixed(m.chain[:])
	if err := m.readNames(r); err != nil {
		return nil, err
	}
	if err := m.readDescs(r); err != nil {
		return nil, err
	}
	if err := m.readSessions(r); err != nil {
		return nil, err
	}
	if err := m.readRevocations(r); err != nil {
		return nil, err
	}
	if m.clusterVersion > VersionBase && r.Uvarint() != m.clusterVersion && r.Err() == nil {
		return nil, fmt.Errorf("registry: state cluster version disagrees with its header: %w", wire.ErrMalformed)
	}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("registry: decoding state: %w", err)
	}
	return m, nil
}

func (m *machine) readNames(r *wire.Reader) error {
	n := r.Count(NamesMax)
	prev := ""
	for i := 0; i < n && r.Err() == nil; i++ {
		name := r.String(NameBytesMax)
		rec := &nameRecord{}
		r.Fixed(rec.owner[:])
		r.Fixed(rec.target[:])
		rec.seq = r.Uvarint()
		if m.clusterVersion >= VersionQuota {
			r.Fixed(rec.tenant[:])
		}
		if norm, err := NormalizeName(name); r.Err() == nil && (err != nil || norm != name || (i > 0 && name <= prev)) {
			return fmt.Errorf("registry: state name %q invalid or out of order: %w", name, wire.ErrMalformed)
		}
		m.names[name], prev = rec, name
		if rec.tenant != [TenantDigestBytes]byte{} {
			m.created[rec.tenant]++
		}
	}
	return nil
}

func (m *machine) readDescs(r *wire.Reader) error {
	n := r.Count(DescriptorsMax)
	var prev proto.NodeID
	for i := 0; i < n && r.Err() == nil; i++ {
		d := readDescriptor(r)
		if r.Err() == nil && i > 0 && d.node.Compare(prev) <= 0 {
			return fmt.Errorf("registry: state descriptors out of order: %w", wire.ErrMalformed)
		}
		m.descs[d.node], prev = &d, d.node
	}
	return nil
}

func (m *machine) readSessions(r *wire.Reader) error {
	n := r.Count(SessionsMax)
	var prev sessionKey
	for i := 0; i < n && r.Err() == nil; i++ {
		var k sessionKey
		r.Fixed(k.node[:])
		k.session = r.Uvarint()
		s := &session{floor: r.Uvarint(), lastIndex: r.Uvarint()}
		count := r.Count(SessionResultsMax)
		for j := 0; j < count && r.Err() == nil; j++ {
			s.results = append(s.results, cachedResult{seq: r.Uvarint(), code: code(r.Uint(uint64(codeEnd - 1))), nameSeq: r.Uvarint()})
		}
		if r.Err() == nil && ((i > 0 && k.compare(prev) <= 0) || !s.valid()) {
			return fmt.Errorf("registry: state session invalid or out of order: %w", wire.ErrMalformed)
		}
		m.sessions[k], prev = s, k
	}
	return nil
}

func (s *session) valid() bool {
	if len(s.results) > SessionResultsMax {
		return false
	}
	for i, r := range s.results {
		if r.seq < s.floor || (i > 0 && r.seq <= s.results[i-1].seq) {
			return false
		}
	}
	return true
}

// checkInvariants panics if a limit or a session invariant is broken.
func (m *machine) checkInvariants() {
	if len(m.names) > NamesMax || len(m.descs) > DescriptorsMax || len(m.sessions) > SessionsMax || len(m.revs) > RevocationsMax {
		panic(fmt.Sprintf("registry: state over limits: %d names, %d descriptors, %d sessions, %d revocations",
			len(m.names), len(m.descs), len(m.sessions), len(m.revs)))
	}
	if m.sessionsChecked == m.applied+1 {
		return
	}
	// map order ok: each session is checked on its own; the first failure panics.
	for _, s := range m.sessions {
		if !s.valid() {
			panic(fmt.Sprintf("registry: session invariant broken: floor %d, results %v", s.floor, s.results))
		}
	}
	m.sessionsChecked = m.applied + 1
}

package registry

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
	"github.com/ron-network/ron/core/proto/wire"
)

// Revocation limits (see doc.go, "Revocations").
const (
	// RevocationsMax bounds the replicated revocation list; a Revoke that
	// finds it full after pruning gets ErrTooLarge.
	RevocationsMax = 1024
	// RevocationRetainAfterExpiry is how long after a revoked token's
	// expiry its entry is kept, measured by the proposers' stamps. A
	// verifier denies the token as expired once its clock reads expiry +
	// auth.ClockSkewMax; its clock may lag true time by up to ClockSkewMax
	// and the stamping replica's may lead by as much, so three allowances
	// keep the entry until every verifier denies the token anyway.
	RevocationRetainAfterExpiry = 3 * auth.ClockSkewMax
	// RevocationsPerPullMax bounds the entries of one pull answer (about
	// 50 bytes each); a puller with more to learn asks again next time.
	RevocationsPerPullMax = 256
	// RevocationPullIntervalDefault is the pull period callers enabling
	// Config.RevocationPullInterval should start from. A non-replica
	// learns a revocation within one interval plus a round trip of its
	// commit, while it can reach a replica that applied it.
	RevocationPullIntervalDefault = time.Second
)

// MetricRevocations is the size of a node's revocation view.
const MetricRevocations = "registry_revocations"

var _ = env.Declare(env.MetricDef{Name: MetricRevocations, Kind: env.Gauge,
	Help: "Revoked token ids this node knows (applied state on a replica, pulled view elsewhere)."})

// Reject reasons of revocations.
const (
	reasonNotAdmin        = "not_admin"
	reasonRevocationsFull = "revocations_full"
)

// revocation is one entry of the list: the token's expiry and the log
// index that last changed the entry (what "since index N" pulls compare).
type revocation struct {
	until env.Time
	index uint64
}

// revEntry is a revocation on the wire.
type revEntry struct {
	id    auth.TokenID
	until env.Time
	index uint64
}

func appendRevoke(b []byte, o *op) []byte {
	b = append(b, o.token[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(o.until))
	b = binary.BigEndian.AppendUint64(b, uint64(o.stamp))
	b = append(b, o.owner[:]...)
	return append(b, o.sig[:]...)
}

func readRevoke(r *wire.Reader, o *op) {
	var until, stamp [8]byte
	r.Fixed(o.token[:])
	r.Fixed(until[:])
	r.Fixed(stamp[:])
	r.Fixed(o.owner[:])
	r.Fixed(o.sig[:])
	o.until = env.Time(binary.BigEndian.Uint64(until[:]))
	o.stamp = env.Time(binary.BigEndian.Uint64(stamp[:]))
}

// adminsOf converts Config.AdminKeys; a key of the wrong size is a
// programmer error.
func adminsOf(keys []ed25519.PublicKey) [][ed25519.PublicKeySize]byte {
	out := make([][ed25519.PublicKeySize]byte, len(keys))
	for i, k := range keys {
		if len(k) != ed25519.PublicKeySize {
			panic("registry: Config.AdminKeys holds a key that is not an ed25519 public key")
		}
		copy(out[i][:], k)
	}
	return out
}

// checkRevoke is the admin and signature check of a Revoke, run at ingress
// (with the node's config) and at apply (with the replica's, which must be
// the same).
func checkRevoke(admins [][ed25519.PublicKeySize]byte, o *op) (code, string) {
	if !slices.Contains(admins, o.owner) {
		return codeNotAdmin, reasonNotAdmin
	}
	if !ed25519.Verify(ed25519.PublicKey(o.owner[:]), RevokeSigningBytes(o.token, o.until), o.sig[:]) {
		return codeBadSignature, reasonBadSignature
	}
	return codeOK, ""
}

// revoke applies a Revoke: prune by the stamps, then add or extend. A
// token already past retention is not added (it is denied as expired).
func (m *machine) revoke(o *op) code {
	if c, _ := checkRevoke(m.admins, o); c != codeOK {
		return c
	}
	m.revClock = max(m.revClock, o.stamp)
	m.pruneRevocations()
	if m.prunable(o.until) {
		return codeOK
	}
	if rv := m.revs[o.token]; rv != nil {
		rv.until, rv.index = max(rv.until, o.until), m.applied
		return codeOK
	}
	if len(m.revs) >= RevocationsMax {
		return codeTooLarge
	}
	m.revs[o.token] = &revocation{until: o.until, index: m.applied}
	return codeOK
}

// prunable reports whether an entry until this expiry is useless by
// revClock. Pruning depends only on replicated state, never on the
// applying replica's clock, so every replica prunes alike.
func (m *machine) prunable(until env.Time) bool {
	if until > math.MaxInt64-env.Time(RevocationRetainAfterExpiry) {
		return false
	}
	return m.revClock >= until+env.Time(RevocationRetainAfterExpiry)
}

func (m *machine) pruneRevocations() {
	// map order ok: deleting entries is order-independent.
	for id, rv := range m.revs {
		if m.prunable(rv.until) {
			delete(m.revs, id)
		}
	}
}

// revocationsSince returns the entries changed after index since, by
// index, at most RevocationsPerPullMax, and the index the answer is
// complete through.
func (m *machine) revocationsSince(since uint64) ([]revEntry, uint64) {
	var out []revEntry
	// map order ok: the matches are sorted below.
	for id, rv := range m.revs {
		if rv.index > since {
			out = append(out, revEntry{id: id, until: rv.until, index: rv.index})
		}
	}
	slices.SortFunc(out, func(a, b revEntry) int { return cmpUint64(a.index, b.index) })
	if len(out) > RevocationsPerPullMax {
		out = out[:RevocationsPerPullMax]
		return out, out[len(out)-1].index
	}
	return out, m.applied
}

func (m *machine) appendRevocations(b []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(m.revClock))
	ids := env.SortedKeysFunc(m.revs, func(a, b auth.TokenID) int { return bytes.Compare(a[:], b[:]) })
	b = wire.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		rv := m.revs[id]
		b = append(b, id[:]...)
		b = binary.BigEndian.AppendUint64(b, uint64(rv.until))
		b = wire.AppendUvarint(b, rv.index)
	}
	return b
}

func (m *machine) readRevocations(r *wire.Reader) error {
	var clock [8]byte
	r.Fixed(clock[:])
	m.revClock = env.Time(binary.BigEndian.Uint64(clock[:]))
	n := r.Count(RevocationsMax)
	var prev auth.TokenID
	for i := 0; i < n && r.Err() == nil; i++ {
		var id auth.TokenID
		var until [8]byte
		r.Fixed(id[:])
		r.Fixed(until[:])
		rv := &revocation{until: env.Time(binary.BigEndian.Uint64(until[:])), index: r.Uvarint()}
		if r.Err() == nil && ((i > 0 && bytes.Compare(id[:], prev[:]) <= 0) || rv.index > m.applied) {
			return fmt.Errorf("registry: state revocations out of order or from the future: %w", wire.ErrMalformed)
		}
		m.revs[id], prev = rv, id
	}
	return nil
}

// Revoked reports whether id is revoked as this node knows it: a replica
// answers from its applied state, a non-replica from the view it pulled
// (false when pulls are off). It implements auth.RevocationSet.
func (r *Registry) Revoked(id auth.TokenID) bool {
	if r.replica >= 0 {
		return r.m != nil && r.m.revs[id] != nil
	}
	return r.revView != nil && r.revView.Revoked(id)
}

// RevocationIndex is the log index this node's revocation view is complete
// through: the applied index on a replica, the pulled one elsewhere.
func (r *Registry) RevocationIndex() uint64 {
	if r.replica >= 0 {
		return r.AppliedIndex()
	}
	return r.revSince
}

var _ auth.RevocationSet = (*Registry)(nil)

// startPulls resets a non-replica's revocation view (it is volatile: a
// restart learns everything again) and pulls at once.
func (r *Registry) startPulls() {
	if r.cfg.RevocationPullInterval <= 0 {
		return
	}
	r.revView, r.revSince = auth.NewMemRevocations(), 0
	r.replicaHeard = r.env.Now() // ReplicasSilent's grace runs from the start
	r.onRevPull()
}

// onRevPull asks every replica for the revocations after revSince. Asking
// all of them costs a few small frames per interval and means one
// partitioned or lagging replica never delays the view.
func (r *Registry) onRevPull() {
	now := r.env.Now()
	if n := r.revView.Prune(now); n > 0 {
		r.env.Metrics().Set(MetricRevocations, "", float64(r.revView.Len()))
	}
	b := []byte{codecVersion, envRevPull}
	b = wire.AppendUvarint(b, r.session)
	b = wire.AppendUvarint(b, r.revSince)
	frame := oap.MustEncode(&oap.Frame{Header: oap.Header{Flags: oap.FlagREQ, AppProto: oap.ProtoRegistry}, Payload: b})
	for _, id := range r.cfg.Replicas {
		r.env.Send(id, frame)
	}
	if r.bug.PullRearmOnAnswer {
		r.revAwaiting = true
		return
	}
	r.env.SetTimer(r.env.Rand().Jitter(r.cfg.RevocationPullInterval, RetryJitterFrac), tagRevPull)
}

// onRevocationEnvelope handles the pull envelopes; it reports whether the
// payload was one.
func (r *Registry) onRevocationEnvelope(from proto.NodeID, payload []byte) bool {
	if len(payload) < 2 || payload[0] != codecVersion || (payload[1] != envRevPull && payload[1] != envRevList) {
		return false
	}
	rd := wire.NewReader(payload[2:])
	session, since := rd.Uvarint(), rd.Uvarint()
	if payload[1] == envRevPull {
		if rd.Done() != nil {
			r.env.Metrics().Add(MetricRejects, reasonMalformed, 1)
			return true
		}
		r.servePull(from, session, since)
		return true
	}
	through, entries := rd.Uvarint(), readRevEntries(rd)
	if rd.Done() != nil {
		r.env.Metrics().Add(MetricRejects, reasonMalformed, 1)
		return true
	}
	if r.replica < 0 && session == r.session && r.isReplica(from) {
		r.replicaHeard = r.env.Now() // for ReplicasSilent
	}
	r.mergePull(session, since, through, entries)
	return true
}

func readRevEntries(rd *wire.Reader) []revEntry {
	n := rd.Count(RevocationsPerPullMax)
	out := make([]revEntry, 0, n)
	for i := 0; i < n && rd.Err() == nil; i++ {
		var e revEntry
		var until [8]byte
		rd.Fixed(e.id[:])
		rd.Fixed(until[:])
		e.until, e.index = env.Time(binary.BigEndian.Uint64(until[:])), rd.Uvarint()
		out = append(out, e)
	}
	return out
}

// servePull answers a non-replica's pull from the applied state. A replica
// that is not running (recovering, failed) stays silent: its state may be
// incomplete or wrong, and the puller asks the others too.
func (r *Registry) servePull(to proto.NodeID, session, since uint64) {
	if r.replica < 0 || r.phase != phaseRunning {
		return
	}
	entries, through := r.m.revocationsSince(since)
	b := []byte{codecVersion, envRevList}
	b = wire.AppendUvarint(b, session)
	b = wire.AppendUvarint(b, since)
	b = wire.AppendUvarint(b, through)
	b = wire.AppendUvarint(b, uint64(len(entries)))
	for _, e := range entries {
		b = append(b, e.id[:]...)
		b = binary.BigEndian.AppendUint64(b, uint64(e.until))
		b = wire.AppendUvarint(b, e.index)
	}
	r.env.Send(to, oap.MustEncode(&oap.Frame{Header: oap.Header{Flags: oap.FlagRESP, AppProto: oap.ProtoRegistry}, Payload: b}))
}

// mergePull adds a pull answer to the view. The answer covers (since,
// through]; it extends the view only when since is within what the view
// already covers, which holds for every answer to this incarnation since
// revSince only grows (the session check drops older incarnations').
func (r *Registry) mergePull(session, since, through uint64, entries []revEntry) {
	if r.replica >= 0 || r.revView == nil || session != r.session || since > r.revSince {
		return
	}
	if r.bug.PullRearmOnAnswer && r.revAwaiting {
		r.revAwaiting = false
		r.env.SetTimer(r.env.Rand().Jitter(r.cfg.RevocationPullInterval, RetryJitterFrac), tagRevPull)
	}
	for _, e := range entries {
		if err := r.revView.Revoke(e.id, e.until); err != nil {
			r.env.Metrics().Add(MetricRejects, reasonRevocationsFull, 1)
			return // revSince stays: the entries are asked for again
		}
	}
	r.revSince = max(r.revSince, through)
	r.env.Metrics().Set(MetricRevocations, "", float64(r.revView.Len()))
}

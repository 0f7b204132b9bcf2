package registry

import (
	"crypto/ed25519"
	"fmt"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/wire"
)

// codecVersion starts every envelope and snapshot wrapper this package
// encodes, and every log entry while the cluster version is
// VersionBase. Log entries and snapshot states start with the cluster
// version they were written under (clusterversion.go).
const codecVersion = VersionBase

// opKind is the kind of a client operation, on the wire and in the log.
type opKind uint8

const (
	opClaim opKind = iota + 1
	opSet
	opDescribe
	opResolve
	opStaleResolve
	opRevoke
	// opClusterVersion raises the cluster version (clusterversion.go). It
	// exists only in log entries of version VersionTest and above: a
	// forwarded op or a version 1 entry cannot carry it.
	opClusterVersion
	opKindEnd
)

var opNames = [...]string{"", "claim", "set", "describe", "resolve", "stale_resolve", "revoke", "cluster_version"}

func (k opKind) String() string {
	if k > 0 && k < opKindEnd {
		return opNames[k]
	}
	return fmt.Sprintf("opKind(%d)", uint8(k))
}

func (k opKind) isWrite() bool {
	return k == opClaim || k == opSet || k == opDescribe || k == opRevoke
}

// op is a validated, normalised client operation. Keys and signatures are
// fixed-size arrays so that a decoded op can never carry a wrong size.
type op struct {
	kind   opKind
	name   string
	owner  [ed25519.PublicKeySize]byte
	target proto.Addr
	seq    uint64
	sig    [ed25519.SignatureSize]byte
	desc   descriptor
	// A Revoke's token and expiry (owner holds the admin key). stamp is
	// the proposing replica's clock, the "now" its apply prunes with.
	token auth.TokenID
	until env.Time
	stamp env.Time
	// A Claim's tenant (TenantDigest; zero: none, the claim is neither
	// counted nor bounded) and the quota its gateway applies (0: no
	// bound). Carried only by entries of VersionQuota and above.
	tenant [TenantDigestBytes]byte
	quota  uint64
}

// descriptor is NodeDescriptor with fixed-size key and signature.
type descriptor struct {
	node  proto.NodeID
	pub   [ed25519.PublicKeySize]byte
	addrs []string
	seq   uint64
	sig   [ed25519.SignatureSize]byte
}

func (d *descriptor) public() NodeDescriptor {
	return NodeDescriptor{NodeID: d.node, PublicKey: ed25519.PublicKey(append([]byte(nil), d.pub[:]...)),
		Addrs: append([]string(nil), d.addrs...), Seq: d.seq, Sig: append([]byte(nil), d.sig[:]...)}
}

func appendOp(b []byte, o *op) []byte {
	b = append(b, byte(o.kind))
	switch o.kind {
	case opClaim:
		b = wire.AppendString(b, o.name)
		b = append(b, o.owner[:]...)
	case opSet:
		b = wire.AppendString(b, o.name)
		b = append(b, o.target[:]...)
		b = wire.AppendUvarint(b, o.seq)
		b = append(b, o.owner[:]...)
		b = append(b, o.sig[:]...)
	case opDescribe:
		b = appendDescriptor(b, &o.desc)
	case opResolve, opStaleResolve:
		b = wire.AppendString(b, o.name)
	case opRevoke:
		b = appendRevoke(b, o)
	case opClusterVersion:
		b = wire.AppendUvarint(b, o.seq)
	default:
		panic(fmt.Sprintf("registry: encoding unknown op kind %d", o.kind))
	}
	return b
}

// readOp decodes a client op (never opClusterVersion). It checks shapes
// only; names and signatures are validated by validateOp, which both
// proposers and appliers run.
func readOp(r *wire.Reader) op {
	return readOpUpTo(r, opRevoke)
}

// readOpUpTo decodes an op whose kind is at most last.
func readOpUpTo(r *wire.Reader, last opKind) op {
	var o op
	o.kind = opKind(r.Uint(uint64(last)))
	switch o.kind {
	case opClaim:
		o.name = r.String(NameBytesMax)
		r.Fixed(o.owner[:])
	case opSet:
		o.name = r.String(NameBytesMax)
		r.Fixed(o.target[:])
		o.seq = r.Uvarint()
		r.Fixed(o.owner[:])
		r.Fixed(o.sig[:])
	case opDescribe:
		o.desc = readDescriptor(r)
	case opResolve, opStaleResolve:
		o.name = r.String(NameBytesMax)
	case opRevoke:
		readRevoke(r, &o)
	case opClusterVersion:
		o.seq = r.Uvarint()
	default:
		r.Fixed(make([]byte, r.Remaining()+1)) // forces the sticky error
	}
	return o
}

func appendDescriptor(b []byte, d *descriptor) []byte {
	b = append(b, d.node[:]...)
	b = append(b, d.pub[:]...)
	b = wire.AppendUvarint(b, uint64(len(d.addrs)))
	for _, a := range d.addrs {
		b = wire.AppendString(b, a)
	}
	b = wire.AppendUvarint(b, d.seq)
	return append(b, d.sig[:]...)
}

func readDescriptor(r *wire.Reader) descriptor {
	var d descriptor
	r.Fixed(d.node[:])
	r.Fixed(d.pub[:])
	n := r.Count(DescriptorAddrsMax)
	for i := 0; i < n && r.Err() == nil; i++ {
		d.addrs = append(d.addrs, r.String(DescriptorAddrBytesMax))
	}
	d.seq = r.Uvarint()
	r.Fixed(d.sig[:])
	return d
}

// origin names one client op globally: the node that accepted it, that
// node's session (drawn afresh at every start) and the op's number in the
// session. Floor is the lowest number the origin still waits for; results
// below it may be forgotten.
type origin struct {
	node    proto.NodeID
	session uint64
	seq     uint64
}

// entry is the payload of a normal raft log entry: one write op and its
// origin, written under a cluster version (VersionBase..VersionTest; the
// layout is the same, the version byte says which builds may read it).
type entry struct {
	version uint64
	from    origin
	floor   uint64
	op      op
}

// encodeEntry encodes e; a zero version is VersionBase.
func encodeEntry(e *entry) []byte {
	version := max(e.version, VersionBase)
	if version > versionLast {
		panic(fmt.Sprintf("registry: encoding an entry of version %d", e.version))
	}
	b := []byte{byte(version)}
	b = append(b, e.from.node[:]...)
	b = wire.AppendUvarint(b, e.from.session)
	b = wire.AppendUvarint(b, e.from.seq)
	b = wire.AppendUvarint(b, e.floor)
	b = appendOp(b, &e.op)
	if version >= VersionQuota && e.op.kind == opClaim {
		b = append(b, e.op.tenant[:]...)
		b = wire.AppendUvarint(b, e.op.quota)
	}
	return b
}

func decodeEntry(data []byte) (entry, error) {
	var e entry
	r := wire.NewReader(data)
	e.version = r.Uint(versionLast)
	if e.version < VersionBase && r.Err() == nil {
		return e, fmt.Errorf("registry: entry version %d: %w", e.version, wire.ErrMalformed)
	}
	r.Fixed(e.from.node[:])
	e.from.session = r.Uvarint()
	e.from.seq = r.Uvarint()
	e.floor = r.Uvarint()
	last := opRevoke
	if e.version >= VersionTest {
		last = opClusterVersion
	}
	e.op = readOpUpTo(r, last)
	if e.version >= VersionQuota && e.op.kind == opClaim {
		r.Fixed(e.op.tenant[:])
		e.op.quota = r.Uvarint()
	}
	if err := r.Done(); err != nil {
		return e, fmt.Errorf("registry: decoding entry: %w", err)
	}
	if e.op.kind == opResolve || e.op.kind == opStaleResolve {
		// Reads are answered on a ReadIndex or locally, never logged: an
		// entry that carries one is malformed (apply used to panic on it).
		return e, fmt.Errorf("registry: entry carries a read (%s): %w", opNames[e.op.kind], wire.ErrMalformed)
	}
	return e, nil
}

// code is a Result.Err on the wire and in the dedup table.
type code uint8

const (
	codeOK code = iota
	codeTaken
	codeNotFound
	codeNotOwner
	codeStaleSeq
	codeBadSignature
	codeInvalidName
	codeTooLarge
	codeUnknownOutcome
	codeUnavailable
	codeFailed
	// codeRetry is internal: "not here, try another replica"; it never
	// reaches a client.
	codeRetry
	codeNotAdmin
	// codeUnknownRequest answers a request body the registry does not
	// know: a programmer error in the caller, not an outage.
	codeUnknownRequest
	// codeNotMember answers a forward from a node outside Config.Members.
	codeNotMember
	// codeNameQuota refuses a Claim of a new name whose tenant already
	// created as many names as the entry's quota (VersionQuota entries
	// only).
	codeNameQuota
	codeEnd
)

var codeErrs = [...]error{nil, ErrTaken, ErrNotFound, ErrNotOwner, ErrStaleSeq, ErrBadSignature,
	ErrInvalidName, ErrTooLarge, ErrUnknownOutcome, ErrUnavailable, ErrFailed, ErrUnavailable, ErrNotAdmin,
	node.ErrUnknownRequest, ErrNotMember, ErrNameQuota}

func (c code) err() error { return codeErrs[c] }

// envelope kinds: the first byte after the version of a ProtoRegistry
// payload.
const (
	envRaft    = 1 // a raftpb.Message, proto-encoded (raftcodec.go)
	envForward = 2 // a client op forwarded to a replica
	envReply   = 3 // the answer to a forwarded op
	envRevPull = 4 // a non-replica asks for the revocations since an index
	envRevList = 5 // a replica's answer to envRevPull
	// envVersion: a replica advertises the highest entry version it reads
	// (clusterversion.go); only builds reading above VersionBase send it.
	envVersion = 6
	// envForwardQ is envForward of a Claim that carries its tenant and
	// quota (VersionQuota). It is sent only to replicas of a cluster known
	// to be at VersionQuota or above, so every replica reads it: a replica
	// by its applied cluster version, a non-replica once a replica told it
	// (an envVersion answering a plain forwarded Claim).
	envForwardQ = 7
	// envStateQuery: a replica that started with no raft state asks the
	// others for theirs; envStateReply answers (amnesia.go).
	envStateQuery = 8
	envStateReply = 9
)

// forward carries a client op from its origin to a replica.
type forward struct {
	from  origin
	floor uint64
	op    op
}

// reply answers a forward. Leader is the replier's idea of the raft leader
// as a replica index plus one (0: unknown), so the origin can aim better.
type reply struct {
	session uint64
	seq     uint64
	code    code
	rec     Record
	leader  uint64
}

// encodeForward encodes f for a cluster known to be at version: a Claim
// carries its tenant and quota (envForwardQ) only at VersionQuota and
// above.
func encodeForward(f *forward, version uint64) []byte {
	kind := byte(envForward)
	quota := version >= VersionQuota && f.op.kind == opClaim
	if quota {
		kind = envForwardQ
	}
	b := []byte{codecVersion, kind}
	b = wire.AppendUvarint(b, f.from.session)
	b = wire.AppendUvarint(b, f.from.seq)
	b = wire.AppendUvarint(b, f.floor)
	b = appendOp(b, &f.op)
	if quota {
		b = append(b, f.op.tenant[:]...)
		b = wire.AppendUvarint(b, f.op.quota)
	}
	return b
}

func encodeReply(p *reply) []byte {
	b := []byte{codecVersion, envReply}
	b = wire.AppendUvarint(b, p.session)
	b = wire.AppendUvarint(b, p.seq)
	b = append(b, byte(p.code))
	b = wire.AppendBool(b, p.rec.Found)
	b = wire.AppendBytes(b, p.rec.Owner)
	b = append(b, p.rec.Target[:]...)
	b = wire.AppendUvarint(b, p.rec.Seq)
	b = wire.AppendBool(b, p.rec.Stale)
	return wire.AppendUvarint(b, p.leader)
}

// decodeEnvelope splits a payload into its kind and body, decoding forward
// and reply bodies. A raft body is returned raw for proto decoding.
func decodeEnvelope(payload []byte, from proto.NodeID) (kind byte, raw []byte, f forward, p reply, err error) {
	if len(payload) < 2 || payload[0] != codecVersion {
		return 0, nil, f, p, fmt.Errorf("registry: envelope header: %w", wire.ErrMalformed)
	}
	kind = payload[1]
	r := wire.NewReader(payload[2:])
	switch kind {
	case envRaft:
		return kind, payload[2:], f, p, nil
	case envForward, envForwardQ:
		f.from = origin{node: from, session: r.Uvarint(), seq: r.Uvarint()}
		f.floor = r.Uvarint()
		f.op = readOp(r)
		if kind == envForwardQ {
			if f.op.kind != opClaim && r.Err() == nil {
				return 0, nil, f, p, fmt.Errorf("registry: a tenant forward of a %s: %w", f.op.kind, wire.ErrMalformed)
			}
			r.Fixed(f.op.tenant[:])
			f.op.quota = r.Uvarint()
		}
	case envReply:
		p.session, p.seq = r.Uvarint(), r.Uvarint()
		p.code = code(r.Uint(uint64(codeEnd - 1)))
		p.rec.Found = r.Bool()
		if owner := r.Bytes(ed25519.PublicKeySize); len(owner) > 0 {
			p.rec.Owner = append(ed25519.PublicKey(nil), owner...)
		}
		r.Fixed(p.rec.Target[:])
		p.rec.Seq = r.Uvarint()
		p.rec.Stale = r.Bool()
		p.leader = r.Uvarint()
	default:
		return 0, nil, f, p, fmt.Errorf("registry: envelope kind %d: %w", kind, wire.ErrMalformed)
	}
	if err := r.Done(); err != nil {
		return 0, nil, f, p, fmt.Errorf("registry: decoding envelope: %w", err)
	}
	return kind, nil, f, p, nil
}

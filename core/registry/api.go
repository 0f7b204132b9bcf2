package registry

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"lukechampine.com/blake3"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/wire"
)

// Name and input limits (ARCHITECTURE 5.5).
const (
	// NameBytesMax bounds a whole normalised name.
	NameBytesMax = 253
	// LabelBytesMax bounds one dot-separated label of a name.
	LabelBytesMax = 63
	// DescriptorAddrsMax bounds the addresses of one node descriptor.
	DescriptorAddrsMax = 8
	// DescriptorAddrBytesMax bounds one address string of a descriptor.
	DescriptorAddrBytesMax = 128
)

// Sentinel errors carried in Result.Err. Every one is definite (the op had
// no effect) except ErrUnknownOutcome, and except nil (the op took effect).
var (
	ErrTaken          = errors.New("registry: name taken")
	ErrNotFound       = errors.New("registry: name not found")
	ErrNotOwner       = errors.New("registry: not the owner")
	ErrStaleSeq       = errors.New("registry: stale seq")
	ErrBadSignature   = errors.New("registry: bad signature")
	ErrInvalidName    = errors.New("registry: invalid name")
	ErrTooLarge       = errors.New("registry: too large")
	ErrUnknownOutcome = errors.New("registry: unknown outcome")
	ErrUnavailable    = errors.New("registry: unavailable")
	ErrFailed         = errors.New("registry: replica failed")
	// ErrNotAdmin: a Revoke signed by a key that is not in Config.AdminKeys.
	ErrNotAdmin = errors.New("registry: not an admin key")
	// ErrNotMember: the replica refused the forwarded op because this node
	// is not in its closed membership (Config.Members): the cluster's
	// members settings disagree, or the node was never admitted.
	ErrNotMember = errors.New("registry: this node is not a member of the cluster (the replica's membership does not list it)")
	// ErrSeqAhead: a Set whose seq is past the name's seq plus one (a
	// SeqAheadError says both). It is also ErrStaleSeq: the replicated
	// outcome is the same refusal; only the words differ.
	ErrSeqAhead = errors.New("registry: seq ahead of the name's")
	// ErrRegistryFull: a Claim of a new name while the registry holds
	// NamesMax names. It is also ErrTooLarge, the code the replicated
	// dedup table records for it; only the words (and the gateway's
	// status) differ, so the refusal says the registry is full.
	ErrRegistryFull error = registryFull{}
	// ErrNameQuota: a Claim of a new name whose tenant already created
	// as many names as the Claim's Quota (decided at apply, cluster-wide).
	ErrNameQuota = errors.New("registry: tenant name quota reached")
)

// errDescribeNotSelf refuses a Describe of another node sent by a node
// that is not a replica (doc.go, "Trust boundary"). It is ErrNotOwner:
// the node does not own the descriptor's node id.
var errDescribeNotSelf = fmt.Errorf("%w: a node that is not a replica may describe only itself (the descriptor's node id is not this node's)", ErrNotOwner)

type registryFull struct{}

func (registryFull) Error() string {
	return fmt.Sprintf("registry: full: it holds %d names, its limit; no new name can be claimed", NamesMax)
}

func (registryFull) Is(target error) bool { return target == ErrTooLarge }

// SeqAheadError is the error of a Set refused because its Seq is ahead
// of the name's: Seq is what the Set signed, Current the name's seq, so
// the next Set must sign Current+1. errors.Is matches ErrSeqAhead and
// ErrStaleSeq.
type SeqAheadError struct{ Seq, Current uint64 }

func (e *SeqAheadError) Error() string {
	return fmt.Sprintf("%v: seq %d, the name's seq is %d (a set signs %d)", ErrSeqAhead, e.Seq, e.Current, e.Current+1)
}

func (e *SeqAheadError) Is(target error) bool { return target == ErrSeqAhead || target == ErrStaleSeq }

// ingressErr is the Result.Err of a request refused at ingress with c
// for reason: a refused key (bad_key) is named, so the caller learns which
// key is unusable; anything else is c.err().
func ingressErr(o *op, c code, reason string) error {
	if reason == reasonDescribeNotSelf {
		return errDescribeNotSelf
	}
	if reason != reasonBadKey {
		return c.err()
	}
	which, key := "key", []byte(nil)
	switch o.kind {
	case opClaim, opSet:
		which, key = "owner key", o.owner[:]
	case opDescribe:
		which, key = "node descriptor's public key", o.desc.pub[:]
		// validateDescriptor's other bad_key: a usable key whose BLAKE3
		// is not the descriptor's node id.
		if proto.CheckPublicKey(key) == nil {
			return fmt.Errorf("%w: the node descriptor's node id is not BLAKE3 of its public key", c.err())
		}
	case opRevoke:
		which, key = "admin key", o.owner[:]
	}
	if key != nil {
		if err := proto.CheckPublicKey(key); err != nil {
			return fmt.Errorf("%w: the %s is not a usable ed25519 public key: %w", c.err(), which, err)
		}
	}
	return fmt.Errorf("%w: the %s is not a usable ed25519 public key (wrong size, small order or non-canonical)", c.err(), which)
}

// resultErr is the Result.Err of an op answered with c. It is computed
// where the answer is delivered (Registry.complete), never replicated:
// the dedup table and the wire keep the code, so builds that word the
// refusal differently agree on every entry's outcome.
func resultErr(o *op, c code, rec Record) error {
	switch {
	case c == codeTooLarge && o.kind == opClaim:
		return ErrRegistryFull
	case c == codeBadSignature && o.kind == opClaim: // a claim has no signature: its owner key was refused
		return fmt.Errorf("%w: the owner key is not a usable ed25519 public key (wrong size, small order or non-canonical)", ErrBadSignature)
	case c == codeNotOwner && o.kind == opDescribe: // apply never answers a Describe not_owner
		return errDescribeNotSelf
	case c == codeStaleSeq && o.kind == opSet && o.seq > rec.Seq+1:
		return &SeqAheadError{Seq: o.seq, Current: rec.Seq}
	case c == codeStaleSeq && o.kind == opSet:
		return fmt.Errorf("%w: seq %d, the name's seq is %d (a set signs %d)", ErrStaleSeq, o.seq, rec.Seq, rec.Seq+1)
	}
	return c.err()
}

// Claim takes a name for Owner: the first claim wins, the same owner
// claiming again succeeds (idempotent), another owner gets ErrTaken.
//
// Tenant and Quota bound the names a tenant creates, in the replicated
// state, once the cluster version is VersionQuota (doc.go, "Tenant
// quota"): a Claim of a new name is refused ErrNameQuota when names
// created by Tenant's claims already number Quota. An empty Tenant is
// neither counted nor bounded (an exempt token, a client that has no
// tenants); Quota 0 counts the name without a bound. Below VersionQuota
// both are dropped: the entry format cannot carry them.
type Claim struct {
	Name   string
	Owner  ed25519.PublicKey
	Tenant string
	Quota  uint64
}

// TenantDigestBytes is the size of a tenant's digest in log entries and
// the state: BLAKE3 of the tenant name, truncated. Tenants are minted by
// an admin, so a collision needs an admin to choose the names.
const TenantDigestBytes = 16

// TenantDigest is the digest a Claim's tenant is counted under.
func TenantDigest(tenant string) [TenantDigestBytes]byte {
	var d [TenantDigestBytes]byte
	if tenant == "" {
		return d
	}
	sum := blake3.Sum256(append([]byte("ron/registry/tenant\x00"), tenant...))
	copy(d[:], sum[:])
	return d
}

// Set points a claimed name at Target. It is a compare-and-set: it succeeds
// only when Seq is the name's current seq plus one. Sig is
// ed25519.Sign(ownerKey, SetSigningBytes(Name, Target, Seq)).
type Set struct {
	Name   string
	Target proto.Addr
	Seq    uint64
	Owner  ed25519.PublicKey
	Sig    []byte
}

// Resolve reads a name linearizably (raft ReadIndex).
type Resolve struct{ Name string }

// StaleResolve reads a name from the local replica's applied state without
// consulting raft. The answer is some state the name really had, possibly an
// old one; the Record says Stale.
type StaleResolve struct{ Name string }

// NodeDescriptor is a node's signed self-description, replicated for
// membership and bootstrap. Sig is ed25519.Sign(nodeKey,
// DescriptorSigningBytes(d)) and NodeID must be the BLAKE3 of PublicKey.
type NodeDescriptor struct {
	NodeID    proto.NodeID
	PublicKey ed25519.PublicKey
	Addrs     []string
	Seq       uint64
	Sig       []byte
}

// Describe registers (or replaces, with a higher Seq) a node descriptor.
type Describe struct{ Descriptor NodeDescriptor }

// Revoke adds a capability token to the replicated revocation list. It is
// accepted only when Admin is one of Config.AdminKeys and Sig is
// ed25519.Sign(adminKey, RevokeSigningBytes(ID, Until)). Until is how
// long the entry must last: once every clock is past it by the skew
// allowance the entry is pruned (see RevocationRetainAfterExpiry), and
// math.MaxInt64 keeps it for good. A token's expiry (auth.Effective(t).
// Expiry) is not a safe Until: the id names every token attenuated from
// the same base, which may expire later or never, so the gateway revokes
// with math.MaxInt64 (io/gateway revokeTarget). Revoking again keeps the
// later Until. It is idempotent.
type Revoke struct {
	ID    auth.TokenID
	Until env.Time
	Admin ed25519.PublicKey
	Sig   []byte
}

// Record is the state of one name as a reply reports it.
type Record struct {
	Found  bool
	Owner  ed25519.PublicKey
	Target proto.Addr
	Seq    uint64
	// Stale marks the answer of a StaleResolve.
	Stale bool
}

// Result is the reply value of every registry request: env.Reply(id, Result).
type Result struct {
	Err    error
	Record Record
}

// Bug switches select deliberately wrong behaviour so that the simulator can
// show it catches each. They take effect only in builds with the `canary`
// tag; otherwise they are ignored and the fact is logged and counted.
type Bug struct {
	// LocalResolve answers Resolve from local state without ReadIndex.
	LocalResolve bool
	// AckBeforeCommit replies ok to a Set as soon as it is proposed.
	AckBeforeCommit bool
	// SkipSync finishes a Ready without the DiskSync after its writes.
	SkipSync bool
	// PullRearmOnAnswer arms a non-replica's next revocation pull only
	// when an answer to the last one arrives, so a pull lost to a cut
	// ends the pulls for good and the node never learns later revocations.
	PullRearmOnAnswer bool
	// SlowElections multiplies the election timeout by 10: correct, but
	// every failover takes ten times as long.
	SlowElections bool
	// TrustForwarded skips a Set's signature check on the forwarding path:
	// a non-replica forwards without checking (the replica will), and the
	// replica serving a forward trusts the forwarder (it did).
	TrustForwarded bool
}

func (b Bug) any() bool {
	return b.LocalResolve || b.AckBeforeCommit || b.SkipSync || b.PullRearmOnAnswer || b.SlowElections || b.TrustForwarded
}

// Config configures a registry service. Zero durations and counts take
// the defaults below.
type Config struct {
	// Key is this node's identity key; it signs snapshots.
	Key ed25519.PrivateKey
	// Replicas are the raft voters, sorted ascending; raft id = index+1.
	// A node not listed is a non-replica that only forwards.
	Replicas []proto.NodeID
	// TickInterval is one raft tick (ElectionTicks of them make an election
	// timeout).
	TickInterval time.Duration
	// OpTimeout is how long a client op may take before ErrUnknownOutcome.
	OpTimeout time.Duration
	// SnapshotEntries is how many applied entries trigger a snapshot.
	SnapshotEntries uint64
	// SnapshotInterval is the longest time between snapshots while entries
	// are being applied.
	SnapshotInterval time.Duration
	// Bug selects canary bugs (canary builds only).
	Bug Bug
	// SyncBeforeSend makes a replica hold all of a Ready's messages and
	// its committed entries until the Ready's writes are durable. By
	// default a Ready's messages that promise no durable state leave when
	// it is taken (a leader's appends go out while it syncs its own copy)
	// and the committed entries it already holds durably are applied then,
	// and a leader applies what its followers' acknowledgements commit
	// while its own writes are in flight (registry.go, sendEarly,
	// applyDurable and applyCommittedAhead).
	SyncBeforeSend bool
	// Signatures, when set, memoises Set signature verifications; the
	// simulator shares one among the nodes of a world. Nil verifies every
	// time. See SignatureCache for why sharing cannot change an outcome.
	Signatures *SignatureCache
	// AdminKeys may sign Revoke ops. Every node must list the same keys: a
	// replica checks them at ingress and again at apply.
	AdminKeys []ed25519.PublicKey
	// VersionMax is the highest cluster version (log entry and snapshot
	// format) this replica reads and advertises; zero means VersionBase.
	// Above VersionBase the replica advertises it, and the leader raises
	// the cluster version once every replica does (clusterversion.go).
	// VersionBase, the test-only VersionTest and VersionQuota exist (rond
	// sets VersionQuota with cluster_name_quota). A non-replica reads no
	// log, so its VersionMax changes nothing: its forwarded Claims carry
	// their tenant once a replica says the cluster reached VersionQuota,
	// whatever it is (doc.go, "Tenant quota").
	VersionMax uint64
	// RevocationPullInterval is how often a non-replica pulls the
	// revocations it has not seen from every replica. Zero means never (the
	// node does not serve Revoked); unlike the other fields it has no
	// default, so clusters without capability checks send nothing extra.
	RevocationPullInterval time.Duration
	// Members is a closed membership (rond's: self, replicas, bootstrap
	// peers and the members setting; the same list storage and the DHT
	// serve). When set, every registry message from a node outside it
	// (a forwarded op of any kind, a revocation pull or list, a reply) is
	// refused and counted as registry_rejects_total{reason="not_member"};
	// a forward is answered ErrNotMember. Raft and version messages
	// require a replica whatever Members says. Empty: any node may
	// forward and pull (an open network; doc.go, "Membership").
	Members []proto.NodeID
	// Failed, when set, is called once when the replica moves to the
	// failed state (doc.go, "Failure states"): from then on it neither
	// votes nor steps raft until its node restarts it. The simulator
	// uses it to leave a failed replica out of the quorum it models.
	Failed func(err error, corruption bool)
}

// Defaults.
const (
	TickIntervalDefault     = 10 * time.Millisecond
	OpTimeoutDefault        = 2 * time.Second
	SnapshotEntriesDefault  = 1000
	SnapshotIntervalDefault = 30 * time.Second
	// ElectionTicks and HeartbeatTicks are raft's timeouts in ticks: a
	// heartbeat every 5 ticks (50 ms), an election timeout of 500 ms (raft
	// draws each follower's from [500, 1000) ms). The timeout is set above
	// the stalls a loaded machine gives a process (GC, descheduling, a slow
	// fsync that holds the leader's Ready, and with it its heartbeats):
	// 100 ms elected a new leader on every such stall (scenarios/
	// busy_leader.yaml: 18 leader changes seen in 40 s at 100 ms, 3 at
	// 500 ms, BENCHMARKS.md "Names: pipelining and tuning"). The price is a
	// longer failover when a leader really fails: 0.5-1 s instead of
	// 0.1-0.2 s.
	//
	// The heartbeat is a tenth of the election timeout, as in etcd's
	// defaults; CheckQuorum and PreVote still see ten of them per timeout.
	// At one a tick they were 400 frames a second between three replicas
	// (two heartbeats and two responses every 10 ms), each waking a loop
	// and a sender at both ends: three idle replicas spent 0.092 CPUs and
	// 7.4k context switches a second, and 0.062 and 4.3k at 5 ticks
	// (BENCHMARKS.md, "Raft heartbeat interval"). A ReadIndex is not slowed:
	// it sends its own heartbeat round at once. What is slower is catching
	// up a follower that lost an append while no new one follows: a lost
	// connection (env.TopicPeerUnreachable) only moves the follower to
	// probing, and the resend comes with the next append or the next
	// heartbeat response, now up to 50 ms plus a round trip later (the
	// simulator's lossy networks see it in their commit tails; production
	// frames ride QUIC, which retransmits them itself).
	ElectionTicks  = 50
	HeartbeatTicks = 5
)

func (c Config) withDefaults() Config {
	if c.TickInterval <= 0 {
		c.TickInterval = TickIntervalDefault
	}
	if c.OpTimeout <= 0 {
		c.OpTimeout = OpTimeoutDefault
	}
	if c.SnapshotEntries == 0 {
		c.SnapshotEntries = SnapshotEntriesDefault
	}
	if c.SnapshotInterval <= 0 {
		c.SnapshotInterval = SnapshotIntervalDefault
	}
	return c
}

// NormalizeName lowercases ASCII letters and checks the result against
// ARCHITECTURE 5.5: dot-separated labels of [a-z0-9-], each 1..63 bytes, at most
// 253 bytes in all. Anything else (non-ASCII, '_', empty labels, a trailing
// dot) is rejected rather than mapped, so that two different inputs never
// silently become the same name except by ASCII case. A name that is
// already normal is returned as it is, without a copy.
func NormalizeName(name string) (string, error) {
	if len(name) == 0 || len(name) > NameBytesMax {
		return "", ErrInvalidName
	}
	upper := false
	label := 0
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'A' && c <= 'Z':
			upper = true
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-':
		case c == '.':
			if label == 0 {
				return "", ErrInvalidName
			}
			label = 0
			continue
		default:
			return "", ErrInvalidName
		}
		label++
		if label > LabelBytesMax {
			return "", ErrInvalidName
		}
	}
	if label == 0 {
		return "", ErrInvalidName
	}
	if upper {
		return strings.ToLower(name), nil // ASCII only: the checks above passed
	}
	return name, nil
}

// SetSigningBytes is what an owner signs to authorise Set(name, target,
// seq). The name is normalised first, so "Foo" and "foo" sign alike; an
// invalid name is used as given (the Set is rejected anyway).
func SetSigningBytes(name string, target proto.Addr, seq uint64) []byte {
	return appendSetSigningBytes(nil, name, target, seq)
}

// appendSetSigningBytes appends SetSigningBytes(name, target, seq) to b.
func appendSetSigningBytes(b []byte, name string, target proto.Addr, seq uint64) []byte {
	if n, err := NormalizeName(name); err == nil {
		name = n
	}
	b = append(b, setSigningContext...)
	b = wire.AppendString(b, name)
	b = append(b, target[:]...)
	return binary.BigEndian.AppendUint64(b, seq)
}

// setSigningContext starts SetSigningBytes.
const setSigningContext = "ron/registry/set/v1\x00"

// DescriptorSigningBytes is what a node signs to publish d (every field
// except Sig).
func DescriptorSigningBytes(d NodeDescriptor) []byte {
	b := []byte("ron/registry/descriptor/v1\x00")
	b = append(b, d.NodeID[:]...)
	b = wire.AppendBytes(b, d.PublicKey)
	b = wire.AppendUvarint(b, uint64(len(d.Addrs)))
	for _, a := range d.Addrs {
		b = wire.AppendString(b, a)
	}
	return binary.BigEndian.AppendUint64(b, d.Seq)
}

// RevokeSigningBytes is what an admin signs to revoke token id until.
func RevokeSigningBytes(id auth.TokenID, until env.Time) []byte {
	b := []byte("ron/registry/revoke/v1\x00")
	b = append(b, id[:]...)
	return binary.BigEndian.AppendUint64(b, uint64(until))
}

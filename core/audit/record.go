package audit

import (
	"errors"
	"fmt"
	"math"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto/wire"
	"lukechampine.com/blake3"
)

// Record limits.
const (
	// ActorBytesMax bounds Record.Actor (a key id, node id or tenant).
	ActorBytesMax = 256
	// TenantBytesMax bounds Record.Tenant.
	TenantBytesMax = 128
	// SubjectBytesMax bounds Record.Subject (a token id, name, address).
	SubjectBytesMax = 1024
	// DetailBytesMax bounds Record.Detail (free text, a bundle digest, ...).
	DetailBytesMax = 2048
	// recordFormat is the canonical encoding's version.
	recordFormat = 1
)

// hashContext domain-separates record hashes from other BLAKE3 digests.
const hashContext = "ron-audit-v1\x00"

// Kind is what a record is about. Values are part of the encoding, and
// the hash covers them as a number: a verifier chains a record of any
// kind from 1 to 255 without knowing what it means (see "Kinds" in
// doc.go). Kind 0 is never assigned (a record of kind 0 is malformed).
type Kind uint8

const (
	KindTokenIssue   Kind = 1
	KindTokenRevoke  Kind = 2
	KindPolicyChange Kind = 3
	KindNameWrite    Kind = 4 // name claim or set
	KindDelete       Kind = 5
	KindQuotaReject  Kind = 6
	KindKeyRotate    Kind = 7
	// KindRetention announces a retention drop (retain.go): Subject is
	// the head of the records about to be dropped, the base after it
	// (FormatHead), chained before the drop so that every cut is
	// witnessed in the log.
	KindRetention Kind = 8
	// KindObjectWrite is a committed object write (PUT /o): Subject the
	// address, Detail its size and whether the node already stored it.
	// Objects have no owner; this record is how an operator finds what a
	// tenant stored.
	KindObjectWrite Kind = 9
	kindLast             = KindObjectWrite
	// KindNamedMax is the last kind the builds before unknown kinds were
	// tolerated know (KindRetention). Exports name kinds up to it by
	// name only, as those builds read them; a later kind's export also
	// carries its number (io/gateway's AuditRecord.KindCode), so that a
	// verifier that does not know its name can still hash it. Fixed: a
	// new kind does not move it.
	KindNamedMax = KindRetention
)

var kindNames = [...]string{"", "token_issue", "token_revoke", "policy_change", "name_write", "delete", "quota_reject", "key_rotate", "retention", "object_write"}

// String is the kind's name, or "unknown kind N" for a kind this build
// does not define (a record a newer build wrote, kept as it verifies).
func (k Kind) String() string {
	if k.Valid() {
		return kindNames[k]
	}
	return fmt.Sprintf("unknown kind %d", uint8(k))
}

// Valid reports whether this build defines k: the kinds it appends and
// acts on. A record may hold another kind (1..255): a newer build wrote
// it, its bytes and links verify like any other, and this build keeps it
// and treats it as opaque (doc.go, "Kinds").
func (k Kind) Valid() bool { return k >= KindTokenIssue && k <= kindLast }

// Errors. ErrBroken is wrapped by every chain verification failure;
// ErrMalformed by every decode failure.
var (
	ErrBroken    = errors.New("audit: chain broken")
	ErrMalformed = errors.New("audit: malformed record")
)

// Record is one entry of the append-only log. Seq starts at 1 and grows by
// one; Prev is the Hash of the record before (zero for Seq 1).
type Record struct {
	Seq     uint64
	Time    env.Time // >= 0
	Kind    Kind
	Actor   string
	Tenant  string
	Subject string
	Detail  string
	Prev    [32]byte
}

// Head names the newest record of a chain: its Seq and Hash. The zero
// Head is the empty chain. Saving a head outside the log (another node, an
// operator's notes) is what makes removal of the log's tail detectable.
type Head struct {
	Seq  uint64
	Hash [32]byte
}

func (r *Record) validate() error {
	switch {
	case r.Seq == 0:
		return errors.New("seq 0")
	case r.Time < 0:
		return fmt.Errorf("negative time %d", r.Time)
	case r.Kind == 0:
		// An unknown kind is not an error: the chain covers the number,
		// not its meaning (doc.go, "Kinds").
		return errors.New("kind 0")
	case len(r.Actor) > ActorBytesMax || len(r.Tenant) > TenantBytesMax ||
		len(r.Subject) > SubjectBytesMax || len(r.Detail) > DetailBytesMax:
		return errors.New("a text field exceeds its limit")
	}
	return nil
}

// Marshal is the canonical encoding, which Hash covers:
//
//	uvarint format=1 | uvarint seq | uvarint time | uvarint kind |
//	string actor | string tenant | string subject | string detail | raw[32] prev
func (r *Record) Marshal() []byte {
	b := make([]byte, 0, 64+len(r.Actor)+len(r.Tenant)+len(r.Subject)+len(r.Detail))
	b = wire.AppendUvarint(b, recordFormat)
	b = wire.AppendUvarint(b, r.Seq)
	b = wire.AppendUvarint(b, uint64(r.Time))
	b = wire.AppendUvarint(b, uint64(r.Kind))
	b = wire.AppendString(b, r.Actor)
	b = wire.AppendString(b, r.Tenant)
	b = wire.AppendString(b, r.Subject)
	b = wire.AppendString(b, r.Detail)
	return append(b, r.Prev[:]...)
}

// Hash is BLAKE3-256 over a context string and the canonical encoding.
func (r *Record) Hash() [32]byte {
	return blake3.Sum256(append([]byte(hashContext), r.Marshal()...))
}

// UnmarshalRecord decodes Marshal's output; only canonical bytes decode.
// A kind this build does not define decodes (Kind.Valid is false): the
// framing is the same for every kind, so re-encoding it gives back the
// bytes its hash covers.
func UnmarshalRecord(b []byte) (Record, error) {
	rd := wire.NewReader(b)
	if f := rd.Uvarint(); rd.Err() == nil && f != recordFormat {
		return Record{}, fmt.Errorf("%w: format %d", ErrMalformed, f)
	}
	r := Record{Seq: rd.Uvarint(), Time: env.Time(rd.Uint(math.MaxInt64)), Kind: Kind(rd.Uint(math.MaxUint8))}
	r.Actor = rd.String(ActorBytesMax)
	r.Tenant = rd.String(TenantBytesMax)
	r.Subject = rd.String(SubjectBytesMax)
	r.Detail = rd.String(DetailBytesMax)
	rd.Fixed(r.Prev[:])
	if err := rd.Done(); err != nil {
		return Record{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := r.validate(); err != nil {
		return Record{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return r, nil
}

// Verify checks that records form a chain from the start of the log: the
// first has Seq 1 and a zero Prev, each next one has the next Seq and the
// Hash of its predecessor as Prev, and every record is well formed (a
// kind this build does not define is: see "Kinds" in doc.go). It returns
// (-1, nil) for a good chain. Otherwise firstBad is the earliest index
// not vouched for: records[:firstBad] are proven intact by the links
// after them. Any altered, reordered, inserted or removed record breaks a
// link, except changes confined to the last record or removal of the tail,
// which only a saved head reveals (VerifyHead).
func Verify(records []Record) (firstBad int, err error) {
	return VerifyFrom(Head{}, records)
}

// VerifyFrom is Verify for a log whose records up to base were dropped by
// retention (base is HeadStatus.Base, RecordsPage.Base): the first record
// must have seq base.Seq+1 and link to base.Hash. The zero base is
// Verify. What it proves after retention: the records given are intact
// and follow, link by link, the dropped record base names; the dropped
// records themselves can no longer be checked, and the base is vouched
// for only by the node (or by a head saved before the drop with the same
// seq, which VerifyHeadFrom compares).
func VerifyFrom(base Head, records []Record) (firstBad int, err error) {
	prev := base
	for i := range records {
		r := &records[i]
		if err := r.validate(); err != nil {
			return max(i-1, 0), fmt.Errorf("%w: record %d: %v", ErrBroken, i, err)
		}
		if r.Seq != prev.Seq+1 {
			return max(i-1, 0), fmt.Errorf("%w: record %d has seq %d after seq %d", ErrBroken, i, r.Seq, prev.Seq)
		}
		if r.Prev != prev.Hash {
			return max(i-1, 0), fmt.Errorf("%w: record %d (seq %d) does not link to its predecessor", ErrBroken, i, r.Seq)
		}
		prev = Head{Seq: r.Seq, Hash: r.Hash()}
	}
	return -1, nil
}

// VerifyHead is Verify plus a check against a saved head: the record with
// head.Seq must exist and hash to head.Hash. Records appended after the
// head was saved are accepted if they chain. A log cut short of the head
// returns firstBad = len(records).
func VerifyHead(records []Record, head Head) (firstBad int, err error) {
	return VerifyHeadFrom(Head{}, records, head)
}

// VerifyHeadFrom is VerifyHead for a log retention cut at base (see
// VerifyFrom). A saved head at base.Seq is compared with base; one older
// than the base cannot be checked any more and returns an error wrapping
// ErrRetained (firstBad 0).
func VerifyHeadFrom(base Head, records []Record, head Head) (firstBad int, err error) {
	if i, err := VerifyFrom(base, records); err != nil {
		return i, err
	}
	if head.Seq == 0 {
		return -1, nil
	}
	switch {
	case head.Seq < base.Seq:
		return 0, fmt.Errorf("%w: saved head seq %d is older than the retained log (base seq %d)", ErrRetained, head.Seq, base.Seq)
	case head.Seq == base.Seq:
		if head.Hash != base.Hash {
			return 0, fmt.Errorf("%w: the retention base (seq %d) does not match the saved head", ErrBroken, base.Seq)
		}
		return -1, nil
	}
	end := base.Seq + uint64(len(records))
	if end < head.Seq {
		return len(records), fmt.Errorf("%w: log ends at seq %d, saved head is seq %d", ErrBroken, end, head.Seq)
	}
	i := int(head.Seq - base.Seq - 1) // VerifyFrom proved records[i].Seq == base.Seq+i+1
	if records[i].Hash() != head.Hash {
		return i, fmt.Errorf("%w: record seq %d does not match the saved head", ErrBroken, head.Seq)
	}
	return -1, nil
}

// HeadOf returns the head of a verified chain (the zero Head when empty).
func HeadOf(records []Record) Head {
	if len(records) == 0 {
		return Head{}
	}
	last := &records[len(records)-1]
	return Head{Seq: last.Seq, Hash: last.Hash()}
}

package gateway

import (
	"container/list"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ron-network/ron/core/audit"
	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/core/storage"
	"github.com/ron-network/ron/io/runtime"
)

// Audit from the gateway. The gateway runs outside the node loop, so it
// records events with an audit.Append call to the node's audit service
// rather than a bus publish. A failed append never fails the request it
// describes (the write already happened); it is logged and counted.
const (
	// MetricAuditFailures counts audit appends the node did not take.
	MetricAuditFailures = "gateway_audit_failures_total"
	// AuditCallTimeout bounds one append.
	AuditCallTimeout = 2 * time.Second
	// QuotaAuditsPerSecondMax paces quota-reject records: a flood of 429s
	// must not turn into a flood of calls into the node it protects.
	// Rejects beyond it are counted under reason "paced".
	QuotaAuditsPerSecondMax = 10
	// StoredWriteAuditsPerSecondMax paces the object_write records of
	// writes of stored bytes (already_stored) that are not repeats
	// (objectAudits): writes beyond it are counted under reason "paced"
	// and in the next such record's paced=N.
	StoredWriteAuditsPerSecondMax = 10
	// ObjectWritesRememberedMax bounds the (tenant, address) pairs whose
	// already_stored record objectAudits remembers; ClaimsUnknownMax
	// the (name, owner) pairs of claims of unknown outcome claimAudits
	// remembers. Both forget the least recently used pair past it.
	ObjectWritesRememberedMax = 4096
	ClaimsUnknownMax          = 4096
	// AuditPageRecords is the page size GET /audit reads with.
	AuditPageRecords = 256
	// AuditHeadHeader carries the log's head ("<seq>:<hash hex>") as it
	// was before GET /audit read the records, for audit.VerifyHead.
	AuditHeadHeader = "X-Ron-Audit-Head"
	// AuditBaseHeader carries the head of the records retention dropped
	// ("<seq>:<hash hex>", audit.RecordsPage.Base; "0:" and zeros when
	// none were): the stream starts at its seq+1, and the first record
	// links to its hash (audit.VerifyHeadFrom).
	AuditBaseHeader = "X-Ron-Audit-Base"
	// AuditCutTrailer is a trailer of GET /audit set when the stream ends
	// short of its head on purpose: "retention <base>" when retention
	// dropped records the stream had not reached (base in
	// AuditHeadHeader's form), "unreadable <seq>" at a record that does
	// not decode. A client tells a cut it can retry from missing records.
	AuditCutTrailer = "X-Ron-Audit-Cut"
	// AuditResource is the resource an admin token must cover to read
	// the log.
	AuditResource = "audit"
)

var _ = env.Declare(env.MetricDef{Name: MetricAuditFailures, Kind: env.Counter,
	Help: "Audit records the gateway did not append, by reason (error, paced, unchanged).", Label: "reason"})

// Audit appends e to the node's audit log.
func (g *Gateway) Audit(ctx context.Context, e audit.Event) error {
	ctx, cancel := context.WithTimeout(ctx, AuditCallTimeout)
	defer cancel()
	_, err := runtime.Call(ctx, g.cfg.Backend, audit.Append{Event: e})
	if err != nil {
		g.cfg.Metrics.Add(MetricAuditFailures, "error", 1)
		g.log.Warn("gateway: audit record not appended", "kind", e.Kind.String(), "err", err)
	}
	return err
}

// auditRequest records what req did. It runs after the write succeeded and
// detaches from the client's context: a client hanging up must not erase
// the record of what it changed.
func (g *Gateway) auditRequest(req *request, kind audit.Kind, subject, detail string) error {
	return g.Audit(context.Background(), audit.Event{Kind: kind, Actor: "token:" + req.tokenID,
		Tenant: req.tenant, Subject: subject, Detail: detail})
}

// Object write audit details: whether the node held the object before
// the write (content-addressed storage keeps one copy, so a write of
// stored bytes adds nothing). Only the audit log, which only an admin
// token reads, says which: the PUT's answer is the same 201 either way.
const (
	ObjectWriteNew    = "new"
	ObjectWriteStored = "already_stored"
)

// auditObjectWrite records a committed PUT /o: the tenant and token, the
// address, the size, and whether the object was new here (stored: the
// node held it before the commit, by a storage Has just before it; two
// racing writes of the same new bytes may both read "new"). A write of
// stored bytes adds nothing, so it is recorded once per (tenant,
// address) and paced (objectAudits); a new object is always recorded.
func (g *Gateway) auditObjectWrite(req *request, addr proto.Addr, size uint64, stored bool) {
	state := ObjectWriteNew
	if stored {
		key := req.tenant + "\x00" + string(addr[:])
		paced, reason := g.objectAudits.admit(key)
		if reason != "" {
			g.cfg.Metrics.Add(MetricAuditFailures, reason, 1)
			return
		}
		state = ObjectWriteStored
		if paced > 0 {
			state += fmt.Sprintf(" paced=%d", paced)
		}
		if g.auditRequest(req, audit.KindObjectWrite, addr.String(), fmt.Sprintf("size=%d %s", size, state)) == nil {
			g.objectAudits.mark(key)
		} else {
			g.objectAudits.unrecorded(paced)
		}
		return
	}
	_ = g.auditRequest(req, audit.KindObjectWrite, addr.String(), fmt.Sprintf("size=%d %s", size, state))
}

// objectAudits decides which writes of stored bytes (object_write
// records saying already_stored) are recorded. Re-PUTting a stored
// object at a tenant's request rate must not write a record per request:
// the log's retention would drop token, revocation and name records
// early. So a (tenant, address) pair is recorded once, and later writes
// of it are counted under MetricAuditFailures{reason="unchanged"}
// (remembered for the ObjectWritesRememberedMax pairs used last; a pair
// forgotten is recorded again). Pairs not seen yet, which a tenant
// cycling through more stored addresses than that produces, are paced to
// StoredWriteAuditsPerSecondMax records a second across tenants: those
// beyond are counted under reason "paced", and the next already_stored
// record says how many with paced=N (writes of any tenant between it and
// the previous recorded one that left no record). A pair is remembered
// only once its record was appended.
type objectAudits struct {
	mu    sync.Mutex
	seen  *recentKeys // tenant + "\x00" + address bytes
	pace  *auditLimiter
	paced int
}

func newObjectAudits(now func() time.Time) *objectAudits {
	return &objectAudits{seen: newRecentKeys(ObjectWritesRememberedMax), pace: newAuditLimiterMax(now, StoredWriteAuditsPerSecondMax)}
}

// admit decides the record of a write of stored bytes under key. It
// returns the reason it is not recorded ("unchanged", "paced"), or ""
// and how many writes the pace left unrecorded before it (the record
// carries the count; unrecorded gives it back when the append fails).
func (o *objectAudits) admit(key string) (paced int, reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.seen.has(key) {
		return 0, "unchanged"
	}
	if !o.pace.allow() {
		o.paced++
		return 0, "paced"
	}
	paced, o.paced = o.paced, 0
	return paced, ""
}

// mark remembers that a write of key was recorded.
func (o *objectAudits) mark(key string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seen.add(key)
}

// unrecorded gives back the paced count of a record that was not
// appended: the next record carries it.
func (o *objectAudits) unrecorded(paced int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.paced += paced
}

// recentKeys is a set of at most max keys that forgets the least recently
// used one to make room. Its owner locks it.
type recentKeys struct {
	max   int
	order list.List // of string, the most recently used at the front
	keys  map[string]*list.Element
}

func newRecentKeys(max int) *recentKeys {
	return &recentKeys{max: max, keys: map[string]*list.Element{}}
}

// has reports whether k is in the set, making it the most recently used.
func (s *recentKeys) has(k string) bool {
	e, ok := s.keys[k]
	if ok {
		s.order.MoveToFront(e)
	}
	return ok
}

func (s *recentKeys) add(k string) {
	if s.has(k) {
		return
	}
	if len(s.keys) >= s.max {
		oldest := s.order.Back()
		delete(s.keys, oldest.Value.(string))
		s.order.Remove(oldest)
	}
	s.keys[k] = s.order.PushFront(k)
}

func (s *recentKeys) remove(k string) {
	if e, ok := s.keys[k]; ok {
		delete(s.keys, k)
		s.order.Remove(e)
	}
}

// storedLocally reports whether this node already holds addr committed
// (false when storage does not answer: the record then says "new").
func (g *Gateway) storedLocally(req *request, addr proto.Addr) bool {
	res, err := call(g, req, storage.Has{Addr: addr})
	return err == nil && res.Local
}

func (g *Gateway) auditQuotaReject(req *request) {
	if !g.quotaAudits.allow() {
		g.cfg.Metrics.Add(MetricAuditFailures, "paced", 1)
		return
	}
	actor := "public"
	if req.tokenID != "" {
		actor = "token:" + req.tokenID
	}
	_ = g.Audit(context.Background(), audit.Event{Kind: audit.KindQuotaReject, Actor: actor,
		Tenant: req.tenant, Subject: req.r.Method + " " + req.r.URL.Path})
}

// auditLimiter allows max (newAuditLimiter: QuotaAuditsPerSecondMax)
// events per wall-clock second.
type auditLimiter struct {
	now    func() time.Time
	max    int
	mu     sync.Mutex
	second int64
	count  int
}

func newAuditLimiter(now func() time.Time) *auditLimiter {
	return newAuditLimiterMax(now, QuotaAuditsPerSecondMax)
}

func newAuditLimiterMax(now func() time.Time, max int) *auditLimiter {
	return &auditLimiter{now: now, max: max}
}

func (l *auditLimiter) allow() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.now().Unix(); s != l.second {
		l.second, l.count = s, 0
	}
	if l.count >= l.max {
		return false
	}
	l.count++
	return true
}

// claimAudits is the set of (name, owner) claims this gateway audited.
// The registry never releases a name and answers a claim by the owner
// that holds it with success and no change, so every later claim of the
// same name with the same owner is a no-op: it is counted under
// MetricAuditFailures{reason="unchanged"} instead of appending a record
// per request (a token re-claiming its name in a loop would otherwise
// grow the log at the request rate). A pair is remembered only once its
// record was appended (Audit returned nil): a claim whose record failed
// leaves the pair unseen, and the next successful claim of it is
// audited. The first audited success through this gateway since it
// started is recorded even when another gateway or a run before a
// restart saw the change: over-auditing repeats is bounded (once per
// name and gateway start, plus claims racing the first one's append).
// A claim that did change state is always audited unless the audit log
// refused its record (counted under reason "error"): it is the first
// successful claim of its (name, owner), and claims of the same pair
// racing it are each audited until one record is appended. The record
// names the token of that claim; a later claim of the same pair by
// another token of the same owner changed nothing and is counted, not
// recorded. The set is bounded by registry.NamesMax, the names a
// registry can hold; past it (never reached while the registry enforces
// its bound) claims are audited.
//
// unknown holds the (name, owner) pairs of claims that ended of unknown
// outcome (504: the registry may have applied them) and were not yet
// followed by a recorded claim of the pair: the claim a client retries
// after one may find the name already its own, by its own first attempt,
// and its record then says so (ClaimEarlierUnknownDetail) rather than
// "no change". It keeps the ClaimsUnknownMax pairs used last; a pair
// forgotten, or an attempt made through another gateway, leaves the
// retry to read as a no-op when the node's state says the name was held.
type claimAudits struct {
	mu      sync.Mutex
	seen    map[string]string // name -> owner key (raw bytes)
	unknown *recentKeys       // name + "\x00" + owner key
}

func newClaimAudits() *claimAudits {
	return &claimAudits{seen: make(map[string]string), unknown: newRecentKeys(ClaimsUnknownMax)}
}

// endedUnknown remembers that a claim of name by owner ended of unknown
// outcome, unless the pair's claim was already recorded (then nothing it
// did is unrecorded).
func (c *claimAudits) endedUnknown(name string, owner []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if o, ok := c.seen[name]; !ok || o != string(owner) {
		c.unknown.add(name + "\x00" + string(owner))
	}
}

// hadUnknown reports whether a claim of name by owner ended of unknown
// outcome since the pair was last recorded.
func (c *claimAudits) hadUnknown(name string, owner []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.unknown.has(name + "\x00" + string(owner))
}

// audited reports whether a claim of name by owner was already recorded
// by this gateway.
func (c *claimAudits) audited(name string, owner []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	o, ok := c.seen[name]
	return ok && o == string(owner)
}

// mark remembers that a claim of name by owner was recorded (which
// settles its claims of unknown outcome).
func (c *claimAudits) mark(name string, owner []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.unknown.remove(name + "\x00" + string(owner))
	if _, ok := c.seen[name]; ok || len(c.seen) < registry.NamesMax {
		c.seen[name] = string(owner)
	}
}

// AuditRecord is one line of GET /audit: an audit.Record with its hash
// fields in hex. Hash is informational; a verifier recomputes it.
//
// Kind is the kind's name ("unknown kind N" for one this build does not
// define). A kind above audit.KindNamedMax also has its number in
// KindCode, which is what the hash covers: a verifier that does not know
// the name chains the record by it (a newer node's export, or a record a
// newer build wrote before a downgrade). Kinds up to KindNamedMax go
// without it, so that ronctl builds that reject unknown fields still
// read every export they could before.
type AuditRecord struct {
	Seq      uint64 `json:"seq"`
	TimeNs   int64  `json:"time_ns"`
	Kind     string `json:"kind"`
	KindCode uint8  `json:"kind_code,omitempty"`
	Actor    string `json:"actor"`
	Tenant   string `json:"tenant"`
	Subject  string `json:"subject"`
	Detail   string `json:"detail"`
	Prev     string `json:"prev"`
	Hash     string `json:"hash"`
}

// AuditRecordOf is r as a JSON line.
func AuditRecordOf(r audit.Record) AuditRecord {
	h := r.Hash()
	a := AuditRecord{Seq: r.Seq, TimeNs: int64(r.Time), Kind: r.Kind.String(), Actor: r.Actor,
		Tenant: r.Tenant, Subject: r.Subject, Detail: r.Detail,
		Prev: hex.EncodeToString(r.Prev[:]), Hash: hex.EncodeToString(h[:])}
	if r.Kind > audit.KindNamedMax {
		a.KindCode = uint8(r.Kind)
	}
	return a
}

// Record converts a JSON line back into the record it describes. The
// kind is KindCode when set (its name is then informational, unless this
// build defines the kind: then the name must be its own), else the kind
// the name names.
func (a AuditRecord) Record() (audit.Record, error) {
	r := audit.Record{Seq: a.Seq, Time: env.Time(a.TimeNs), Actor: a.Actor, Tenant: a.Tenant,
		Subject: a.Subject, Detail: a.Detail}
	if a.KindCode != 0 {
		r.Kind = audit.Kind(a.KindCode)
		if r.Kind.Valid() && r.Kind.String() != a.Kind {
			return r, fmt.Errorf("gateway: audit record seq %d: kind %q is not kind_code %d (%s)", a.Seq, a.Kind, a.KindCode, r.Kind)
		}
	} else {
		for k := audit.KindTokenIssue; k.Valid(); k++ {
			if k.String() == a.Kind {
				r.Kind = k
			}
		}
	}
	if r.Kind == 0 {
		return r, fmt.Errorf("gateway: audit record seq %d: unknown kind %q without a kind_code", a.Seq, a.Kind)
	}
	prev, err := hex.DecodeString(a.Prev)
	if err != nil || len(prev) != len(r.Prev) {
		return r, fmt.Errorf("gateway: audit record seq %d: prev is not %d bytes of hex", a.Seq, len(r.Prev))
	}
	copy(r.Prev[:], prev)
	return r, nil
}

// FormatAuditHead and ParseAuditHead are AuditHeadHeader's value.
func FormatAuditHead(h audit.Head) string {
	return strconv.FormatUint(h.Seq, 10) + ":" + hex.EncodeToString(h.Hash[:])
}

func ParseAuditHead(s string) (audit.Head, error) {
	var h audit.Head
	seqText, hashText, ok := strings.Cut(s, ":")
	seq, err := strconv.ParseUint(seqText, 10, 64)
	hash, herr := hex.DecodeString(hashText)
	if !ok || err != nil || herr != nil || len(hash) != len(h.Hash) {
		return h, fmt.Errorf("gateway: audit head %q is not <seq>:<64 hex>", s)
	}
	h.Seq = seq
	copy(h.Hash[:], hash)
	return h, nil
}

// auditLog serves GET /audit: every stored record, oldest first, as JSON
// lines. It needs a token allowing admin on AuditResource. The head is
// read first and sent in AuditHeadHeader, so a client can tell a cut
// stream from a complete one; records appended meanwhile follow it. The
// base, the head of what retention dropped, is the first page's (the
// one its scan saw) and goes in AuditBaseHeader. A drop between two
// pages that removed records the stream had not reached (a client slower
// than the log's turnover) ends the stream there, short of the head,
// rather than skipping them: the client's VerifyHead reports the cut.
func (g *Gateway) auditLog(req *request) *apiError {
	if e := g.authorize(req, auth.OpAdmin, AuditResource, 0); e != nil {
		return e
	}
	head, err := call(g, req, audit.HeadQuery{})
	if err != nil {
		return mapError(err, false)
	}
	page, e := g.auditPage(req, 1)
	if e != nil {
		return e
	}
	req.w.Header().Set("Content-Type", "application/x-ndjson")
	req.w.Header().Set("Cache-Control", "no-store")
	req.w.Header().Set(AuditHeadHeader, FormatAuditHead(head.Appended))
	req.w.Header().Set(AuditBaseHeader, FormatAuditHead(page.Base))
	req.w.Header().Set("Trailer", AuditCutTrailer)
	req.w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(req.w)
	for {
		for _, r := range page.Records {
			if enc.Encode(AuditRecordOf(r)) != nil {
				return nil // the client went away
			}
		}
		if page.Err != nil {
			// Headers are sent: the stream ends short of the head, which
			// VerifyHead reports; the log names the record.
			g.log.Error("gateway: audit log has an unreadable record", "seq", page.BadSeq, "err", page.Err)
			req.w.Header().Set(AuditCutTrailer, "unreadable "+strconv.FormatUint(page.BadSeq, 10))
			return nil
		}
		if !page.More || len(page.Records) == 0 {
			return nil
		}
		page, e = g.auditPage(req, page.Records[len(page.Records)-1].Seq+1)
		if e != nil {
			g.log.Error("gateway: audit stream cut", "err", e.message)
			return nil
		}
		if page.Truncated {
			g.log.Warn("gateway: audit stream cut: retention dropped records it had not reached", "base_seq", page.Base.Seq)
			req.w.Header().Set(AuditCutTrailer, "retention "+FormatAuditHead(page.Base))
			return nil
		}
	}
}

func (g *Gateway) auditPage(req *request, from uint64) (audit.RecordsPage, *apiError) {
	// A page that carries an unreadable record's error is still a page:
	// auditLog streams the records before it.
	page, err := call(g, req, audit.ReadRecords{From: from, Limit: AuditPageRecords})
	if err != nil && page.Err == nil {
		return audit.RecordsPage{}, mapError(err, false)
	}
	return page, nil
}

package gateway

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/ron-network/ron/core/audit"
	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/dht"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/io/runtime"
)

// NameRecord is the JSON of a name (GET /names/{name} and the replies of
// claim and set). Target is "" while the name points nowhere.
type NameRecord struct {
	Name   string `json:"name"`
	Owner  string `json:"owner"`
	Target string `json:"target"`
	Seq    uint64 `json:"seq"`
}

// ClaimBody is the body of POST /names/{name}.
type ClaimBody struct {
	Owner string `json:"owner"` // hex Ed25519 public key
}

// SetBody is the body of PUT /names/{name}; Sig is the hex signature of
// registry.SetSigningBytes(name, target, seq) by the owner's key.
type SetBody struct {
	Target string `json:"target"`
	Seq    uint64 `json:"seq"`
	Owner  string `json:"owner"`
	Sig    string `json:"sig"`
}

func nameParam(req *request) (string, *apiError) {
	name, err := registry.NormalizeName(req.r.PathValue("name"))
	if err != nil {
		return "", errorf(http.StatusBadRequest, CodeBadRequest, "invalid name %q: %v", req.r.PathValue("name"), err)
	}
	return name, nil
}

func (g *Gateway) registryCall(req *request, body node.Call[registry.Result], write bool) (registry.Record, *apiError) {
	res, err := call(g, req, body)
	if err != nil {
		// The record goes along (zero when the call itself failed): a
		// stale seq carries the name's state.
		return res.Record, mapError(err, write)
	}
	return res.Record, nil
}

// ConflictEnvelope is the 409 body of a PUT /names/{name} whose seq is
// stale: the envelope plus the name's state the registry compared against,
// so a compare-and-set retry signs CurrentSeq+1 without reading first.
// CurrentTarget is "" while the name points nowhere.
type ConflictEnvelope struct {
	Envelope
	CurrentSeq    uint64 `json:"current_seq"`
	CurrentTarget string `json:"current_target"`
}

// writeConflict sends e (a stale seq) with the name's current state.
func writeConflict(req *request, e *apiError, rec registry.Record) {
	body := ConflictEnvelope{Envelope: Envelope{Code: e.code, Message: boundMessage(e.message), CorrID: req.corrID},
		CurrentSeq: rec.Seq}
	if !rec.Target.IsZero() {
		body.CurrentTarget = rec.Target.String()
	}
	writeJSON(req.w, e.status, body)
}

func recordJSON(name string, rec registry.Record) NameRecord {
	out := NameRecord{Name: name, Owner: hex.EncodeToString(rec.Owner), Seq: rec.Seq}
	if !rec.Target.IsZero() {
		out.Target = rec.Target.String()
	}
	return out
}

func (g *Gateway) resolve(req *request) (string, registry.Record, *apiError) {
	name, e := nameParam(req)
	if e != nil {
		return "", registry.Record{}, e
	}
	var body node.Call[registry.Result] = registry.Resolve{Name: name}
	if req.r.URL.Query().Get("stale") == "1" {
		// A local read of this node's applied state, neither linearizable
		// nor forwarded: what the registry replicas hold, one at a time
		// (sim/real's durability and convergence checks read each replica).
		body = registry.StaleResolve{Name: name}
	}
	rec, e := g.registryCall(req, body, false)
	if e != nil {
		return "", registry.Record{}, e
	}
	if !rec.Found {
		return "", registry.Record{}, errorf(http.StatusNotFound, CodeNotFound, "name %q is not claimed", name)
	}
	g.names.observe(name, rec.Owner) // settles the quota's 504 ghosts of name
	return name, rec, nil
}

func (g *Gateway) resolveName(req *request) *apiError {
	name, rec, e := g.resolve(req)
	if e != nil {
		return e
	}
	writeJSON(req.w, http.StatusOK, recordJSON(name, rec))
	return nil
}

// serveName resolves the name and serves its target object. The name can
// move at any time, so the answer must be revalidated (cacheRevalidate)
// rather than kept as the immutable object it happens to point at.
func (g *Gateway) serveName(req *request) *apiError {
	name, rec, e := g.resolve(req)
	if e != nil {
		return e
	}
	if rec.Target.IsZero() {
		return errorf(http.StatusNotFound, CodeNotFound, "name %q points nowhere yet", name)
	}
	req.w.Header().Set("X-Ron-Target", rec.Target.String())
	return g.serveObject(req, rec.Target, cacheRevalidate)
}

func (g *Gateway) claimName(req *request) *apiError {
	name, e := nameParam(req)
	if e != nil {
		return e
	}
	var body ClaimBody
	// The body (at most NameBodyBytesMax, 4 KiB, buffered before the
	// token's grant is checked, as before) is authorized by its length
	// as read, which a chunked request does not declare.
	n, e := readJSONLen(req, &body, NameBodyBytesMax)
	if e != nil {
		return e
	}
	owner, e := publicKey(body.Owner)
	if e != nil {
		return e
	}
	if e := g.authorize(req, auth.OpName, name, uint64(n)); e != nil {
		return e
	}
	exempt := g.names.exemptToken(req.tenant, req.token)
	claim, e := g.names.reserve(req.tenant, name, exempt)
	if e != nil {
		g.auditQuotaReject(req) // paced, like admission's quota rejects
		g.cfg.Metrics.Add(MetricNamesRefused, NamesRefusedQuota, 1)
		return e
	}
	held := g.heldBy(req, name, owner)
	tenant, quota := g.names.registryQuota(req.tenant, exempt)
	res, err := call(g, req, registry.Claim{Name: name, Owner: owner, Tenant: tenant, Quota: quota})
	outcome := claimOutcomeOf(err)
	g.names.end(claim, owner, outcome)
	if outcome == claimUnknown {
		g.claimAudits.endedUnknown(name, owner) // its retry may find the name its own
	}
	if err != nil {
		g.names.observe(name, res.Record.Owner)
		if errors.Is(err, registry.ErrNameQuota) {
			g.auditQuotaReject(req)
			g.cfg.Metrics.Add(MetricNamesRefused, NamesRefusedQuota, 1)
			return errorf(http.StatusForbidden, CodeNameQuota,
				"tenant %s reached its quota of %d names in the registry: name %q is not claimed", req.tenant, quota, name)
		}
		if errors.Is(err, registry.ErrRegistryFull) {
			g.cfg.Metrics.Add(MetricNamesRefused, NamesRefusedFull, 1)
		}
		return mapError(err, true)
	}
	rec := res.Record
	if len(rec.Owner) == 0 {
		rec.Owner = owner
	}
	// A claim of a name by the owner that already holds it changes
	// nothing (claims are idempotent, names are never released): once this
	// gateway recorded one, repeats are counted, not recorded; a claim
	// whose record failed is not remembered (auditlog.go).
	// A claim with the key that already held the name (anyone may present
	// an owner's public key) is recorded as the no-op it was, so the log
	// does not read as if this tenant took the name; unless a claim of the
	// pair ended of unknown outcome here before: the name may be held by
	// that attempt, which left no record, so this one says so instead.
	detail := "claim owner=" + body.Owner
	switch {
	case g.claimAudits.hadUnknown(name, owner):
		detail += ClaimEarlierUnknownDetail
	case held:
		detail += ClaimUnchangedDetail
	}
	if !g.claimAudits.audited(name, owner) {
		if g.auditRequest(req, audit.KindNameWrite, name, detail) == nil {
			g.claimAudits.mark(name, owner)
		}
	} else {
		g.cfg.Metrics.Add(MetricAuditFailures, "unchanged", 1)
	}
	writeJSON(req.w, http.StatusCreated, recordJSON(name, rec))
	return nil
}

// ClaimUnchangedDetail ends the audit detail of a claim made with the key
// that already held the name: it changed nothing. The registry answers
// such a claim as it answers a new one, and the HTTP answer stays 201
// (claims are idempotent and clients retry them), so only the record
// tells the two apart.
const ClaimUnchangedDetail = ": already held by this owner, no change"

// ClaimEarlierUnknownDetail ends the audit detail of a successful claim
// that followed a claim of the same name and owner of unknown outcome
// (504) through this gateway: the registry may have applied that one (it
// left no record), so this claim is recorded as the possible take it is,
// never as "no change".
const ClaimEarlierUnknownDetail = " (an earlier attempt's outcome was unknown)"

// ClaimPreReadTimeout bounds heldBy's read. A replica answers it from
// its applied state at once while it runs; one that does not run yet
// would hold it until CallTimeout, and then the claim after it too.
const ClaimPreReadTimeout = 500 * time.Millisecond

// heldBy reports whether this node's applied registry state (a
// StaleResolve) already gives name to owner. Names are never released and
// their owner never changes, so true means the claim cannot change
// anything; false (not found there, another owner, or no answer) means
// nothing, and the claim is audited as before. Only a registry replica
// reads (Config.RegistryReplica): elsewhere the read would be forwarded
// to a replica, a round trip more per claim, and false is answered.
func (g *Gateway) heldBy(req *request, name string, owner ed25519.PublicKey) bool {
	if !g.cfg.RegistryReplica {
		return false
	}
	ctx, cancel := context.WithTimeout(req.r.Context(), min(g.cfg.CallTimeout, ClaimPreReadTimeout))
	defer cancel()
	res, err := runtime.Call(ctx, g.cfg.Backend, registry.StaleResolve{Name: name})
	return err == nil && res.Record.Found && bytes.Equal(res.Record.Owner, owner)
}

func (g *Gateway) setName(req *request) *apiError {
	name, e := nameParam(req)
	if e != nil {
		return e
	}
	var body SetBody
	// The body (at most NameBodyBytesMax, 4 KiB, buffered before the
	// token's grant is checked, as before) is authorized by its length
	// as read, which a chunked request does not declare.
	n, e := readJSONLen(req, &body, NameBodyBytesMax)
	if e != nil {
		return e
	}
	owner, e := publicKey(body.Owner)
	if e != nil {
		return e
	}
	target, err := proto.ParseAddr(body.Target)
	if err != nil {
		return errorf(http.StatusBadRequest, CodeBadAddress, "target: %v", err)
	}
	sig, err := hex.DecodeString(body.Sig)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return errorf(http.StatusBadRequest, CodeBadRequest, "sig must be %d bytes of hex", ed25519.SignatureSize)
	}
	if e := g.authorize(req, auth.OpName, name, uint64(n)); e != nil {
		return e
	}
	set := registry.Set{Name: name, Target: target, Seq: body.Seq, Owner: owner, Sig: sig}
	if rec, e := g.registryCall(req, set, true); e != nil {
		if e.code == CodeConflict && rec.Found {
			writeConflict(req, e, rec)
			return nil
		}
		return e
	}
	_ = g.auditRequest(req, audit.KindNameWrite, name, fmt.Sprintf("set seq=%d target=%s", body.Seq, target))
	writeJSON(req.w, http.StatusOK, NameRecord{Name: name, Owner: body.Owner, Target: target.String(), Seq: body.Seq})
	return nil
}

// readJSON decodes one JSON value of at most limit bytes from the request
// body, strictly: unknown fields, trailing data and oversize bodies are
// errors with the matching status.
func readJSON(req *request, v any, limit int64) *apiError {
	_, e := readJSONLen(req, v, limit)
	return e
}

// readJSONLen is readJSON, also returning the body's length: the size a
// caller authorizes against a max_bytes caveat. Content-Length is -1 for a
// chunked body, which uint64 turns into 2^64-1 (every max_bytes caveat
// refused it); the body, at most limit bytes, is read whole instead.
func readJSONLen(req *request, v any, limit int64) (int64, *apiError) {
	if req.r.ContentLength > limit { // declared: refused before a byte (or a 100 Continue) goes
		req.w.Header().Set("Connection", "close")
		return 0, errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "body of %d bytes exceeds %d", req.r.ContentLength, limit)
	}
	data, err := io.ReadAll(http.MaxBytesReader(req.w, req.r.Body, limit))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return 0, errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "body exceeds %d bytes", limit)
		}
		if e := bodyError(req, int64(len(data)), err); e != nil {
			return 0, e
		}
		return 0, errorf(http.StatusBadRequest, CodeBadRequest, "body: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return 0, errorf(http.StatusBadRequest, CodeBadRequest, "body: %v", err)
	}
	if dec.More() {
		return 0, errorf(http.StatusBadRequest, CodeBadRequest, "body: trailing data")
	}
	return int64(len(data)), nil
}

func publicKey(s string) (ed25519.PublicKey, *apiError) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errorf(http.StatusBadRequest, CodeBadRequest, "owner must be a %d-byte Ed25519 public key in hex", ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// ProviderJSON is one provider of GET /providers/{addr}.
type ProviderJSON struct {
	Node   string `json:"node"`
	Expiry string `json:"expiry"`
}

func (g *Gateway) providers(req *request) *apiError {
	addr, err := proto.ParseAddr(req.r.PathValue("addr"))
	if err != nil {
		return errorf(http.StatusBadRequest, CodeBadAddress, "%v", err)
	}
	// A lookup that found providers answers them even if it also failed.
	res, err := call(g, req, dht.FindProviders{Addr: addr})
	if len(res.Providers) == 0 {
		if err != nil && !errors.Is(err, dht.ErrNoContacts) {
			return mapError(err, false)
		}
		return errorf(http.StatusNotFound, CodeNotFound, "no providers known for %s", addr)
	}
	out := make([]ProviderJSON, len(res.Providers))
	for i, p := range res.Providers {
		out[i] = ProviderJSON{Node: p.Provider.String(), Expiry: time.Unix(0, int64(p.Expiry)).UTC().Format(time.RFC3339)}
	}
	writeJSON(req.w, http.StatusOK, map[string]any{"addr": addr.String(), "providers": out})
	return nil
}

// claimOutcomeOf classifies a claim's error for the name quota: what the
// client is told is of unknown outcome (504, a cancelled request too)
// may still be applied, so it counts as unknown.
func claimOutcomeOf(err error) claimOutcome {
	switch {
	case err == nil:
		return claimWon
	case errors.Is(err, registry.ErrTaken):
		return claimTaken
	case mapError(err, true).code == CodeUnknownOutcome:
		return claimUnknown
	}
	return claimFailed
}

package gateway

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/ron-network/ron/core/audit"
	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/authz"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/io/runtime"
)

// Token revocation at the gateway (see doc.go, "Revocation").
const (
	// RevocationCacheEntriesMax bounds the RevocationCache; when full,
	// entries are evicted (answers then cost one more call, never a wrong
	// verdict) and MetricRevocationEvictions counts them.
	RevocationCacheEntriesMax = 4096
	// RevocationCacheTTL is how long a "not revoked" answer is reused. It
	// adds to the registry's own propagation bound; a "revoked" answer is
	// kept until evicted, since a revocation is never withdrawn (the
	// registry prunes it only after the token expired).
	RevocationCacheTTL = 250 * time.Millisecond
	// RevocationCallTimeout bounds one query into the node.
	RevocationCallTimeout = 2 * time.Second
	// RevokeResource is the resource an admin token must cover to revoke.
	RevokeResource = "tokens"
	// RevokeBodyBytesMax bounds the JSON body of POST /tokens/revoke: a
	// token's text and some framing.
	RevokeBodyBytesMax = auth.TokenTextBytesMax + 1<<10
)

// Metrics of revocation checks.
const (
	MetricRevocationChecks    = "gateway_revocation_checks_total"
	MetricRevocationEvictions = "gateway_revocation_cache_evictions_total"
)

// Labels of MetricRevocationChecks.
const (
	revocationCached      = "cached"      // answered from the cache
	revocationAsked       = "asked"       // answered by the node
	revocationStale       = "stale"       // the node did not answer; an expired entry was reused
	revocationUnavailable = "unavailable" // the node is not ready: answered "not revoked"
	revocationFailed      = "failed"      // the node did not answer: answered "revoked"
)

var _ = env.Declare(
	env.MetricDef{Name: MetricRevocationChecks, Kind: env.Counter, Label: "result",
		Help: "Revocation lookups of verified tokens, by how they were answered (cached, asked, stale, unavailable, failed)."},
	env.MetricDef{Name: MetricRevocationEvictions, Kind: env.Counter,
		Help: "Entries evicted from the gateway's revocation cache at its bound."},
)

// RevocationCache is the gateway's auth.RevocationSet: it answers from the
// node's registry view through a authz.RevokedQuery call, and caches the
// answers. It is safe for concurrent use; it never reads machine state
// from the gateway's goroutines (the query runs on the node loop).
//
// Only tokens whose MAC verified reach it (auth.Verifier checks revocation
// after the MAC), so a flood of forged tokens cannot turn into calls.
//
// When the node cannot answer, the cache reuses an expired entry if it has
// one; otherwise a node that is not ready (starting, restarting, closing)
// answers "not revoked", because every request that needs the node fails
// anyway and a restarted non-replica's view is empty until its first pull
// in any case; any other failure answers "revoked" (fail closed).
type RevocationCache struct {
	backend Backend
	metrics env.Metrics
	clock   func() time.Time

	mu      sync.Mutex
	entries map[auth.TokenID]revocationEntry
}

type revocationEntry struct {
	revoked bool
	checked time.Time
}

// NewRevocationCache returns a cache asking backend; clock nil is
// time.Now.
func NewRevocationCache(backend Backend, metrics env.Metrics, clock func() time.Time) *RevocationCache {
	if backend == nil || metrics == nil {
		panic("gateway: NewRevocationCache needs a backend and metrics")
	}
	if clock == nil {
		clock = time.Now
	}
	return &RevocationCache{backend: backend, metrics: metrics, clock: clock, entries: map[auth.TokenID]revocationEntry{}}
}

// Revoked implements auth.RevocationSet.
func (c *RevocationCache) Revoked(id auth.TokenID) bool {
	now := c.clock()
	c.mu.Lock()
	e, had := c.entries[id]
	c.mu.Unlock()
	if had && (e.revoked || now.Sub(e.checked) < RevocationCacheTTL) {
		c.metrics.Add(MetricRevocationChecks, revocationCached, 1)
		return e.revoked
	}
	ctx, cancel := context.WithTimeout(context.Background(), RevocationCallTimeout)
	defer cancel()
	ans, err := runtime.Call(ctx, c.backend, authz.RevokedQuery{ID: id})
	switch {
	case err == nil:
		c.metrics.Add(MetricRevocationChecks, revocationAsked, 1)
		c.store(id, ans.Revoked, now)
		return ans.Revoked
	case had:
		c.metrics.Add(MetricRevocationChecks, revocationStale, 1)
		return e.revoked
	case errors.Is(err, runtime.ErrNotReady), errors.Is(err, runtime.ErrClosed):
		c.metrics.Add(MetricRevocationChecks, revocationUnavailable, 1)
		return false
	}
	c.metrics.Add(MetricRevocationChecks, revocationFailed, 1)
	return true
}

// Note records that id was revoked (a revoke this gateway saw commit), so
// the node's own gateway denies it at once, whatever its view's lag.
func (c *RevocationCache) Note(id auth.TokenID) { c.store(id, true, c.clock()) }

// Len is the number of cached entries.
func (c *RevocationCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// store caches an answer. A later "revoked" is never overwritten by a
// "not revoked" that raced with it (a slow answer from before the
// revoke).
func (c *RevocationCache) store(id auth.TokenID, revoked bool, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.entries[id]; ok {
		c.entries[id] = revocationEntry{revoked: revoked || old.revoked, checked: now}
		return
	}
	if len(c.entries) >= RevocationCacheEntriesMax {
		c.evictLocked(now)
	}
	c.entries[id] = revocationEntry{revoked: revoked, checked: now}
}

// evictLocked makes room: expired "not revoked" entries first, then all of
// them, then everything. Dropping an entry only costs a call later.
func (c *RevocationCache) evictLocked(now time.Time) {
	before := len(c.entries)
	for _, expiredOnly := range []bool{true, false} {
		for id, e := range c.entries {
			if !e.revoked && (!expiredOnly || now.Sub(e.checked) >= RevocationCacheTTL) {
				delete(c.entries, id)
			}
		}
		if len(c.entries) < RevocationCacheEntriesMax {
			break
		}
	}
	if len(c.entries) >= RevocationCacheEntriesMax {
		clear(c.entries)
	}
	c.metrics.Add(MetricRevocationEvictions, "", float64(before-len(c.entries)))
}

var _ auth.RevocationSet = (*RevocationCache)(nil)

// RevokeBody is the body of POST /tokens/revoke: the token to revoke, or
// its id (64 hex digits), exactly one of them.
type RevokeBody struct {
	Token string `json:"token,omitempty"`
	ID    string `json:"id,omitempty"`
}

// RevokeAnswer is the 200 answer of POST /tokens/revoke. Until is when
// the entry stops mattering (the token's expiry, RFC 3339); "" means
// never, which is what an id without its token gets.
type RevokeAnswer struct {
	ID      string `json:"id"`
	Until   string `json:"until,omitempty"`
	UntilNs int64  `json:"until_ns"`
}

// revokeToken serves POST /tokens/revoke: it needs a token allowing admin
// on RevokeResource, signs a registry.Revoke with the node's admin key and
// answers 200 once the registry committed it. An unknown outcome is 503
// UNKNOWN_OUTCOME, retryable: a revoke is idempotent.
func (g *Gateway) revokeToken(req *request) *apiError {
	if e := g.authorize(req, auth.OpAdmin, RevokeResource, 0); e != nil {
		return e
	}
	if len(g.cfg.AdminKey) != ed25519.PrivateKeySize {
		return errorf(http.StatusNotImplemented, CodeUnavailable, "this node cannot revoke tokens (no registry or no admin key)")
	}
	var body RevokeBody
	if e := readJSON(req, &body, RevokeBodyBytesMax); e != nil {
		return e
	}
	id, until, e := revokeTarget(body)
	if e != nil {
		return e
	}
	rev := registry.Revoke{ID: id, Until: until, Admin: g.cfg.AdminKey.Public().(ed25519.PublicKey),
		Sig: ed25519.Sign(g.cfg.AdminKey, registry.RevokeSigningBytes(id, until))}
	if e := g.commitRevoke(req, rev); e != nil {
		return e
	}
	if g.cfg.Revocations != nil {
		g.cfg.Revocations.Note(id)
	}
	ans := RevokeAnswer{ID: id.String(), UntilNs: int64(until)}
	if until != math.MaxInt64 {
		ans.Until = time.Unix(0, int64(until)).UTC().Format(time.RFC3339)
	}
	_ = g.auditRequest(req, audit.KindTokenRevoke, id.String(), "until_ns="+strconv.FormatInt(int64(until), 10))
	writeJSON(req.w, http.StatusOK, ans)
	return nil
}

func (g *Gateway) commitRevoke(req *request, rev registry.Revoke) *apiError {
	_, err := call(g, req, rev)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, registry.ErrNotAdmin):
		return errorf(http.StatusForbidden, CodeForbidden, "the registry does not list this node's admin key (rond --admin-keys): %v", err)
	}
	e := mapError(err, true)
	if e.code == CodeUnknownOutcome {
		e.status, e.retryable, e.retryAfter = http.StatusServiceUnavailable, true, time.Second
	}
	return e
}

// revokeTarget derives the id and until of a revoke. The entry must last
// as long as any token carrying the id can be valid, and for a token as
// for an id alone that is forever (until = MaxInt64):
//
//   - the id hashes only the base (version, tenant, key id and version,
//     scope, nonce: specs/capability-token.md, sections 2 and 5), which
//     holds no expiry; expiry is only ever a caveat, outside the id;
//   - the chain does not mark where the minted caveats end and a holder's
//     attenuations begin, so the presented token's expiry (auth.Effective)
//     bounds only that copy: revoking a 5 s attenuation of a 1 h token
//     with until = its 5 s let the registry prune the entry 5 s + 90 s
//     later, after which the 1 h parent (same id) was accepted again;
//   - the minted token may have had no expiry at all, and a holder of the
//     root key can mint the caveat-free base, so even the earliest expiry
//     caveat of the presented token bounds nothing.
//
// The cost: a token's entry is never pruned and holds one of
// registry.RevocationsMax slots for good, as revoke-by-id always did.
func revokeTarget(body RevokeBody) (auth.TokenID, env.Time, *apiError) {
	var id auth.TokenID
	switch {
	case (body.Token == "") == (body.ID == ""):
		return id, 0, errorf(http.StatusBadRequest, CodeBadRequest, `body needs exactly one of "token" and "id"`)
	case body.Token != "":
		tok, err := auth.Decode(body.Token)
		if err != nil {
			return id, 0, errorf(http.StatusBadRequest, CodeBadRequest, "token: %v", err)
		}
		return tok.ID(), math.MaxInt64, nil
	}
	b, err := hex.DecodeString(body.ID)
	if err != nil || len(b) != len(id) {
		return id, 0, errorf(http.StatusBadRequest, CodeBadRequest, "id must be %d bytes of hex", len(id))
	}
	copy(id[:], b)
	return id, math.MaxInt64, nil
}

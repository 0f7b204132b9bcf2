package auth

import (
	"crypto/subtle"
	"errors"
	"math"
	"strings"

	"github.com/ron-network/ron/core/env"
)

// Reason is a stable deny label. Callers may put it in metrics labels,
// HTTP error envelopes and audit records; the values never change.
type Reason string

const (
	ReasonExpired          Reason = "expired"
	ReasonNotYetValid      Reason = "not_yet_valid"
	ReasonBadMAC           Reason = "bad_mac"
	ReasonUnknownKey       Reason = "unknown_key"
	ReasonRevoked          Reason = "revoked"
	ReasonOpNotAllowed     Reason = "op_not_allowed"
	ReasonPrefixNotAllowed Reason = "prefix_not_allowed"
	ReasonTenantMismatch   Reason = "tenant_mismatch"
	ReasonTooLarge         Reason = "too_large"
	ReasonBadAudience      Reason = "bad_audience"
	ReasonMalformed        Reason = "malformed"
)

// Reasons lists every deny reason, for metric label pre-declaration.
var Reasons = []Reason{ReasonExpired, ReasonNotYetValid, ReasonBadMAC, ReasonUnknownKey, ReasonRevoked,
	ReasonOpNotAllowed, ReasonPrefixNotAllowed, ReasonTenantMismatch, ReasonTooLarge, ReasonBadAudience, ReasonMalformed}

// ErrDenied is wrapped by every error Verdict.Err returns.
var ErrDenied = errors.New("auth: denied")

// Request is what a token is checked against.
type Request struct {
	Op       Op
	Resource string // a "b3:..." address or a name; "" when the op has none
	Tenant   string // the tenant the request acts for
	Bytes    uint64 // request body size
	Now      env.Time
}

// Verdict is the outcome of a verification. Reason is "" when allowed.
// Token is set whenever the token decoded (even when denied), so callers
// can audit who tried what.
type Verdict struct {
	Reason Reason
	Token  *Token
}

// Allowed reports whether the request is allowed.
func (v Verdict) Allowed() bool { return v.Reason == "" }

// Err is nil when allowed, else an error wrapping ErrDenied that names the
// reason.
func (v Verdict) Err() error {
	if v.Allowed() {
		return nil
	}
	return &DenyError{Reason: v.Reason}
}

// DenyError carries a stable deny reason.
type DenyError struct{ Reason Reason }

func (e *DenyError) Error() string { return "auth: denied: " + string(e.Reason) }
func (e *DenyError) Unwrap() error { return ErrDenied }

// KeySource looks up capability root keys by id and version. A Keyring is
// one; tests may supply a map. MACKey must not log or return errors that
// contain the key.
type KeySource interface {
	MACKey(id string, version uint32) (MACKey, bool)
}

// RevocationSet answers whether a token id was revoked. The registry will
// replicate one; MemRevocations is the local, bounded implementation.
type RevocationSet interface {
	Revoked(id TokenID) bool
}

// Verifier checks tokens against requests. It holds no mutable state of
// its own, so verification is deterministic: the same token, request, keys
// and revocations give the same verdict.
type Verifier struct {
	keys      KeySource
	revoked   RevocationSet
	audiences []string
}

// NewVerifier returns a verifier using keys and revoked (nil: nothing is
// revoked). audiences are the names this verifier answers to (its node id
// in hex, its cluster id): every audience caveat must name one of them.
func NewVerifier(keys KeySource, revoked RevocationSet, audiences ...string) *Verifier {
	return &Verifier{keys: keys, revoked: revoked, audiences: append([]string(nil), audiences...)}
}

// Verify decodes text and checks it against req. Checks run in a fixed
// order, so the reason for a given input is stable: malformed, unknown_key,
// bad_mac, revoked, then the caveats (see checkGrant).
func (v *Verifier) Verify(text string, req Request) Verdict {
	t, err := Decode(text)
	if err != nil {
		return Verdict{Reason: ReasonMalformed}
	}
	return v.VerifyToken(t, req)
}

// VerifyToken checks an already decoded token against req.
func (v *Verifier) VerifyToken(t *Token, req Request) Verdict {
	if t == nil || t.checkBase() != nil || len(t.Caveats) > CaveatsMax {
		return Verdict{Reason: ReasonMalformed, Token: t}
	}
	key, ok := v.keys.MACKey(t.KeyID, t.KeyVersion)
	if !ok || key.Secret.IsZero() {
		return Verdict{Reason: ReasonUnknownKey, Token: t}
	}
	for _, c := range t.Caveats {
		if c.validate() != nil {
			return Verdict{Reason: ReasonMalformed, Token: t}
		}
	}
	want := t.computeMAC(key.Secret.bytes())
	if subtle.ConstantTimeCompare(want[:], t.MAC[:]) != 1 {
		return Verdict{Reason: ReasonBadMAC, Token: t}
	}
	if v.revoked != nil && v.revoked.Revoked(t.ID()) {
		return Verdict{Reason: ReasonRevoked, Token: t}
	}
	return Verdict{Reason: v.checkGrant(Effective(t), req), Token: t}
}

// Grant is the intersection of a token's base and caveats: what the token
// allows. Caveats of one kind all apply, so each field keeps the tightest
// value (latest not_before, earliest expiry, smallest max_bytes, the AND of
// op sets) or every value that must hold (prefixes, tenants, audiences).
type Grant struct {
	Tenant    string
	Ops       OpSet
	NotBefore env.Time // math.MinInt64 when unrestricted
	Expiry    env.Time // math.MaxInt64 when unrestricted
	MaxBytes  uint64   // math.MaxUint64 when unrestricted
	Prefixes  []string // the resource must start with every one
	Tenants   []string // the request tenant must equal every one
	Audiences []string // the verifier must answer to every one
}

// Effective folds t's caveats into a Grant.
func Effective(t *Token) Grant {
	g := Grant{Tenant: t.Tenant, Ops: t.Scope, NotBefore: math.MinInt64, Expiry: math.MaxInt64, MaxBytes: math.MaxUint64}
	for _, c := range t.Caveats {
		switch c.Kind {
		case CaveatExpiry:
			g.Expiry = min(g.Expiry, c.Time)
		case CaveatNotBefore:
			g.NotBefore = max(g.NotBefore, c.Time)
		case CaveatOps:
			g.Ops &= c.Ops
		case CaveatPrefix:
			g.Prefixes = append(g.Prefixes, c.Text)
		case CaveatTenant:
			g.Tenants = append(g.Tenants, c.Text)
		case CaveatMaxBytes:
			g.MaxBytes = min(g.MaxBytes, c.Bytes)
		case CaveatAudience:
			g.Audiences = append(g.Audiences, c.Text)
		}
	}
	return g
}

// checkGrant returns the first failing check in the fixed order time,
// audience, tenant, op, prefix, size; "" when all pass.
func (v *Verifier) checkGrant(g Grant, req Request) Reason {
	skew := env.Time(ClockSkewMax)
	if g.Expiry != math.MaxInt64 && req.Now >= satAdd(g.Expiry, skew) {
		return ReasonExpired
	}
	if g.NotBefore != math.MinInt64 && satAdd(req.Now, skew) < g.NotBefore {
		return ReasonNotYetValid
	}
	for _, aud := range g.Audiences {
		if !v.answersTo(aud) {
			return ReasonBadAudience
		}
	}
	if req.Tenant != g.Tenant {
		return ReasonTenantMismatch
	}
	for _, tenant := range g.Tenants {
		if req.Tenant != tenant {
			return ReasonTenantMismatch
		}
	}
	if !g.Ops.Has(req.Op) {
		return ReasonOpNotAllowed
	}
	for _, p := range g.Prefixes {
		if !strings.HasPrefix(req.Resource, p) {
			return ReasonPrefixNotAllowed
		}
	}
	if req.Bytes > g.MaxBytes {
		return ReasonTooLarge
	}
	return ""
}

func (v *Verifier) answersTo(aud string) bool {
	for _, a := range v.audiences {
		if a == aud {
			return true
		}
	}
	return false
}

// satAdd is a+d clamped to the int64 range (d >= 0), so an expiry near the
// end of time cannot wrap into the past.
func satAdd(a, d env.Time) env.Time {
	if a > math.MaxInt64-d {
		return math.MaxInt64
	}
	return a + d
}

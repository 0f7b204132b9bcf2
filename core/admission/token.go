package admission

import (
	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/policy"
)

// DefaultPolicy is the bundle in force when none is configured: reads are
// public, and every other op needs a verified token (whose own scope and
// caveats are checked by core/auth first). Anything else is denied by
// default.
const DefaultPolicy = `version: 1
name: default
rules:
  - name: public-reads
    effect: allow
    match: {ops: [read]}
  - name: token-writes
    effect: allow
    match: {ops: [write, delete, name, admin], authenticated: true}
`

// ResourceUnknown is TokenCheck.Resource for an op whose resource is known
// only after the body (PUT /o: the address is the body's hash). The
// token's prefix caveats are then checked once the resource is known;
// everything else is checked now.
const ResourceUnknown = "\x00unknown"

// TokenCheck is what a token is verified against before the body.
type TokenCheck struct {
	Op       auth.Op
	Resource string // ResourceUnknown when only the body will tell
	// Bytes is the declared body size (Content-Length), -1 when unknown
	// (then max_bytes is enforced while the body is read).
	Bytes int64
}

// CheckToken verifies text completely before any body is read or budget
// charged: MAC, revocation, expiry, not-before, audience, scope, the
// resource when known, and max_bytes against the declared size. Tenant is
// the token's own. A token that fails is refused KindUnauthorized (not
// valid now) or KindForbidden (valid, but not for this), with reason
// ShedTokenDenied and the verifier's reason as Detail; the caller charges
// the failure to the request's source (Sources.Fail), never to the tenant.
func CheckToken(v *auth.Verifier, text string, c TokenCheck, now env.Time) (auth.Verdict, Refusal) {
	tenant := ""
	if t, err := auth.Decode(text); err == nil {
		tenant = t.Tenant
	}
	req := auth.Request{Op: c.Op, Resource: c.Resource, Tenant: tenant, Bytes: uint64(max(c.Bytes, 0)), Now: now}
	if c.Resource == ResourceUnknown {
		req.Resource = ""
	}
	verdict := v.Verify(text, req)
	if verdict.Reason == auth.ReasonPrefixNotAllowed && c.Resource == ResourceUnknown {
		// the prefix is checked once the body names the resource; the
		// size, which the verifier checks after the prefix, is checked now
		verdict.Reason = ""
		if verdict.Token != nil && req.Bytes > auth.Effective(verdict.Token).MaxBytes {
			verdict.Reason = auth.ReasonTooLarge
		}
	}
	if verdict.Allowed() {
		return verdict, Refusal{}
	}
	return verdict, TokenRefusal(verdict.Reason)
}

// TokenRefusal is the refusal of a token denied for reason r.
func TokenRefusal(r auth.Reason) Refusal {
	if NotValidNow(r) {
		return Refusal{Kind: KindUnauthorized, Reason: ShedTokenDenied, Detail: string(r)}
	}
	return Refusal{Kind: KindForbidden, Reason: ShedTokenDenied, Detail: string(r)}
}

// NotValidNow reports whether r says the token itself is not valid now
// (forged, unknown, revoked, expired, not yet valid), as opposed to a valid
// token that does not cover the request.
func NotValidNow(r auth.Reason) bool {
	switch r {
	case auth.ReasonMalformed, auth.ReasonUnknownKey, auth.ReasonBadMAC, auth.ReasonRevoked,
		auth.ReasonExpired, auth.ReasonNotYetValid:
		return true
	}
	return false
}

// Decide applies bundle to req: no refusal when allowed, else
// KindForbidden with reason ShedPolicyDenied and the deciding rule's name
// ("default-deny" when none matched) as Detail. A denied read without a
// verified token is KindUnauthorized (a token might help).
func Decide(bundle *policy.Bundle, req policy.Request) Refusal {
	d := bundle.Decide(req)
	if d.Allow {
		return Refusal{}
	}
	rule := d.RuleName
	if d.Rule < 0 {
		rule = "default-deny"
	}
	kind := KindForbidden
	if req.Op == auth.OpRead && !req.Authenticated {
		kind = KindUnauthorized
	}
	return Refusal{Kind: kind, Reason: ShedPolicyDenied, Detail: rule}
}

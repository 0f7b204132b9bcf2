package gateway

import (
	"net/http"
	"strings"
	"time"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/policy"
)

// ReasonMissingToken is the deny reason of a write without a bearer token.
const ReasonMissingToken = "missing_token"

// identify picks the request's tenant from its bearer token. The token's
// MAC is checked here, before admission, so a forged token cannot spend
// another tenant's quota; its caveats (resource, size) are checked by
// authorize once the body is known. A write without a token is refused at
// once. A read carrying a token is admitted under the token's tenant when
// the MAC verifies, else as public.
func (g *Gateway) identify(req *request, write bool) *apiError {
	text, ok := bearer(req.r)
	if !ok {
		if write {
			return &apiError{status: http.StatusUnauthorized, code: CodeUnauthorized, reason: ReasonMissingToken,
				message: "a write needs Authorization: Bearer <token>"}
		}
		return nil
	}
	if g.cfg.Verifier == nil {
		if write {
			return &apiError{status: http.StatusUnauthorized, code: CodeUnauthorized, reason: string(auth.ReasonUnknownKey),
				message: "this node has no capability keys; writes are disabled"}
		}
		return nil
	}
	v := g.verify(text, auth.Request{Op: auth.OpRead})
	if reason := v.Reason; authenticationFailed(reason) {
		if write {
			return denied(reason)
		}
		return nil
	}
	req.tenant, req.token, req.tokenID = v.Token.Tenant, text, v.Token.ID().String()
	return nil
}

// authorize checks the token against the exact operation, then the
// policy. 401 when the token is missing or not valid now (expired, not yet
// valid, forged), 403 when it is valid but does not allow this op,
// resource, tenant or size, or when the policy denies the request.
func (g *Gateway) authorize(req *request, op auth.Op, resource string, bytes uint64) *apiError {
	if req.token == "" {
		return &apiError{status: http.StatusUnauthorized, code: CodeUnauthorized, reason: ReasonMissingToken,
			message: "missing or invalid token"}
	}
	v := g.verify(req.token, auth.Request{Op: op, Resource: resource, Tenant: req.tenant, Bytes: bytes})
	if !v.Allowed() {
		return denied(v.Reason)
	}
	return g.decide(req, policy.Request{Tenant: req.tenant, Op: op, Resource: resource, Bytes: bytes, Authenticated: true})
}

// authorizeRead applies the policy to a read of resource. A token, when
// present, counts only if it allows this read; a denied read without one
// is 401 (a token might help), with one 403.
func (g *Gateway) authorizeRead(req *request, resource string) *apiError {
	authenticated := false
	if req.token != "" {
		v := g.verify(req.token, auth.Request{Op: auth.OpRead, Resource: resource, Tenant: req.tenant})
		authenticated = v.Allowed()
	}
	e := g.decide(req, policy.Request{Tenant: req.tenant, Op: auth.OpRead, Resource: resource, Authenticated: authenticated})
	if e != nil && !authenticated {
		e.status, e.code = http.StatusUnauthorized, CodeUnauthorized
	}
	return e
}

// decide runs the policy in force; a deny names the rule that decided it
// ("default-deny" when none matched).
func (g *Gateway) decide(req *request, pr policy.Request) *apiError {
	d := g.cfg.Policy.Decide(pr)
	if d.Allow {
		return nil
	}
	rule := d.RuleName
	if d.Rule < 0 {
		rule = "default-deny"
	}
	return &apiError{status: http.StatusForbidden, code: CodeForbidden, reason: ReasonPolicyDenied, rule: rule,
		message: "policy " + g.cfg.Policy.Bundle().Name + " denies " + pr.Op.String() + " by rule " + rule}
}

// readResource is the resource a read route names: its address or name.
func readResource(r *http.Request) string {
	if a := r.PathValue("addr"); a != "" {
		return a
	}
	return r.PathValue("name")
}

func (g *Gateway) verify(text string, ar auth.Request) auth.Verdict {
	start := time.Now()
	ar.Now = env.Time(g.cfg.Clock().UnixNano())
	v := g.cfg.Verifier.Verify(text, ar)
	g.cfg.Metrics.Observe(auth.MetricVerifyLatency, "", time.Since(start).Seconds())
	return v
}

// authenticationFailed: the token itself is not valid (as opposed to a
// valid token that does not cover the request).
func authenticationFailed(r auth.Reason) bool {
	switch r {
	case auth.ReasonMalformed, auth.ReasonUnknownKey, auth.ReasonBadMAC, auth.ReasonRevoked:
		return true
	}
	return false
}

func denied(r auth.Reason) *apiError {
	switch r {
	case auth.ReasonMalformed, auth.ReasonUnknownKey, auth.ReasonBadMAC, auth.ReasonRevoked,
		auth.ReasonExpired, auth.ReasonNotYetValid:
		return &apiError{status: http.StatusUnauthorized, code: CodeUnauthorized, reason: string(r), message: "token rejected: " + string(r)}
	}
	return &apiError{status: http.StatusForbidden, code: CodeForbidden, reason: string(r), message: "token does not allow this request: " + string(r)}
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

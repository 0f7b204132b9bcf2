package gateway

import (
	"net/http"
	"strings"
	"time"

	"github.com/ron-network/ron/core/admission"
	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/policy"
)

// ReasonMissingToken is the deny reason of a write without a bearer token.
const ReasonMissingToken = "missing_token"

// routeOps is the op each write route's token must allow; identify
// checks it (with expiry, not-before, tenant and max_bytes against
// Content-Length) before the body is read or a budget is charged.
var routeOps = map[string]auth.Op{
	"put_object": auth.OpWrite, "delete_object": auth.OpDelete, "claim_name": auth.OpName, "set_name": auth.OpName,
	"audit": auth.OpAdmin, "revoke_token": auth.OpAdmin, "admin_flags": auth.OpAdmin,
	"admin_registry_leader": auth.OpAdmin,
}

// enter runs everything a request passes before its handler: the token
// (fully verified for a write, before its body), the policy for a read,
// and admission. Every refusal is counted in omnigate_shed_total by
// reason. It returns the admission slot to release when the request ends.
func (g *Gateway) enter(req *request, c class, route string) (slot, *apiError) {
	if err, reason := g.identify(req, c == classWrite, route); err != nil {
		g.refuse(req, reason)
		return slot{}, err
	}
	if c == classRead {
		if err := g.authorizeRead(req, readResource(req)); err != nil {
			g.refuse(req, ShedPolicyDenied)
			return slot{}, err
		}
	}
	s, err, reason := g.admit.admit(req.r.Context(), req.tenant, req.token == "", c == classWrite, req.r.ContentLength)
	if err != nil {
		g.refuse(req, reason)
		if reason == ShedOverQuota {
			g.auditQuotaReject(req)
		}
		return slot{}, err
	}
	return s, nil
}

// refuse counts a refusal before the handler ran. A request whose body
// is still unread is answered with Connection: close, so net/http sends
// the refusal at once instead of first draining the body (which a slow
// client would drip for as long as it likes). The connection is not freed
// at once: after the handler a bounded part of the body is read and
// discarded (drainRefused: at most refusedDrainBytesMax for at most
// refusedDrainTimeout) so that a client still sending reads the refusal,
// and then it closes.
func (g *Gateway) refuse(req *request, reason string) {
	g.cfg.Metrics.Add(MetricShed, reason, 1)
	if req.r.ContentLength != 0 {
		req.w.Header().Set("Connection", "close")
	}
}

// identify picks the request's tenant from its bearer token. A write's
// token is verified completely here (core/admission.CheckToken: MAC,
// revocation, expiry, not-before, scope, tenant, max_bytes against the
// declared Content-Length), before its body is read and before any
// tenant's budget is charged; a failure is charged to the request's
// source, never to the tenant the token names. Prefix caveats wait for
// the handler's authorize, which knows the resource. A read carrying a
// token is admitted under the token's tenant when the token is valid now,
// else as public. It returns the refusal and its shed reason.
func (g *Gateway) identify(req *request, write bool, route string) (*apiError, string) {
	text, ok := bearer(req.r)
	if !ok {
		if write {
			return &apiError{status: http.StatusUnauthorized, code: CodeUnauthorized, reason: ReasonMissingToken,
				message: "a write needs Authorization: Bearer <token>"}, ShedTokenDenied
		}
		return g.anonymousRead()
	}
	if g.cfg.Verifier == nil {
		if write {
			return &apiError{status: http.StatusUnauthorized, code: CodeUnauthorized, reason: string(auth.ReasonUnknownKey),
				message: "this node has no capability keys; writes are disabled"}, ShedTokenDenied
		}
		return g.anonymousRead()
	}
	if !write {
		v := g.verify(text, auth.Request{Op: auth.OpRead})
		if admission.NotValidNow(v.Reason) {
			return g.anonymousRead()
		}
		req.tenant, req.token, req.tokenID = v.Token.Tenant, text, v.Token.ID().String()
		return nil, ""
	}
	op, known := routeOps[route]
	if !known {
		op = auth.OpAdmin
	}
	start := time.Now()
	v, refusal := admission.CheckToken(g.cfg.Verifier, text,
		admission.TokenCheck{Op: op, Resource: admission.ResourceUnknown, Bytes: req.r.ContentLength}, g.authNow())
	g.cfg.Metrics.Observe(auth.MetricVerifyLatency, "", time.Since(start).Seconds())
	if refusal.Refused() {
		if over, spent := g.admit.failed(source(req.r)); spent {
			return refusalError(over), over.Reason
		}
		return refusalError(refusal), refusal.Reason
	}
	req.tenant, req.token, req.tokenID = v.Token.Tenant, text, v.Token.ID().String()
	req.maxBytes = auth.Effective(v.Token).MaxBytes
	return nil, ""
}

// authorize checks the token against the exact operation, then the
// policy; a refusal is counted in omnigate_shed_total (token_denied,
// policy_denied) like the refusals before the body. 401 when the token is
// missing or not valid now (expired, not yet valid, forged), 403 when it
// is valid but does not allow this op, resource, tenant or size, or when
// the policy denies the request.
func (g *Gateway) authorize(req *request, op auth.Op, resource string, bytes uint64) *apiError {
	if req.token == "" {
		return &apiError{status: http.StatusUnauthorized, code: CodeUnauthorized, reason: ReasonMissingToken,
			message: "missing or invalid token"}
	}
	v := g.verify(req.token, auth.Request{Op: op, Resource: resource, Tenant: req.tenant, Bytes: bytes})
	if !v.Allowed() {
		g.cfg.Metrics.Add(MetricShed, ShedTokenDenied, 1)
		return denied(v.Reason)
	}
	if e := g.decide(req, policy.Request{Tenant: req.tenant, Op: op, Resource: resource, Bytes: bytes, Authenticated: true}); e != nil {
		g.cfg.Metrics.Add(MetricShed, ShedPolicyDenied, 1)
		return e
	}
	return nil
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
	bundle := g.cfg.Policy.Bundle()
	r := admission.Decide(bundle, pr)
	if !r.Refused() {
		return nil
	}
	return &apiError{status: http.StatusForbidden, code: CodeForbidden, reason: ReasonPolicyDenied, rule: r.Detail,
		message: "policy " + bundle.Name + " denies " + pr.Op.String() + " by rule " + r.Detail}
}

// readResource is the resource a read route names: its address or name.
func readResource(req *request) string {
	if a := req.pathAddr(); a != "" {
		return a
	}
	return req.r.PathValue("name")
}

// authNow is the token verification time: the wall clock (tokens carry
// wall-clock expiries).
func (g *Gateway) authNow() env.Time { return env.Time(g.cfg.Clock().UnixNano()) }

func (g *Gateway) verify(text string, ar auth.Request) auth.Verdict {
	start := time.Now()
	ar.Now = g.authNow()
	v := g.cfg.Verifier.Verify(text, ar)
	g.cfg.Metrics.Observe(auth.MetricVerifyLatency, "", time.Since(start).Seconds())
	return v
}

func denied(r auth.Reason) *apiError { return refusalError(admission.TokenRefusal(r)) }

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

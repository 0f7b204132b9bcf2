package workload

import (
	"crypto/ed25519"
	"errors"
	"time"

	"github.com/ron-network/ron/core/admission"
	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/authz"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/sim"
)

// TokenRole is what the token workload did to a token.
type TokenRole uint8

const (
	// TokenValid is neither revoked nor expiring during the run.
	TokenValid TokenRole = iota
	// TokenRevoked is revoked through the registry at RevokeAt.
	TokenRevoked
	// TokenExpiring carries an expiry caveat at ExpireAt.
	TokenExpiring
)

// Token workload constants.
const (
	// TokenProbers is how many probers share the check rate (each has one
	// check outstanding).
	TokenProbers = 4
	// TokenTenant is the tenant every token is minted for.
	TokenTenant = "sim"
	// RevokeRetry is the pause between attempts of the admin's revoke.
	RevokeRetry = 200 * time.Millisecond
	// TokenChecksMax bounds the recorded checks (a run at 10,000 checks/s
	// for an hour stays within memory); beyond it probers stop.
	TokenChecksMax = 1 << 22
)

// TokensConfig configures the token workload.
type TokensConfig struct {
	Count, Expiring int
	// ExpireAt and RevokeAt are run times (RevokeAt 0: no revoke).
	ExpireAt, RevokeAt time.Duration
	RatePerSecond      float64
	Start, Stop        time.Duration
	Timeout            time.Duration
	// Key is the cluster's capability root key; Admin signs the revoke.
	Key   auth.MACKey
	Admin ed25519.PrivateKey
	// Edge, when set, is the path the probes take: each probe enters its
	// node through the edge (token check, policy, admission) as an
	// authenticated request and reaches the authz service only when
	// admitted. Nil: probes ask the authz service directly.
	Edge Edge
}

// TokenCheck is one check a prober made. Return is -1 when no answer came.
type TokenCheck struct {
	Token   int
	Node    int
	Call    time.Duration
	Return  time.Duration
	Allowed bool
	Reason  auth.Reason
	// Refusal is the edge's refusal when the probe went through the edge
	// and was refused (a token refusal also sets Reason).
	Refusal admission.Refusal
}

// Answered reports whether the node answered.
func (c *TokenCheck) Answered() bool { return c.Return >= 0 }

// Tokens is the capability-check workload: probers present the minted
// tokens to random nodes' authz service, and an admin revokes token 0 at
// RevokeAt through a random node's registry, retrying until a definite
// success. Its choices come from the "workload/tokens" stream.
type Tokens struct {
	cfg    TokensConfig
	w      *sim.World
	rand   *env.Rand
	texts  []string
	roles  []TokenRole
	checks []TokenCheck
	// RevokeCall is when the first revoke attempt was made and
	// RevokeCommit when one was answered ok (-1: not yet).
	revokeCall, revokeCommit time.Duration
	revokeAttempts           int
}

// NewTokens mints cfg.Count tokens: token 0 is revoked when RevokeAt > 0,
// the last Expiring expire at ExpireAt (sim.Epoch + ExpireAt on the
// clocks), the rest stay valid.
func NewTokens(w *sim.World, cfg TokensConfig) (*Tokens, error) {
	t := &Tokens{cfg: cfg, w: w, rand: w.Rand("workload/tokens"), revokeCall: -1, revokeCommit: -1}
	for i := 0; i < cfg.Count; i++ {
		var nonce [auth.NonceBytes]byte
		t.rand.Fill(nonce[:])
		role := TokenValid
		var caveats []auth.Caveat
		switch {
		case i == 0 && cfg.RevokeAt > 0:
			role = TokenRevoked
		case i >= cfg.Count-cfg.Expiring:
			role = TokenExpiring
			caveats = append(caveats, auth.Expiry(sim.Epoch.Add(cfg.ExpireAt)))
		}
		tok, err := auth.Mint(cfg.Key, TokenTenant, auth.Ops(auth.OpRead, auth.OpWrite), nonce, caveats...)
		if err != nil {
			return nil, err
		}
		t.texts = append(t.texts, tok.Encode())
		t.roles = append(t.roles, role)
	}
	return t, nil
}

// Roles are the tokens' roles, by index.
func (t *Tokens) Roles() []TokenRole { return t.roles }

// Checks are the recorded checks, in call order.
func (t *Tokens) Checks() []TokenCheck { return t.checks }

// Revoke reports when the revoke was first attempted and when it was
// answered ok (-1: never), and how many attempts it took.
func (t *Tokens) Revoke() (call, commit time.Duration, attempts int) {
	return t.revokeCall, t.revokeCommit, t.revokeAttempts
}

// Start schedules the probers and the revoke.
func (t *Tokens) Start() {
	if t.cfg.RatePerSecond > 0 {
		for p := 0; p < TokenProbers; p++ {
			t.w.At(t.cfg.Start+t.think(), t.probe)
		}
	}
	if t.cfg.RevokeAt > 0 {
		t.w.At(t.cfg.RevokeAt, t.revoke)
	}
}

func (t *Tokens) think() time.Duration {
	mean := float64(TokenProbers) / t.cfg.RatePerSecond
	return time.Duration(t.rand.ExpFloat64() * mean * float64(time.Second))
}

func (t *Tokens) pickNode() int {
	n := t.w.Nodes()
	start := t.rand.Intn(n)
	for k := 0; k < n; k++ {
		if i := (start + k) % n; t.w.Up(i) {
			return i
		}
	}
	return -1
}

func (t *Tokens) probe() {
	if t.w.Now() >= t.cfg.Stop || len(t.checks) >= TokenChecksMax {
		return
	}
	target := t.pickNode()
	if target < 0 {
		t.w.After(t.think(), t.probe)
		return
	}
	token := t.rand.Intn(len(t.texts))
	t.checks = append(t.checks, TokenCheck{Token: token, Node: target, Call: t.w.Now(), Return: -1})
	index := len(t.checks) - 1
	done := false
	finish := func() {
		if !done {
			done = true
			t.w.After(t.think(), t.probe)
		}
	}
	body := authz.Check{Token: t.texts[token], Op: auth.OpRead, Resource: "b3:", Tenant: TokenTenant}
	answered := func(resp any) {
		if done {
			return
		}
		c := &t.checks[index]
		c.Return = t.w.Now()
		if res, ok := resp.(authz.Result); ok {
			c.Allowed, c.Reason = res.Allowed, res.Reason
		} else {
			c.Reason = auth.ReasonMalformed
		}
		finish()
	}
	if t.cfg.Edge == nil {
		t.w.Request(target, authz.ServiceName, body, answered)
	} else {
		t.probeEdge(target, index, body, answered, finish)
	}
	t.w.After(t.cfg.Timeout, finish)
}

// revoke sends the admin's Revoke of token 0 to a random up node, and
// again after RevokeRetry until one attempt is answered ok (the op is
// idempotent, so retries are safe).
func (t *Tokens) revoke() {
	if t.revokeCommit >= 0 {
		return
	}
	if t.revokeCall < 0 {
		t.revokeCall = t.w.Now()
	}
	target := t.pickNode()
	if target < 0 {
		t.w.After(RevokeRetry, t.revoke)
		return
	}
	t.revokeAttempts++
	tok, _ := auth.Decode(t.texts[0])
	until := auth.Effective(tok).Expiry
	body := registry.Revoke{ID: tok.ID(), Until: until, Admin: t.cfg.Admin.Public().(ed25519.PublicKey),
		Sig: ed25519.Sign(t.cfg.Admin, registry.RevokeSigningBytes(tok.ID(), until))}
	answered, timedOut := false, false
	t.w.Request(target, registry.ServiceName, body, func(resp any) {
		answered = true
		if res, ok := resp.(registry.Result); ok && res.Err == nil {
			t.revokeCommit = max(t.revokeCommit, t.w.Now())
			return
		} else if ok && !errors.Is(res.Err, registry.ErrUnknownOutcome) && !errors.Is(res.Err, registry.ErrUnavailable) && !errors.Is(res.Err, registry.ErrFailed) {
			return // a definite refusal: retrying cannot help, the check reports it
		}
		if !timedOut { // else the timeout already started the next attempt
			t.w.After(RevokeRetry, t.revoke)
		}
	})
	t.w.After(t.cfg.Timeout, func() {
		if !answered {
			timedOut = true
			t.revoke()
		}
	})
}

// probeEdge sends a probe through the edge: a token refusal is the
// verdict (denied with the verifier's reason); another refusal (quota,
// overload) is recorded and leaves the check unanswered.
func (t *Tokens) probeEdge(target, index int, body authz.Check, answered func(any), finish func()) {
	// one source per token: a token's failures are charged to whoever
	// presents it, as a client address would be
	call := EdgeCall{Node: target, Tenant: TokenTenant, Token: body.Token, Source: "prober/" + body.Token[:8], Authenticated: true,
		Op: body.Op, Resource: body.Resource, Service: authz.ServiceName, Body: body}
	t.cfg.Edge.Submit(call, func(a EdgeAnswer) {
		if !a.Refusal.Refused() {
			answered(a.Resp)
			return
		}
		c := &t.checks[index]
		c.Refusal = a.Refusal
		if c.Return < 0 && a.Refusal.Reason == admission.ShedTokenDenied {
			c.Return, c.Reason = t.w.Now(), auth.Reason(a.Refusal.Detail)
			finish()
		}
	})
}

// UseEdge makes the probes enter through edge (see TokensConfig.Edge).
func (t *Tokens) UseEdge(edge Edge) { t.cfg.Edge = edge }

package authz

import (
	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/node"
)

// ServiceName is the service's name (env.Request.Service).
const ServiceName = "authz"

// MetricChecks counts verdicts: the label is "allow" or the deny reason.
const MetricChecks = "authz_checks_total"

// resultAllow is MetricChecks' label for an allowed check.
const resultAllow = "allow"

var _ = env.Declare(env.MetricDef{Name: MetricChecks, Kind: env.Counter,
	Help: "Capability checks answered, by verdict (allow or the deny reason).", Label: "result"})

// Check asks whether Token may perform Op on Resource for Tenant with a
// body of Bytes. The reply is a Result.
type Check struct {
	Token    string
	Op       auth.Op
	Resource string
	Tenant   string
	Bytes    uint64
}

// Result answers a Check. Reason is "" when allowed; TokenID is set when
// the token decoded.
type Result struct {
	Allowed bool
	Reason  auth.Reason
	TokenID auth.TokenID
}

// Config configures the service.
type Config struct {
	// Keys holds the capability root keys.
	Keys auth.KeySource
	// Revocations is the node's revocation view (nil: nothing revoked).
	Revocations auth.RevocationSet
	// Audiences are the names this node answers to (audience caveats).
	Audiences []string
}

// Service is the authz service of one node.
type Service struct {
	env      env.Env
	verifier *auth.Verifier
}

// New returns the service. cfg.Keys is required (a programmer error
// otherwise).
func New(cfg Config) *Service {
	if cfg.Keys == nil {
		panic("authz: Config.Keys is required")
	}
	return &Service{verifier: auth.NewVerifier(cfg.Keys, cfg.Revocations, cfg.Audiences...)}
}

func (s *Service) Name() string        { return ServiceName }
func (s *Service) Protocols() []uint16 { return nil }
func (s *Service) Init(e env.Env)      { s.env = e }

// Handle answers Check requests; other inputs are ignored, and a request
// with another body is answered with a malformed verdict.
func (s *Service) Handle(in env.Input) {
	req, ok := in.(env.Request)
	if !ok {
		return
	}
	c, ok := req.Body.(Check)
	if !ok {
		s.answer(req.ID, auth.Verdict{Reason: auth.ReasonMalformed})
		return
	}
	v := s.verifier.Verify(c.Token, auth.Request{Op: c.Op, Resource: c.Resource, Tenant: c.Tenant,
		Bytes: c.Bytes, Now: s.env.Now()})
	s.answer(req.ID, v)
}

func (s *Service) answer(id env.RequestID, v auth.Verdict) {
	res := Result{Allowed: v.Allowed(), Reason: v.Reason}
	if v.Token != nil {
		res.TokenID = v.Token.ID()
	}
	label := resultAllow
	if !res.Allowed {
		label = string(v.Reason)
	}
	s.env.Metrics().Add(MetricChecks, label, 1)
	s.env.Reply(id, res)
}

var _ node.Service = (*Service)(nil)

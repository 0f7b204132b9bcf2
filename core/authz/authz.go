package authz

import (
	"fmt"

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

// RevokedQuery asks whether a token id is revoked as this node knows it.
// The reply is a RevokedAnswer. rond's gateway verifies tokens on its own
// goroutines and asks this query (through the node's loop) for the one
// thing it cannot know itself: the registry's revocation view.
type RevokedQuery struct{ ID auth.TokenID }

// RevokedAnswer answers a RevokedQuery. Revoked is the view's verdict;
// Index is the registry log index the view is complete through
// (RevocationView.RevocationIndex). Enforced is false when the node has no
// revocation view (it runs no registry): nothing can be revoked there, and
// Revoked is always false.
type RevokedAnswer struct {
	Revoked  bool
	Index    uint64
	Enforced bool
}

// RevocationView is a node's revocation state: the set, and the registry
// log index it is complete through. *registry.Registry implements it.
type RevocationView interface {
	auth.RevocationSet
	RevocationIndex() uint64
}

// Config configures the service.
type Config struct {
	// Keys holds the capability root keys. Nil: the node knows no key, and
	// every Check is denied with auth.ReasonUnknownKey (rond's gateway
	// verifies with its own keyring and asks only RevokedQuery).
	Keys auth.KeySource
	// Revocations is the node's revocation view (nil: nothing revoked, and
	// RevokedAnswer.Enforced is false).
	Revocations RevocationView
	// Audiences are the names this node answers to (audience caveats).
	Audiences []string
}

// Service is the authz service of one node.
type Service struct {
	env      env.Env
	verifier *auth.Verifier
	view     RevocationView
}

// noKeys is the key source of a node configured without keys.
type noKeys struct{}

func (noKeys) MACKey(string, uint32) (auth.MACKey, bool) { return auth.MACKey{}, false }

// New returns the service.
func New(cfg Config) *Service {
	keys := cfg.Keys
	if keys == nil {
		keys = noKeys{}
	}
	var revs auth.RevocationSet
	if cfg.Revocations != nil {
		revs = cfg.Revocations
	}
	return &Service{verifier: auth.NewVerifier(keys, revs, cfg.Audiences...), view: cfg.Revocations}
}

func (s *Service) Name() string        { return ServiceName }
func (s *Service) Protocols() []uint16 { return nil }
func (s *Service) Init(e env.Env)      { s.env = e }

// Handle answers Check and RevokedQuery requests; other inputs are
// ignored, and a request with another body is answered with
// node.ErrUnknownRequest.
func (s *Service) Handle(in env.Input) {
	req, ok := in.(env.Request)
	if !ok {
		return
	}
	switch body := req.Body.(type) {
	case Check:
		v := s.verifier.Verify(body.Token, auth.Request{Op: body.Op, Resource: body.Resource, Tenant: body.Tenant,
			Bytes: body.Bytes, Now: s.env.Now()})
		s.answer(req.ID, v)
	case RevokedQuery:
		s.env.Reply(req.ID, s.revoked(body.ID))
	default:
		s.env.Reply(req.ID, fmt.Errorf("%w: %T", node.ErrUnknownRequest, req.Body))
	}
}

func (s *Service) revoked(id auth.TokenID) RevokedAnswer {
	if s.view == nil {
		return RevokedAnswer{}
	}
	return RevokedAnswer{Revoked: s.view.Revoked(id), Index: s.view.RevocationIndex(), Enforced: true}
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

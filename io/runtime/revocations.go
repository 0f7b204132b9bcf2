package runtime

import (
	"errors"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/registry"
)

// RevocationsService is the name of the service that answers
// RevokedQuery from the node's registry view. NewNode composes it on every
// node.
//
// It exists because the registry lives on the loop goroutine while the
// gateway verifies tokens on its own goroutines: reading
// (*registry.Registry).Revoked from there would race with the loop. A
// query through Call runs on the loop instead. (core/authz's Check needs
// the token text, which auth.RevocationSet does not see; a query by id
// fits the interface the gateway's verifier calls.)
const RevocationsService = "revocations"

// RevokedQuery asks whether a token id is revoked as this node knows it.
// The reply is a RevokedAnswer.
type RevokedQuery struct{ ID auth.TokenID }

// RevokedAnswer answers a RevokedQuery. Revoked is
// (*registry.Registry).Revoked; Index is the log index the node's view is
// complete through (registry.RevocationIndex). Enforced is false when the
// node runs no registry: nothing can be revoked there, and Revoked is
// always false.
type RevokedAnswer struct {
	Revoked  bool
	Index    uint64
	Enforced bool
}

// errRevocationsBody answers a request to RevocationsService that is not
// a RevokedQuery (a programmer error in the caller, reported as a value).
var errRevocationsBody = errors.New("runtime: revocations: request body is not a RevokedQuery")

// revocations answers RevokedQuery from reg (nil: no registry). It keeps
// no state and answers every request in the step it arrives, so it needs
// no queue.
type revocations struct {
	env env.Env
	reg *registry.Registry
}

func (s *revocations) Name() string        { return RevocationsService }
func (s *revocations) Protocols() []uint16 { return nil }
func (s *revocations) Init(e env.Env)      { s.env = e }

// Handle answers RevokedQuery; other requests get an error value, other
// inputs are ignored.
func (s *revocations) Handle(in env.Input) {
	req, ok := in.(env.Request)
	if !ok {
		return
	}
	q, ok := req.Body.(RevokedQuery)
	if !ok {
		s.env.Reply(req.ID, errRevocationsBody)
		return
	}
	if s.reg == nil {
		s.env.Reply(req.ID, RevokedAnswer{})
		return
	}
	s.env.Reply(req.ID, RevokedAnswer{Revoked: s.reg.Revoked(q.ID), Index: s.reg.RevocationIndex(), Enforced: true})
}

var _ node.Service = (*revocations)(nil)

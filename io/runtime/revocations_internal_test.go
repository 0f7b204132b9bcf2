package runtime

import (
	"testing"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/env/envtest"
	"github.com/ron-network/ron/core/proto"
)

// TestRevocationsWithoutRegistry: a node without a registry answers every
// query "not revoked, not enforced" (the gateway must not read that as a
// verdict from a registry), and a body that is not a query gets an error
// value. The answers with a registry are tested through the gateway
// (io/gateway revoke_test.go), against a real single-replica node.
func TestRevocationsWithoutRegistry(t *testing.T) {
	e := envtest.New(proto.NodeID{1}, 1)
	s := &revocations{}
	s.Init(e)
	s.Handle(env.Request{ID: 1, Service: RevocationsService, Body: RevokedQuery{ID: auth.TokenID{1}}})
	s.Handle(env.Request{ID: 2, Service: RevocationsService, Body: "what"})
	s.Handle(env.TimerFired{})
	if len(e.Replies) != 2 {
		t.Fatalf("replies %+v, want two", e.Replies)
	}
	if got, ok := e.Replies[0].Resp.(RevokedAnswer); !ok || got != (RevokedAnswer{}) {
		t.Fatalf("query answered %+v", e.Replies[0].Resp)
	}
	if _, ok := e.Replies[1].Resp.(error); !ok {
		t.Fatalf("a bad body answered %+v, want an error value", e.Replies[1].Resp)
	}
}

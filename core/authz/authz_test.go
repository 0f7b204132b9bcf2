package authz

import (
	"errors"
	"testing"
	"time"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/env/envtest"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
)

// view is a revocation view complete through a fixed index.
type view struct {
	auth.RevocationSet
	index uint64
}

func (v view) RevocationIndex() uint64 { return v.index }

type keys map[string]auth.MACKey

func (k keys) MACKey(id string, version uint32) (auth.MACKey, bool) {
	m, ok := k[id]
	return m, ok && m.Version == version
}

// TestCheckVerdicts: allowed tokens are allowed, and each deny carries the
// verifier's stable reason, revocation included; every verdict is counted.
func TestCheckVerdicts(t *testing.T) {
	secret, err := auth.NewSecret(make([]byte, auth.KeyBytes))
	if err != nil {
		t.Fatal(err)
	}
	key := auth.MACKey{ID: "cluster", Version: 1, Secret: secret}
	t0 := env.Time(time.Hour)
	valid, _ := auth.Mint(key, "t", auth.Ops(auth.OpRead), [auth.NonceBytes]byte{1})
	revoked, _ := auth.Mint(key, "t", auth.Ops(auth.OpRead), [auth.NonceBytes]byte{2})
	expiring, _ := auth.Mint(key, "t", auth.Ops(auth.OpRead), [auth.NonceBytes]byte{3}, auth.Expiry(t0))
	other := auth.MACKey{ID: "cluster", Version: 1, Secret: auth.SecretFromRand(env.NewRand(9))}
	forged, _ := auth.Mint(other, "t", auth.Ops(auth.OpRead), [auth.NonceBytes]byte{4})
	rev := auth.NewMemRevocations()
	if err := rev.Revoke(revoked.ID(), env.Time(1<<62)); err != nil {
		t.Fatal(err)
	}
	e := envtest.New(proto.NodeID{1}, 1)
	e.Clock = t0 + env.Time(auth.ClockSkewMax)
	s := New(Config{Keys: keys{"cluster": key}, Revocations: view{rev, 7}})
	s.Init(e)
	cases := []struct {
		body any
		want auth.Reason
	}{
		{Check{Token: valid.Encode(), Op: auth.OpRead, Tenant: "t"}, ""},
		{Check{Token: valid.Encode(), Op: auth.OpWrite, Tenant: "t"}, auth.ReasonOpNotAllowed},
		{Check{Token: revoked.Encode(), Op: auth.OpRead, Tenant: "t"}, auth.ReasonRevoked},
		{Check{Token: expiring.Encode(), Op: auth.OpRead, Tenant: "t"}, auth.ReasonExpired},
		{Check{Token: forged.Encode(), Op: auth.OpRead, Tenant: "t"}, auth.ReasonBadMAC},
		{Check{Token: "!", Op: auth.OpRead, Tenant: "t"}, auth.ReasonMalformed},
	}
	for i, c := range cases {
		s.Handle(env.Request{ID: env.RequestID(i + 1), Service: ServiceName, Body: c.body})
		got := e.Replies[len(e.Replies)-1].Resp.(Result)
		if got.Reason != c.want || got.Allowed != (c.want == "") {
			t.Errorf("case %d: %+v, want reason %q", i, got, c.want)
		}
	}
	s.Handle(env.Request{ID: 98, Body: "not a check"})
	if err, _ := e.Replies[len(e.Replies)-1].Resp.(error); !errors.Is(err, node.ErrUnknownRequest) {
		t.Errorf("an unknown body answered %v", e.Replies[len(e.Replies)-1].Resp)
	}
	e.Clock = t0 + env.Time(auth.ClockSkewMax) - 1
	s.Handle(env.Request{ID: 99, Body: Check{Token: expiring.Encode(), Op: auth.OpRead, Tenant: "t"}})
	if got := e.Replies[len(e.Replies)-1].Resp.(Result); !got.Allowed || got.TokenID != expiring.ID() {
		t.Errorf("inside the skew allowance: %+v", got)
	}
	if n := e.Recorder.Values[envtest.Key(MetricChecks, string(auth.ReasonRevoked))]; n != 1 {
		t.Errorf("revoked verdicts counted %v times", n)
	}
	if n := e.Recorder.Values[envtest.Key(MetricChecks, resultAllow)]; n != 2 {
		t.Errorf("allowed verdicts counted %v times", n)
	}
}

// TestRevokedQuery: the query answers from the view with its index, and a
// node without a view (no registry) answers "not enforced"; a node without
// keys denies every check as unknown_key.
func TestRevokedQuery(t *testing.T) {
	rev := auth.NewMemRevocations()
	if err := rev.Revoke(auth.TokenID{1}, env.Time(1<<62)); err != nil {
		t.Fatal(err)
	}
	e := envtest.New(proto.NodeID{1}, 1)
	s := New(Config{Revocations: view{rev, 42}})
	s.Init(e)
	s.Handle(env.Request{ID: 1, Service: ServiceName, Body: RevokedQuery{ID: auth.TokenID{1}}})
	s.Handle(env.Request{ID: 2, Service: ServiceName, Body: RevokedQuery{ID: auth.TokenID{2}}})
	if got := e.Replies[0].Resp.(RevokedAnswer); got != (RevokedAnswer{Revoked: true, Index: 42, Enforced: true}) {
		t.Errorf("revoked id: %+v", got)
	}
	if got := e.Replies[1].Resp.(RevokedAnswer); got != (RevokedAnswer{Index: 42, Enforced: true}) {
		t.Errorf("other id: %+v", got)
	}
	key := auth.MACKey{ID: "cluster", Version: 1, Secret: auth.SecretFromRand(env.NewRand(3))}
	tok, _ := auth.Mint(key, "t", auth.Ops(auth.OpRead), [auth.NonceBytes]byte{1})
	bare := New(Config{})
	bare.Init(e)
	bare.Handle(env.Request{ID: 3, Body: RevokedQuery{ID: auth.TokenID{1}}})
	if got := e.Replies[2].Resp.(RevokedAnswer); got != (RevokedAnswer{}) {
		t.Errorf("no view: %+v", got)
	}
	bare.Handle(env.Request{ID: 4, Body: Check{Token: tok.Encode(), Op: auth.OpRead, Tenant: "t"}})
	if got := e.Replies[3].Resp.(Result); got.Allowed || got.Reason != auth.ReasonUnknownKey {
		t.Errorf("no keys: %+v", got)
	}
}

package authz

import (
	"testing"
	"time"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/env/envtest"
	"github.com/ron-network/ron/core/proto"
)

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
	s := New(Config{Keys: keys{"cluster": key}, Revocations: rev})
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
		{"not a check", auth.ReasonMalformed},
	}
	for i, c := range cases {
		s.Handle(env.Request{ID: env.RequestID(i + 1), Service: ServiceName, Body: c.body})
		got := e.Replies[len(e.Replies)-1].Resp.(Result)
		if got.Reason != c.want || got.Allowed != (c.want == "") {
			t.Errorf("case %d: %+v, want reason %q", i, got, c.want)
		}
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

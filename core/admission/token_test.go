package admission

import (
	"testing"
	"time"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/policy"
)

type oneKey auth.MACKey

func (k oneKey) MACKey(id string, version uint32) (auth.MACKey, bool) {
	return auth.MACKey(k), id == k.ID && version == k.Version
}

// TestCheckTokenBeforeTheBody: expiry, not-before, scope and max_bytes
// against the declared size refuse before any body; a prefix caveat waits
// for the resource when only the body names it, but the size does not.
func TestCheckTokenBeforeTheBody(t *testing.T) {
	key := auth.MACKey{ID: "k", Version: 1, Secret: auth.SecretFromRand(env.NewRand(1))}
	v := auth.NewVerifier(oneKey(key), nil)
	now := env.Time(10 * time.Hour)
	mint := func(n byte, ops auth.OpSet, caveats ...auth.Caveat) string {
		tok, err := auth.Mint(key, "acme", ops, [auth.NonceBytes]byte{n}, caveats...)
		if err != nil {
			t.Fatal(err)
		}
		return tok.Encode()
	}
	rw := auth.Ops(auth.OpRead, auth.OpWrite)
	cases := []struct {
		name  string
		token string
		check TokenCheck
		kind  Kind
		why   auth.Reason
	}{
		{"valid", mint(1, rw), TokenCheck{Op: auth.OpWrite, Resource: ResourceUnknown, Bytes: 1 << 26}, 0, ""},
		{"expired", mint(2, rw, auth.Expiry(now-env.Time(time.Hour))), TokenCheck{Op: auth.OpWrite, Resource: ResourceUnknown, Bytes: 10}, KindUnauthorized, auth.ReasonExpired},
		{"not yet", mint(3, rw, auth.NotBefore(now+env.Time(time.Hour))), TokenCheck{Op: auth.OpName, Resource: "x", Bytes: 10}, KindUnauthorized, auth.ReasonNotYetValid},
		{"read-only", mint(4, auth.Ops(auth.OpRead)), TokenCheck{Op: auth.OpWrite, Resource: ResourceUnknown, Bytes: 10}, KindForbidden, auth.ReasonOpNotAllowed},
		{"max_bytes", mint(5, rw, auth.MaxBytes(10)), TokenCheck{Op: auth.OpWrite, Resource: ResourceUnknown, Bytes: 64 << 20}, KindForbidden, auth.ReasonTooLarge},
		{"prefix waits", mint(6, rw, auth.Prefix("b3:00")), TokenCheck{Op: auth.OpWrite, Resource: ResourceUnknown, Bytes: 10}, 0, ""},
		{"prefix and size", mint(7, rw, auth.Prefix("b3:00"), auth.MaxBytes(10)), TokenCheck{Op: auth.OpWrite, Resource: ResourceUnknown, Bytes: 11}, KindForbidden, auth.ReasonTooLarge},
		{"prefix known", mint(8, rw, auth.Prefix("b3:00")), TokenCheck{Op: auth.OpWrite, Resource: "b3:ff", Bytes: 10}, KindForbidden, auth.ReasonPrefixNotAllowed},
		{"garbage", "!!", TokenCheck{Op: auth.OpWrite, Resource: ResourceUnknown}, KindUnauthorized, auth.ReasonMalformed},
	}
	for _, c := range cases {
		verdict, r := CheckToken(v, c.token, c.check, now)
		if r.Kind != c.kind || verdict.Reason != c.why || (r.Refused() && (r.Reason != ShedTokenDenied || r.Detail != string(c.why))) {
			t.Errorf("%s: verdict %q refusal %+v, want kind %d reason %q", c.name, verdict.Reason, r, c.kind, c.why)
		}
	}
}

func TestDecideNamesTheRule(t *testing.T) {
	b, err := policy.Parse([]byte(DefaultPolicy))
	if err != nil {
		t.Fatal(err)
	}
	if r := Decide(b, policy.Request{Op: auth.OpRead}); r.Refused() {
		t.Fatalf("public read refused: %+v", r)
	}
	r := Decide(b, policy.Request{Op: auth.OpWrite})
	if r.Kind != KindForbidden || r.Reason != ShedPolicyDenied || r.Detail != "default-deny" {
		t.Fatalf("unauthenticated write: %+v", r)
	}
}

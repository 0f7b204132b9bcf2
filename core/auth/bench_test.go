package auth

import (
	"testing"
	"time"
)

// BenchmarkVerify: a typical token (scope plus four caveats) allowed.
func BenchmarkVerify(b *testing.B) {
	tok := mustMint(b, Ops(OpRead, OpWrite), Expiry(t0.Add(time.Hour)), Prefix("b3:ab"), MaxBytes(1<<20), Audience("c1"))
	text := tok.Encode()
	v := testVerifier(NewMemRevocations())
	req := Request{Op: OpWrite, Resource: "b3:ab12", Tenant: "acme", Bytes: 1000, Now: t0}
	b.ReportAllocs()
	for b.Loop() {
		if !v.Verify(text, req).Allowed() {
			b.Fatal("denied")
		}
	}
}

// BenchmarkVerifyMaxCaveats: the worst case, CaveatsMax caveats.
func BenchmarkVerifyMaxCaveats(b *testing.B) {
	caveats := make([]Caveat, CaveatsMax)
	for i := range caveats {
		caveats[i] = MaxBytes(uint64(1<<20 + i))
	}
	text := mustMint(b, OpsAll, caveats...).Encode()
	v := testVerifier(nil)
	req := Request{Op: OpWrite, Tenant: "acme", Now: t0}
	b.ReportAllocs()
	for b.Loop() {
		if !v.Verify(text, req).Allowed() {
			b.Fatal("denied")
		}
	}
}

func BenchmarkMint(b *testing.B) {
	key := testKey()
	caveats := []Caveat{Expiry(t0.Add(time.Hour)), Prefix("b3:ab"), MaxBytes(1 << 20), Audience("c1")}
	b.ReportAllocs()
	for b.Loop() {
		tok, err := Mint(key, "acme", Ops(OpRead, OpWrite), [NonceBytes]byte{1}, caveats...)
		if err != nil {
			b.Fatal(err)
		}
		_ = tok.Encode()
	}
}

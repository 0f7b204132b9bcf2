package gateway_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/io/gateway"
)

// tenantToken mints a token of tenant allowing only names, as
// `ronctl token issue --tenant T --ops name` does.
func (f *fixture) tenantToken(tenant string) map[string]string {
	f.t.Helper()
	tok, err := auth.Mint(f.key, tenant, auth.Ops(auth.OpName), [auth.NonceBytes]byte{2})
	if err != nil {
		f.t.Fatal(err)
	}
	return map[string]string{"Authorization": "Bearer " + tok.Encode()}
}

func ownerClaim(seed byte) string {
	pub := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32)).Public().(ed25519.PublicKey)
	return fmt.Sprintf(`{"owner":%q}`, hex.EncodeToString(pub))
}

// The red-team's attack: one tenant claiming names until the registry is
// full. At its quota the tenant gets a typed 403 naming the quota, while
// other tenants still claim; a claim that failed does not count; an
// exempt tenant is not bounded.
func TestNameQuotaBoundsOneTenant(t *testing.T) {
	f := newServerFixtureWith(t, func(c *gateway.Config) {
		c.NamesPerTenantMax = 3
		c.NameQuotaExempt = []string{"root"}
	})
	evil, alice, bob, root := f.tenantToken("evil"), f.tenantToken("alice"), f.tenantToken("bob"), f.tenantToken("root")
	for i := 1; i <= 3; i++ {
		if r := f.do("POST", fmt.Sprintf("/names/evil-%d", i), []byte(ownerClaim(byte(i))), evil); r.StatusCode != 201 {
			t.Fatalf("evil's claim %d: %d %s", i, r.StatusCode, r.body)
		}
	}
	env := wantError(t, f.do("POST", "/names/evil-4", []byte(ownerClaim(4)), evil), 403, gateway.CodeNameQuota)
	if n := metricValue(t, f, gateway.MetricNamesRefused, gateway.NamesRefusedQuota); n != 1 {
		t.Fatalf("quota refusals counted: %v, want 1", n)
	}
	if !strings.Contains(env.Message, "tenant evil holds 3 names, its quota") || env.Retryable {
		t.Fatalf("quota refusal %+v, want a final refusal naming the tenant and its quota", env)
	}
	// Claims are idempotent: a name the tenant holds may be claimed again.
	if r := f.do("POST", "/names/evil-1", []byte(ownerClaim(1)), evil); r.StatusCode != 201 {
		t.Fatalf("evil's repeated claim at its quota: %d %s", r.StatusCode, r.body)
	}
	if r := f.do("POST", "/names/alice-1", []byte(ownerClaim(9)), alice); r.StatusCode != 201 {
		t.Fatalf("alice's claim while evil is at its quota: %d %s", r.StatusCode, r.body)
	}
	// A refused claim (taken) frees its place: bob still claims three.
	wantError(t, f.do("POST", "/names/evil-1", []byte(ownerClaim(10)), bob), 409, gateway.CodeConflict)
	for i := 1; i <= 3; i++ {
		if r := f.do("POST", fmt.Sprintf("/names/bob-%d", i), []byte(ownerClaim(10)), bob); r.StatusCode != 201 {
			t.Fatalf("bob's claim %d after a taken one: %d %s", i, r.StatusCode, r.body)
		}
	}
	// Only root's full token is exempt (every op, no caveat): one issued
	// for names alone, or attenuated, is bounded like any tenant's.
	full, err := auth.Mint(f.key, "root", auth.OpsAll, [auth.NonceBytes]byte{3})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 4; i++ {
		if r := f.do("POST", fmt.Sprintf("/names/root-%d", i), []byte(ownerClaim(11)), bearerOf(full)); r.StatusCode != 201 {
			t.Fatalf("exempt root's claim %d: %d %s", i, r.StatusCode, r.body)
		}
	}
	attenuated, err := full.Attenuate(auth.Prefix("root-"))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []map[string]string{root, bearerOf(attenuated)} {
		for i := 5; i <= 7; i++ {
			f.do("POST", fmt.Sprintf("/names/root-%d", i), []byte(ownerClaim(11)), h)
		}
		wantError(t, f.do("POST", "/names/root-8", []byte(ownerClaim(11)), h), 403, gateway.CodeNameQuota)
	}
}

func bearerOf(tok *auth.Token) map[string]string {
	return map[string]string{"Authorization": "Bearer " + tok.Encode()}
}

// A full registry says so (507, not 413 "too large"), and a Set whose seq
// is ahead of the name's says so (409 with the current seq), not "stale".
func TestNameRefusalsSayWhy(t *testing.T) {
	f := newServerFixtureWith(t, func(c *gateway.Config) {
		c.NamesPerTenantMax = -1 // no quota: the registry itself fills
		c.Admission = gateway.AdmissionConfig{TenantRate: 1e6, TenantBurst: 1e6}
	})
	claim := ownerClaim(5)
	for i := 0; i < registry.NamesMax; i++ {
		if r := f.do("POST", fmt.Sprintf("/names/n-%d", i), []byte(claim), f.bearer()); r.StatusCode != 201 {
			t.Fatalf("claim %d of %d: %d %s", i, registry.NamesMax, r.StatusCode, r.body)
		}
	}
	env := wantError(t, f.do("POST", "/names/one-more", []byte(claim), f.bearer()), 507, gateway.CodeRegistryFull)
	if !strings.Contains(env.Message, "registry: full") || strings.Contains(env.Message, "too large") || env.Retryable {
		t.Fatalf("claim in a full registry: %+v, want a final 507 saying the registry is full", env)
	}
	if n := metricValue(t, f, gateway.MetricNamesRefused, gateway.NamesRefusedFull); n != 1 {
		t.Fatalf("registry-full refusals counted: %v, want 1", n)
	}

	owner := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32))
	target := proto.AddrOf([]byte("v1"))
	set := func(seq uint64) resp {
		sig := ed25519.Sign(owner, registry.SetSigningBytes("n-0", target, seq))
		body := fmt.Sprintf(`{"target":%q,"seq":%d,"owner":%q,"sig":%q}`, target, seq,
			hex.EncodeToString(owner.Public().(ed25519.PublicKey)), hex.EncodeToString(sig))
		return f.do("PUT", "/names/n-0", []byte(body), f.bearer())
	}
	if r := set(1); r.StatusCode != 200 {
		t.Fatalf("set seq 1: %d %s", r.StatusCode, r.body)
	}
	for _, c := range []struct {
		seq  uint64
		word string
	}{{7, "ahead"}, {1, "stale"}} {
		var conflict gateway.ConflictEnvelope
		r := set(c.seq)
		if r.StatusCode != 409 || json.Unmarshal(r.body, &conflict) != nil || conflict.Code != gateway.CodeConflict ||
			conflict.CurrentSeq != 1 || !strings.Contains(conflict.Message, c.word) || !strings.Contains(conflict.Message, "signs 2") {
			t.Fatalf("set seq %d on seq 1: %d %s, want 409 saying %q with current_seq 1", c.seq, r.StatusCode, r.body, c.word)
		}
	}
}

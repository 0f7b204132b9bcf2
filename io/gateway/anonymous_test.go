package gateway_test

import (
	"testing"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/io/gateway"
)

// TestAnonymousReadsOverHTTP: 300 GETs without a token (more than a
// tenant's 200 requests/s default) are all served while tenant alice's
// writes are held to her own bucket; once the anonymous bucket is empty a
// GET without a token is 429 with Retry-After, and a token's tenant, even
// one named "public", still reads.
func TestAnonymousReadsOverHTTP(t *testing.T) {
	const anonymousBurst = 300
	f := newFixture(t, gateway.AdmissionConfig{TenantRate: 0.001, TenantBurst: 2,
		AnonymousRate: 0.001, AnonymousBurst: anonymousBurst}, 0)
	addr := f.put([]byte("a public object")) // alice's first token
	for i := 0; i < anonymousBurst; i++ {
		if r := f.do("GET", "/o/"+addr, nil, nil); r.StatusCode != 200 {
			t.Fatalf("anonymous GET %d: %d %s", i+1, r.StatusCode, r.body)
		}
	}
	f.put([]byte("alice's second write"))
	r := f.do("PUT", "/o", []byte("alice's third write"), f.bearer())
	wantError(t, r, 429, gateway.CodeOverQuota)

	r = f.do("GET", "/o/"+addr, nil, nil)
	env := wantError(t, r, 429, gateway.CodeOverQuota)
	if !env.Retryable || r.Header.Get("Retry-After") == "" {
		t.Fatalf("anonymous 429 without Retry-After or retryable: %+v", env)
	}
	for _, tenant := range []string{"bob", gateway.PublicTenant} {
		tok, err := auth.Mint(f.key, tenant, auth.Ops(auth.OpRead), [auth.NonceBytes]byte{2})
		if err != nil {
			t.Fatal(err)
		}
		if r := f.do("GET", "/o/"+addr, nil, map[string]string{"Authorization": "Bearer " + tok.Encode()}); r.StatusCode != 200 {
			t.Fatalf("tenant %s reading with the anonymous bucket empty: %d %s", tenant, r.StatusCode, r.body)
		}
	}
}

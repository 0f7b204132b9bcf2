package scenario

import (
	"strings"
	"testing"
	"time"
)

const tokensBase = `
name: t
duration: 60s
nodes: {count: 3, registry_replicas: REPLICAS}
workload:
  tokens: TOKENS
checks: CHECKS
`

func tokensScenario(replicas, tokens, checks string) string {
	return strings.NewReplacer("REPLICAS", replicas, "TOKENS", tokens, "CHECKS", checks).Replace(tokensBase)
}

func TestTokensSection(t *testing.T) {
	s, err := Parse("t.yaml", []byte(tokensScenario("3", "{count: 4, rate: 50/s, expiring: 2, expire_at: 20s, revoke_at: 10s}", "[revocation]")))
	if err != nil {
		t.Fatal(err)
	}
	want := Tokens{Count: 4, Expiring: 2, ExpireAt: 20 * time.Second, RevokeAt: 10 * time.Second, RatePerSecond: 50}
	if *s.Workload.Tokens != want || s.Checks[0].Within != RevocationWithinDefault {
		t.Fatalf("tokens %+v, check %+v", *s.Workload.Tokens, s.Checks[0])
	}
	bad := []struct{ replicas, tokens, checks, want string }{
		{"3", "{count: 2, rate: 1/s, expiring: 1, expire_at: 5s, revoke_at: 5s}", "[]", "leave none valid"},
		{"3", "{count: 3, rate: 1/s, expiring: 1}", "[]", "expire_at: required"},
		{"0", "{count: 3, rate: 1/s, revoke_at: 5s}", "[]", "registry_replicas is 0"},
		{"3", "{count: 3, rate: 1/s, revoke_at: 60s}", "[]", "not before the end"},
		{"3", "{count: 3}", "[]", "rate"},
		{"3", "{count: 3, rate: 1/s, colour: red}", "[]", "colour"},
	}
	for _, b := range bad {
		_, err := Parse("t.yaml", []byte(tokensScenario(b.replicas, b.tokens, b.checks)))
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("tokens %s: error %v, want one mentioning %q", b.tokens, err, b.want)
		}
	}
	const noTokens = "name: t\nduration: 10s\nnodes: {count: 1}\nchecks: [revocation]\n"
	if _, err := Parse("t.yaml", []byte(noTokens)); err == nil || !strings.Contains(err.Error(), "workload.tokens is absent") {
		t.Errorf("revocation without tokens: %v", err)
	}
}

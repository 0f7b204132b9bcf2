package policy

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/ron-network/ron/core/auth"
	"pgregory.net/rapid"
)

const goodBundle = `version: 1
name: default
rules:
  - name: block-globex
    effect: deny
    match:
      tenants: [globex]
  - name: public-reads
    effect: allow
    match:
      ops: [read]
      authenticated: false
  - name: small-writes
    effect: allow
    match:
      ops: [write, delete]
      prefixes: ["b3:", "releases."]
      max_bytes: 1024
      authenticated: true
  - name: admin-console
    effect: allow
    match:
      ops: [admin]
      tags: [console, internal]
`

func mustParse(t *testing.T, text string) *Bundle {
	t.Helper()
	b, err := Parse([]byte(text))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return b
}

func TestDecideFirstMatchWins(t *testing.T) {
	b := mustParse(t, goodBundle)
	cases := []struct {
		name string
		req  Request
		want int // rule index, -1 for the default
		allo bool
	}{
		{"deny rule before allow", Request{Tenant: "globex", Op: auth.OpRead}, 0, false},
		{"public read", Request{Tenant: "acme", Op: auth.OpRead}, 1, true},
		{"authenticated read has no rule", Request{Tenant: "acme", Op: auth.OpRead, Authenticated: true}, -1, false},
		{"small write", Request{Tenant: "acme", Op: auth.OpWrite, Resource: "b3:00", Bytes: 1024, Authenticated: true}, 2, true},
		{"write one byte too big", Request{Tenant: "acme", Op: auth.OpWrite, Resource: "b3:00", Bytes: 1025, Authenticated: true}, -1, false},
		{"write outside prefixes", Request{Tenant: "acme", Op: auth.OpWrite, Resource: "other", Authenticated: true}, -1, false},
		{"name prefix", Request{Tenant: "acme", Op: auth.OpDelete, Resource: "releases.v1", Authenticated: true}, 2, true},
		{"admin needs both tags", Request{Tenant: "acme", Op: auth.OpAdmin, Tags: []string{"console"}}, -1, false},
		{"admin with tags", Request{Tenant: "acme", Op: auth.OpAdmin, Tags: []string{"internal", "x", "console"}}, 3, true},
	}
	for _, c := range cases {
		got := b.Decide(c.req)
		if got.Rule != c.want || got.Allow != c.allo {
			t.Errorf("%s: %+v, want rule %d allow %v", c.name, got, c.want, c.allo)
		}
		if c.want >= 0 && got.RuleName != b.Rules[c.want].Name {
			t.Errorf("%s: rule name %q", c.name, got.RuleName)
		}
	}
}

func TestEngineDeniesByDefaultAndKeepsOldBundle(t *testing.T) {
	e := NewEngine()
	req := Request{Tenant: "acme", Op: auth.OpRead}
	if d := e.Decide(req); d.Allow || d.Rule != -1 {
		t.Fatalf("fresh engine: %+v, want default deny", d)
	}
	if err := e.Load([]byte(goodBundle)); err != nil {
		t.Fatal(err)
	}
	digest := e.Bundle().Digest
	if !e.Decide(req).Allow {
		t.Fatalf("public read denied after load")
	}
	bad := strings.Replace(goodBundle, "effect: allow", "effect: alow", 1)
	if err := e.Load([]byte(bad)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad bundle: %v", err)
	}
	if e.Bundle().Digest != digest || !e.Decide(req).Allow {
		t.Fatalf("a rejected bundle replaced the one in force")
	}
	if err := e.Load([]byte("version: 1\nname: lockdown\nrules: []\n")); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "field rules") {
		t.Fatalf("a bundle without rules: %v, want an error naming the field rules", err)
	}
	if e.Bundle().Digest != digest || !e.Decide(req).Allow {
		t.Fatalf("a bundle without rules replaced the one in force")
	}
	if err := e.Load([]byte("version: 1\nname: lockdown\nrules:\n  - {name: deny-all, effect: deny}\n")); err != nil {
		t.Fatal(err)
	}
	if e.Decide(req).Allow {
		t.Fatalf("a lockdown bundle must deny")
	}
}

// Each invalid bundle must be rejected with the rule and field named.
func TestValidationNamesRuleAndField(t *testing.T) {
	rule := func(body string) string {
		return "version: 1\nname: b\nrules:\n  - name: first\n    effect: allow\n    match: {ops: [read]}\n  - name: second\n" + body
	}
	cases := []struct {
		name      string
		text      string
		rule      int
		ruleName  string
		field     string
		line      int
		msgSubstr string
	}{
		{"unknown rule key", rule("    effect: allow\n    colour: red\n"), 1, "second", "colour", 9, "unknown field"},
		{"unknown match key", rule("    effect: allow\n    match:\n      opz: [read]\n"), 1, "second", "match.opz", 10, "unknown field"},
		{"wrong type", rule("    effect: allow\n    match:\n      max_bytes: lots\n"), 1, "second", "match.max_bytes", 10, "cannot unmarshal"},
		{"scalar for list", rule("    effect: allow\n    match:\n      tenants: acme\n"), 1, "second", "match.tenants", 10, "cannot unmarshal"},
		{"bad effect", rule("    effect: permit\n"), 1, "second", "effect", 8, "neither allow nor deny"},
		{"missing effect", rule("    match: {ops: [read]}\n"), 1, "second", "effect", 0, "missing"},
		{"unknown op", rule("    effect: allow\n    match:\n      ops: [read, wrte]\n"), 1, "second", "match.ops[1]", 10, `unknown op "wrte"`},
		{"empty list", rule("    effect: allow\n    match:\n      tags: []\n"), 1, "second", "match.tags", 10, "empty list"},
		{"duplicate tenant", rule("    effect: allow\n    match:\n      tenants:\n        - a\n        - a\n"), 1, "second", "match.tenants[1]", 12, "duplicate"},
		{"uppercase address prefix", rule("    effect: allow\n    match:\n      prefixes: [\"b3:AB\"]\n"), 1, "second", "match.prefixes[0]", 10, "lowercase hex"},
		{"min above max", rule("    effect: allow\n    match: {min_bytes: 5, max_bytes: 4}\n"), 1, "second", "match.min_bytes", 9, "exceeds"},
		{"empty rules", "version: 1\nname: b\nrules: []\n", -1, "", "rules", 3, "missing or empty"},
		{"no rules key", "version: 1\nname: b\n", -1, "", "rules", 0, "missing or empty"},
		{"duplicate name", "version: 1\nname: b\nrules:\n  - {name: x, effect: allow, match: {ops: [read]}}\n  - {name: x, effect: deny, match: {ops: [write]}}\n", 1, "x", "name", 5, "duplicate rule name"},
		{"bad rule name", strings.Replace(rule("    effect: allow\n"), "second", "Second", 1), 1, "Second", "name", 7, "rule name"},
		{"unreachable", "version: 1\nname: b\nrules:\n  - {name: all, effect: deny}\n  - {name: late, effect: allow, match: {ops: [read]}}\n", 1, "late", "match", 5, "unreachable"},
		{"bad version", "version: 2\nname: b\nrules: []\n", -1, "", "version", 1, "version 2"},
		{"unknown top key", "version: 1\nname: b\nrulez: []\n", -1, "", "rulez", 3, "unknown field"},
		{"two documents", "version: 1\nname: b\n---\nversion: 1\nname: c\n", -1, "", "", 0, "more than one"},
		{"empty", "", -1, "", "", 0, "empty bundle"},
		{"syntax", "version: 1\nname: [b\n", -1, "", "", 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.text))
			var pe *Error
			if !errors.As(err, &pe) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err %v, want *Error wrapping ErrInvalid", err)
			}
			if pe.Rule != c.rule || pe.RuleName != c.ruleName || pe.Field != c.field || !strings.Contains(pe.Msg, c.msgSubstr) {
				t.Fatalf("got rule %d %q field %q msg %q; want rule %d %q field %q msg ~%q",
					pe.Rule, pe.RuleName, pe.Field, pe.Msg, c.rule, c.ruleName, c.field, c.msgSubstr)
			}
			if c.line != 0 && pe.Line != c.line {
				t.Fatalf("line %d, want %d (%v)", pe.Line, c.line, err)
			}
			if c.rule >= 0 && !strings.Contains(err.Error(), c.ruleName) {
				t.Fatalf("message %q does not name the rule", err)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: 1\nname: big\nrules:\n")
	for i := 0; i <= RulesMax; i++ {
		b.WriteString("  - {name: r")
		b.WriteString(strconv.Itoa(i))
		b.WriteString(", effect: allow, match: {ops: [read]}}\n")
	}
	_, err := Parse([]byte(b.String()))
	var pe *Error
	if !errors.As(err, &pe) || pe.Field != "rules" {
		t.Fatalf("%d rules: %v", RulesMax+1, err)
	}
	if _, err := Parse(make([]byte, BundleBytesMax+1)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("oversized bundle: %v", err)
	}
}

// Decide agrees with a direct model: the index of the first rule whose
// every set condition holds.
func TestPropertyDecideIsFirstMatch(t *testing.T) {
	tenants := []string{"a", "b"}
	resources := []string{"b3:00", "b3:ff", "app.x", ""}
	tags := []string{"t1", "t2"}
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 6).Draw(t, "rules")
		b := &Bundle{}
		for i := 0; i < n; i++ {
			var m Match
			if rapid.Bool().Draw(t, "hasTenant") {
				m.Tenants = []string{rapid.SampledFrom(tenants).Draw(t, "tenant")}
			}
			m.Ops = auth.OpSet(rapid.Uint8Range(0, uint8(auth.OpsAll)).Draw(t, "ops"))
			if rapid.Bool().Draw(t, "hasPrefix") {
				m.Prefixes = []string{rapid.SampledFrom([]string{"b3:0", "b3:", "app"}).Draw(t, "prefix")}
			}
			if rapid.Bool().Draw(t, "hasMax") {
				v := rapid.Uint64Range(0, 10).Draw(t, "max")
				m.MaxBytes = &v
			}
			if rapid.Bool().Draw(t, "hasTag") {
				m.Tags = []string{rapid.SampledFrom(tags).Draw(t, "tag")}
			}
			eff := rapid.SampledFrom([]Effect{Allow, Deny}).Draw(t, "effect")
			b.Rules = append(b.Rules, Rule{Name: strconv.Itoa(i), Effect: eff, Match: m})
		}
		req := Request{
			Tenant:   rapid.SampledFrom(tenants).Draw(t, "reqTenant"),
			Op:       auth.Op(rapid.IntRange(1, 5).Draw(t, "op")),
			Resource: rapid.SampledFrom(resources).Draw(t, "resource"),
			Bytes:    rapid.Uint64Range(0, 12).Draw(t, "bytes"),
			Tags:     rapid.SliceOfN(rapid.SampledFrom(tags), 0, 2).Draw(t, "tags"),
		}
		want := -1
		for i, r := range b.Rules {
			if modelMatch(r.Match, req) {
				want = i
				break
			}
		}
		got := b.Decide(req)
		if got.Rule != want || (want >= 0 && got.Allow != (b.Rules[want].Effect == Allow)) || (want < 0 && got.Allow) {
			t.Fatalf("Decide = %+v, model says rule %d", got, want)
		}
	})
}

func modelMatch(m Match, req Request) bool {
	if len(m.Tenants) == 1 && m.Tenants[0] != req.Tenant {
		return false
	}
	if m.Ops != 0 && m.Ops&(1<<(req.Op-1)) == 0 {
		return false
	}
	if len(m.Prefixes) == 1 && !strings.HasPrefix(req.Resource, m.Prefixes[0]) {
		return false
	}
	if m.MaxBytes != nil && req.Bytes > *m.MaxBytes {
		return false
	}
	for _, tag := range m.Tags {
		found := false
		for _, have := range req.Tags {
			found = found || have == tag
		}
		if !found {
			return false
		}
	}
	return true
}

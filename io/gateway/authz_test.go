package gateway_test

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/core/audit"
	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/env/envtest"
	"github.com/ron-network/ron/core/policy"
	"github.com/ron-network/ron/io/gateway"
)

// strictPolicy: reads need a token, writes of 100 bytes or more are
// refused whatever the token says, admin is not granted at all.
const strictPolicy = `version: 1
name: strict
rules:
  - name: no-big-writes
    effect: deny
    match: {ops: [write], min_bytes: 100}
  - name: token-reads
    effect: allow
    match: {ops: [read], authenticated: true}
  - name: token-writes
    effect: allow
    match: {ops: [write, name, delete], authenticated: true}
`

// withPolicy serves a second gateway over f's node, with the same keys,
// deciding with p; f.srv is switched to it.
func (f *fixture) withPolicy(p *gateway.Policy, adm gateway.AdmissionConfig) {
	f.t.Helper()
	keys := auth.NewKeyring(nil)
	secret, _ := auth.NewSecret(bytes.Repeat([]byte{9}, auth.KeyBytes))
	if err := keys.Create("root", auth.KindMAC, secret); err != nil {
		f.t.Fatal(err)
	}
	g := gateway.New(gateway.Config{Backend: f.rt, Verifier: auth.NewVerifier(keys, nil), Metrics: f.rt.Prom(),
		Logger: slog.New(slog.DiscardHandler), Policy: p, Admission: adm})
	srv := httptest.NewServer(g)
	f.t.Cleanup(srv.Close)
	f.srv = srv
}

func wantReason(t *testing.T, r resp, status int, code, reason, rule string) {
	t.Helper()
	env := wantError(t, r, status, code)
	if env.Reason != reason || env.Rule != rule {
		t.Fatalf("envelope reason %q rule %q, want %q %q (%+v)", env.Reason, env.Rule, reason, rule, env)
	}
}

func TestPolicyDecidesAfterTheToken(t *testing.T) {
	f := newFixture(t, gateway.AdmissionConfig{}, 0)
	addr := f.put([]byte("stored under the default policy"))
	p, err := gateway.NewPolicy([]byte(strictPolicy))
	if err != nil {
		t.Fatal(err)
	}
	f.withPolicy(p, gateway.AdmissionConfig{})

	wantReason(t, f.do("GET", "/o/"+addr, nil, nil), 401, gateway.CodeUnauthorized, gateway.ReasonPolicyDenied, "default-deny")
	if r := f.do("GET", "/o/"+addr, nil, f.bearer()); r.StatusCode != 200 {
		t.Fatalf("authenticated read under strict policy: %d %s", r.StatusCode, r.body)
	}
	// A token that does not allow read does not authenticate a read.
	writeOnly := f.mint(auth.Ops(auth.OpWrite))
	wantReason(t, f.do("GET", "/o/"+addr, nil, map[string]string{"Authorization": "Bearer " + writeOnly}),
		401, gateway.CodeUnauthorized, gateway.ReasonPolicyDenied, "default-deny")
	// The token allows the big write; the policy does not.
	wantReason(t, f.do("PUT", "/o", make([]byte, 150), f.bearer()), 403, gateway.CodeForbidden, gateway.ReasonPolicyDenied, "no-big-writes")
	if r := f.do("PUT", "/o", []byte("small"), f.bearer()); r.StatusCode != 201 {
		t.Fatalf("small write: %d %s", r.StatusCode, r.body)
	}
	// The token is checked before the policy: its reason wins.
	wantReason(t, f.do("PUT", "/o", make([]byte, 150), map[string]string{"Authorization": "Bearer " + f.mint(auth.Ops(auth.OpRead))}),
		403, gateway.CodeForbidden, string(auth.ReasonOpNotAllowed), "")
	wantReason(t, f.do("GET", "/audit", nil, f.bearer()), 403, gateway.CodeForbidden, gateway.ReasonPolicyDenied, "default-deny")

	// An invalid bundle is refused and the strict one stays.
	if err := p.Load([]byte("version: 1\nname: broken\nrules:\n  - name: x\n    effect: maybe\n")); !errors.Is(err, policy.ErrInvalid) {
		t.Fatalf("invalid bundle loaded: %v", err)
	}
	wantReason(t, f.do("GET", "/o/"+addr, nil, nil), 401, gateway.CodeUnauthorized, gateway.ReasonPolicyDenied, "default-deny")
	if err := p.Load([]byte(gateway.DefaultPolicy)); err != nil {
		t.Fatal(err)
	}
	if r := f.do("GET", "/o/"+addr, nil, nil); r.StatusCode != 200 {
		t.Fatalf("public read after reloading the default: %d", r.StatusCode)
	}
}

func TestDenyReasonsInTheEnvelope(t *testing.T) {
	f := newFixture(t, gateway.AdmissionConfig{}, 0)
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	wantReason(t, f.do("PUT", "/o", []byte("x"), nil), 401, gateway.CodeUnauthorized, gateway.ReasonMissingToken, "")
	wantReason(t, f.do("PUT", "/o", []byte("x"), bearer(f.mint(auth.OpsAll, auth.Expiry(1)))), 401, gateway.CodeUnauthorized, "expired", "")
	wantReason(t, f.do("PUT", "/o", []byte("x"), bearer(f.mint(auth.Ops(auth.OpRead)))), 403, gateway.CodeForbidden, "op_not_allowed", "")
	wantReason(t, f.do("PUT", "/o", []byte("xyz"), bearer(f.mint(auth.OpsAll, auth.MaxBytes(2)))), 403, gateway.CodeForbidden, "too_large", "")
	wantReason(t, f.do("PUT", "/o", []byte("x"), bearer(f.mint(auth.OpsAll, auth.Prefix("b3:ffff")))), 403, gateway.CodeForbidden, "prefix_not_allowed", "")
	wantReason(t, f.do("PUT", "/o", []byte("x"), bearer("not-a-token")), 401, gateway.CodeUnauthorized, "malformed", "")
}

// readAudit fetches GET /audit and checks it with VerifyHead against the
// head header.
func readAudit(t *testing.T, f *fixture) []audit.Record {
	t.Helper()
	r := f.do("GET", "/audit", nil, f.bearer())
	if r.StatusCode != 200 {
		t.Fatalf("GET /audit: %d %s", r.StatusCode, r.body)
	}
	head, err := gateway.ParseAuditHead(r.Header.Get(gateway.AuditHeadHeader))
	if err != nil {
		t.Fatal(err)
	}
	var recs []audit.Record
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	for sc.Scan() {
		var line gateway.AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		rec, err := line.Record()
		if err != nil {
			t.Fatal(err)
		}
		if h := rec.Hash(); hex.EncodeToString(h[:]) != line.Hash {
			t.Fatalf("line hash %s does not match the record", line.Hash)
		}
		recs = append(recs, rec)
	}
	base, err := gateway.ParseAuditHead(r.Header.Get(gateway.AuditBaseHeader))
	if err != nil {
		t.Fatal(err)
	}
	if bad, err := audit.VerifyHeadFrom(base, recs, head); err != nil {
		t.Fatalf("audit stream: record %d: %v", bad, err)
	}
	return recs
}

func TestAuditRecordsWritesDeletesAndQuotaRejects(t *testing.T) {
	f := newFixture(t, gateway.AdmissionConfig{}, 0)
	addr := f.put([]byte("to be deleted"))
	if r := f.do("DELETE", "/o/"+addr, nil, f.bearer()); r.StatusCode != 204 {
		t.Fatalf("DELETE: %d", r.StatusCode)
	}
	owner := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32)).Public().(ed25519.PublicKey)
	claim, _ := json.Marshal(gateway.ClaimBody{Owner: hex.EncodeToString(owner)})
	if r := f.do("POST", "/names/audited.example", claim, f.bearer()); r.StatusCode != 201 {
		t.Fatalf("claim: %d %s", r.StatusCode, r.body)
	}
	readOnly := f.mint(auth.Ops(auth.OpRead))
	wantReason(t, f.do("GET", "/audit", nil, map[string]string{"Authorization": "Bearer " + readOnly}), 403, gateway.CodeForbidden, "op_not_allowed", "")
	wantReason(t, f.do("GET", "/audit", nil, nil), 401, gateway.CodeUnauthorized, gateway.ReasonMissingToken, "")

	// Anonymous reads with a one-request bucket: the second is a 429.
	p, _ := gateway.NewPolicy(nil)
	f.withPolicy(p, gateway.AdmissionConfig{AnonymousRate: 0.001, AnonymousBurst: 1})
	f.do("GET", "/o/"+addr, nil, nil)
	wantError(t, f.do("GET", "/o/"+addr, nil, nil), 429, gateway.CodeOverQuota)

	recs := readAudit(t, f)
	var kinds []string
	for _, r := range recs {
		kinds = append(kinds, r.Kind.String()+":"+r.Subject)
	}
	want := []string{"object_write:" + addr, "delete:" + addr, "name_write:audited.example", "quota_reject:GET /o/" + addr}
	if strings.Join(kinds, " ") != strings.Join(want, " ") {
		t.Fatalf("audit kinds %v, want %v", kinds, want)
	}
	if recs[0].Tenant != "alice" || recs[1].Tenant != "alice" || !strings.HasPrefix(recs[1].Actor, "token:") || recs[3].Tenant != gateway.PublicTenant {
		t.Fatalf("actors/tenants: %+v", recs)
	}

}

func TestAuditRecordJSONRoundTrip(t *testing.T) {
	r := audit.Record{Seq: 3, Time: 12345, Kind: audit.KindPolicyChange, Actor: "a", Tenant: "t", Subject: "s", Detail: "d", Prev: [32]byte{7}}
	back, err := gateway.AuditRecordOf(r).Record()
	if err != nil || back != r {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	bad := gateway.AuditRecordOf(r)
	bad.Kind = "nonsense"
	if _, err := bad.Record(); err == nil {
		t.Fatal("unknown kind accepted")
	}
	head := audit.Head{Seq: 9, Hash: [32]byte{1, 2}}
	if got, err := gateway.ParseAuditHead(gateway.FormatAuditHead(head)); err != nil || got != head {
		t.Fatalf("head round trip: %+v %v", got, err)
	}
	for _, s := range []string{"", "9", "x:00", "9:abcd"} {
		if _, err := gateway.ParseAuditHead(s); err == nil {
			t.Fatalf("head %q accepted", s)
		}
	}
}

func TestPolicyFileReloadsOnChangeAndKeepsOldOnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(gateway.DefaultPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	p, _ := gateway.NewPolicy(nil)
	metrics := envtest.NewMetrics()
	var applied []string
	pf := &gateway.PolicyFile{Path: path, Policy: p, Metrics: metrics, Logger: slog.New(slog.DiscardHandler),
		Applied: func(_, b *policy.Bundle) { applied = append(applied, b.Name) }}
	if err := pf.Open(); err != nil {
		t.Fatal(err)
	}
	if err := pf.Poll(); err != nil || len(applied) != 0 {
		t.Fatalf("poll of an unchanged file: %v, applied %v", err, applied)
	}
	if err := os.WriteFile(path, []byte(strictPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := pf.Poll(); err != nil || p.Bundle().Name != "strict" || len(applied) != 1 {
		t.Fatalf("poll after a change: %v, bundle %s, applied %v", err, p.Bundle().Name, applied)
	}
	if n := len(metrics.Observations[policy.MetricApplyLatency]); n != 1 {
		t.Fatalf("%d apply latency observations, want 1", n)
	}
	bad := strings.Replace(strictPolicy, "ops: [read]", "ops: [read, fly]", 1)
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	var pe *policy.Error
	if err := pf.Poll(); !errors.As(err, &pe) || pe.RuleName != "token-reads" || !strings.HasPrefix(pe.Field, "match.ops") {
		t.Fatalf("invalid bundle: %v", err)
	}
	if p.Bundle().Name != "strict" || len(applied) != 1 {
		t.Fatalf("after an invalid bundle: %s in force, applied %v", p.Bundle().Name, applied)
	}
	// Reload (SIGHUP) re-reads even without a change.
	time.Sleep(10 * time.Millisecond)
	if err := os.WriteFile(path, []byte(gateway.DefaultPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := pf.Reload(); err != nil || p.Bundle().Name != "default" || len(applied) != 2 {
		t.Fatalf("reload: %v, %s, %v", err, p.Bundle().Name, applied)
	}
}

// TestPolicyFileReportsEachRefusalOnce: Applied gets the bundle replaced
// and the new one; Refused is called for an invalid bundle once however
// often the same text is refused again (SIGHUP), again for another
// invalid text, and again for the first text after a valid bundle was
// applied in between; an unreadable file is a refusal too.
func TestPolicyFileReportsEachRefusalOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(gateway.DefaultPolicy)
	p, _ := gateway.NewPolicy(nil)
	var applied, refused []string
	pf := &gateway.PolicyFile{Path: path, Policy: p, Metrics: envtest.NewMetrics(), Logger: slog.New(slog.DiscardHandler),
		Applied: func(old, b *policy.Bundle) { applied = append(applied, old.Name+"->"+b.Name) },
		Refused: func(err error) { refused = append(refused, err.Error()) }}
	if err := pf.Open(); err != nil {
		t.Fatal(err)
	}
	write(strictPolicy)
	if err := pf.Reload(); err != nil || strings.Join(applied, " ") != "default->strict" {
		t.Fatalf("reload of a valid bundle: %v, applied %v", err, applied)
	}
	bad := strings.Replace(strictPolicy, "ops: [read]", "ops: [read, fly]", 1)
	write(bad)
	for range 5 {
		if err := pf.Reload(); err == nil {
			t.Fatal("an invalid bundle reloaded")
		}
	}
	if len(refused) != 1 || !strings.Contains(refused[0], "token-reads") {
		t.Fatalf("the same invalid bundle refused 5 times was reported %d times: %q", len(refused), refused)
	}
	write(strings.Replace(strictPolicy, "ops: [read]", "ops: [read, swim]", 1))
	_ = pf.Reload()
	_ = pf.Reload()
	if len(refused) != 2 {
		t.Fatalf("another invalid bundle: %d refusals reported, want 2", len(refused))
	}
	write(gateway.DefaultPolicy)
	if err := pf.Reload(); err != nil {
		t.Fatal(err)
	}
	write(bad)
	_ = pf.Reload()
	if len(refused) != 3 {
		t.Fatalf("the first invalid bundle after a valid one: %d refusals reported, want 3", len(refused))
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	_ = pf.Reload()
	_ = pf.Reload()
	if len(refused) != 4 || p.Bundle().Name != "default" || strings.Join(applied, " ") != "default->strict strict->default" {
		t.Fatalf("a missing file: refusals %q, %s in force, applied %v", refused, p.Bundle().Name, applied)
	}
}

// A claim by the owner already holding the name changes nothing: repeats
// are not audited (one record for the claim that took the name), while a
// claim of another name still is.
func TestAuditNoOpReclaimsAddNoRecords(t *testing.T) {
	f := newFixture(t, gateway.AdmissionConfig{}, 0)
	owner := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32)).Public().(ed25519.PublicKey)
	claim, _ := json.Marshal(gateway.ClaimBody{Owner: hex.EncodeToString(owner)})
	for i := range 5 {
		if r := f.do("POST", "/names/again.example", claim, f.bearer()); r.StatusCode != 201 {
			t.Fatalf("claim %d: %d %s", i, r.StatusCode, r.body)
		}
	}
	if r := f.do("POST", "/names/other.example", claim, f.bearer()); r.StatusCode != 201 {
		t.Fatalf("claim of another name: %d %s", r.StatusCode, r.body)
	}
	var subjects []string
	for _, r := range readAudit(t, f) {
		if r.Kind == audit.KindNameWrite {
			subjects = append(subjects, r.Subject)
		}
	}
	if want := "again.example other.example"; strings.Join(subjects, " ") != want {
		t.Fatalf("name_write records for %v, want %s (one per claim that changed state)", subjects, want)
	}
}

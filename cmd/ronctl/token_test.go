package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/core/audit"
	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/io/gateway"
	"github.com/ron-network/ron/io/keyfile"
)

// runCtl runs the command line and returns stdout, stderr and the exit
// code.
func runCtl(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errOut)
	return strings.TrimSpace(out.String()), errOut.String(), code
}

func capKeyFile(t *testing.T) (string, *auth.Verifier) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cap.key")
	seed, err := keyfile.Create(path, auth.KeyBytes)
	if err != nil {
		t.Fatal(err)
	}
	keys, _, err := keyfile.CapKeyring(seed)
	if err != nil {
		t.Fatal(err)
	}
	return path, auth.NewVerifier(keys, nil)
}

func TestTokenIssueAttenuateVerify(t *testing.T) {
	key, verifier := capKeyFile(t)
	tok, errOut, code := runCtl(t, "", "token", "issue", "--key", key, "--tenant", "acme", "--ops", "write,name",
		"--prefix", "b3:00", "--ttl", "1h")
	if code != 0 {
		t.Fatalf("issue: exit %d: %s", code, errOut)
	}
	now := env.Time(time.Now().UnixNano())
	req := auth.Request{Op: auth.OpWrite, Resource: "b3:00aa", Tenant: "acme", Now: now}
	if v := verifier.Verify(tok, req); !v.Allowed() {
		t.Fatalf("issued token denied by the node's verifier: %s", v.Reason)
	}
	// Independent checks of each restriction, against core/auth.
	for _, c := range []struct {
		req  auth.Request
		want auth.Reason
	}{
		{auth.Request{Op: auth.OpDelete, Resource: "b3:00aa", Tenant: "acme", Now: now}, auth.ReasonOpNotAllowed},
		{auth.Request{Op: auth.OpWrite, Resource: "b3:ff", Tenant: "acme", Now: now}, auth.ReasonPrefixNotAllowed},
		{auth.Request{Op: auth.OpWrite, Resource: "b3:00aa", Tenant: "acme", Now: now + env.Time(2*time.Hour)}, auth.ReasonExpired},
	} {
		if got := verifier.Verify(tok, c.req).Reason; got != c.want {
			t.Fatalf("request %+v: reason %q, want %q", c.req, got, c.want)
		}
	}

	narrow, errOut, code := runCtl(t, tok+"\n", "token", "attenuate", "-", "--ops", "name", "--max-bytes", "10")
	if code != 0 {
		t.Fatalf("attenuate: exit %d: %s", code, errOut)
	}
	if v := verifier.Verify(narrow, req); v.Reason != auth.ReasonOpNotAllowed {
		t.Fatalf("attenuated token still writes: %q", v.Reason)
	}
	nameReq := auth.Request{Op: auth.OpName, Resource: "b3:00", Tenant: "acme", Bytes: 11, Now: now}
	if v := verifier.Verify(narrow, nameReq); v.Reason != auth.ReasonTooLarge {
		t.Fatalf("max-bytes caveat: %q", v.Reason)
	}

	out, _, code := runCtl(t, "", "token", "verify", tok, "--key", key, "--op", "write", "--resource", "b3:00aa")
	if code != 0 || !strings.HasPrefix(out, "allowed") {
		t.Fatalf("verify allowed: %d %q", code, out)
	}
	_, errOut, code = runCtl(t, "", "token", "verify", tok, "--key", key, "--op", "write", "--resource", "b3:11")
	if code != 1 || !strings.Contains(errOut, "prefix_not_allowed") {
		t.Fatalf("verify denied: %d %q", code, errOut)
	}
	otherKey, _ := capKeyFile(t)
	_, errOut, code = runCtl(t, "", "token", "verify", tok, "--key", otherKey, "--op", "write", "--resource", "b3:00")
	if code != 1 || !strings.Contains(errOut, "bad_mac") {
		t.Fatalf("verify with another key: %d %q", code, errOut)
	}
}

func TestTokenInspectShowsCaveatsNotTheMAC(t *testing.T) {
	key, _ := capKeyFile(t)
	tok, _, _ := runCtl(t, "", "token", "issue", "--key", key, "--tenant", "acme", "--ops", "write", "--ttl", "5m")
	out, errOut, code := runCtl(t, "", "token", "inspect", tok, "--json")
	if code != 0 {
		t.Fatalf("inspect: %d %s", code, errOut)
	}
	var info TokenInfo
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatal(err)
	}
	decoded, _ := auth.Decode(tok)
	if info.Tenant != "acme" || info.KeyID != keyfile.CapKeyID || info.Scope != "write" || info.Grant.Expiry == "" ||
		info.ID != decoded.ID().String() || len(info.Caveats) != 1 || !strings.HasPrefix(info.Caveats[0], "expiry ") {
		t.Fatalf("inspect: %+v", info)
	}
	text, _, _ := runCtl(t, "", "token", "inspect", tok)
	mac := decoded.MAC
	for _, s := range []string{out, text} {
		if strings.Contains(s, string(mac[:])) || strings.Contains(strings.ToLower(s), strings.ToLower(encodeHex(mac[:]))) {
			t.Fatalf("inspect prints the MAC: %s", s)
		}
	}
}

func encodeHex(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func TestTokenCommandsRefuseALooseKeyFile(t *testing.T) {
	key, _ := capKeyFile(t)
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runCtl(t, "", "token", "issue", "--key", key, "--tenant", "a", "--ops", "write")
	if code != 1 || !strings.Contains(errOut, "chmod 600") {
		t.Fatalf("loose key file: %d %q", code, errOut)
	}
	if _, _, code := runCtl(t, "", "token", "issue", "--tenant", "a", "--ops", "write"); code != 2 {
		t.Fatalf("issue without --key: exit %d, want 2", code)
	}
	if err := os.Chmod(key, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, code := runCtl(t, "", "token", "issue", "--key", key, "--tenant", "a", "--ops", "fly"); code != 2 {
		t.Fatalf("unknown op: exit %d, want 2", code)
	}
}

// chain builds n linked records, as the audit service would.
func chain(n int) []audit.Record {
	var out []audit.Record
	var prev audit.Head
	for i := 1; i <= n; i++ {
		r := audit.Record{Seq: uint64(i), Time: env.Time(i * 1000), Kind: audit.KindNameWrite, Actor: "token:x",
			Tenant: "acme", Subject: "name-" + string(rune('a'+i)), Prev: prev.Hash}
		prev = audit.Head{Seq: r.Seq, Hash: r.Hash()}
		out = append(out, r)
	}
	return out
}

func writeExport(t *testing.T, recs []audit.Record, edit func(i int, a *gateway.AuditRecord)) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for i, r := range recs {
		a := gateway.AuditRecordOf(r)
		if edit != nil {
			edit(i, &a)
		}
		if err := enc.Encode(a); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestAuditVerifyFile(t *testing.T) {
	recs := chain(5)
	out, errOut, code := runCtl(t, "", "audit", "verify", "--file", writeExport(t, recs, nil))
	if code != 0 || !strings.Contains(out, "5 records verified") {
		t.Fatalf("good chain: %d %q %q", code, out, errOut)
	}
	// A naive edit (subject changed, stated hash left) is caught on its line.
	naive := writeExport(t, recs, func(i int, a *gateway.AuditRecord) {
		if i == 2 {
			a.Subject = "forged"
		}
	})
	if _, errOut, code := runCtl(t, "", "audit", "verify", "--file", naive); code != 1 || !strings.Contains(errOut, "line 3") {
		t.Fatalf("naive tamper: %d %q", code, errOut)
	}
	// A careful edit (hash restated) is caught by the next link: seq 3 is
	// the first record not vouched for.
	careful := writeExport(t, recs, func(i int, a *gateway.AuditRecord) {
		if i == 2 {
			a.Subject = "forged"
			r, _ := a.Record()
			a.Hash = gateway.AuditRecordOf(r).Hash
		}
	})
	if _, errOut, code := runCtl(t, "", "audit", "verify", "--file", careful); code != 1 || !strings.Contains(errOut, "first bad record is seq 3") {
		t.Fatalf("careful tamper: %d %q", code, errOut)
	}
	// A removed record is named: seq 2 is missing, not its neighbour.
	removed := writeExport(t, append(append([]audit.Record{}, recs[:1]...), recs[2:]...), nil)
	if _, errOut, code := runCtl(t, "", "audit", "verify", "--file", removed); code != 1 ||
		!strings.Contains(errOut, "first bad record is seq 2: seq 2 missing (line 2 of "+removed+" holds seq 3 right after seq 1 on line 1)") {
		t.Fatalf("removed record: %d %q", code, errOut)
	}
	removedTwo := writeExport(t, append(append([]audit.Record{}, recs[:2]...), recs[4:]...), nil)
	if _, errOut, code := runCtl(t, "", "audit", "verify", "--file", removedTwo); code != 1 || !strings.Contains(errOut, "first bad record is seq 3: seqs 3 to 4 missing") {
		t.Fatalf("two removed records: %d %q", code, errOut)
	}
	removedFirst := writeExport(t, recs[1:], nil)
	if _, errOut, code := runCtl(t, "", "audit", "verify", "--file", removedFirst); code != 1 || !strings.Contains(errOut, "first bad record is seq 1: seq 1 missing") {
		t.Fatalf("first record removed: %d %q", code, errOut)
	}
	duplicated := writeExport(t, append(append([]audit.Record{}, recs[:3]...), recs[2:]...), nil)
	if _, errOut, code := runCtl(t, "", "audit", "verify", "--file", duplicated); code != 1 || !strings.Contains(errOut, "first bad record is seq 3 (line 4 of") {
		t.Fatalf("duplicated record: %d %q", code, errOut)
	}
	// Blank lines do not shift the line named.
	data, _ := os.ReadFile(careful)
	spaced := filepath.Join(t.TempDir(), "spaced.jsonl")
	_ = os.WriteFile(spaced, append([]byte("\n\n"), data...), 0o600)
	if _, errOut, code := runCtl(t, "", "audit", "verify", "--file", spaced); code != 1 || !strings.Contains(errOut, "seq 3 (line 5 of") {
		t.Fatalf("careful tamper after blank lines: %d %q", code, errOut)
	}
}

// retentionChain builds a log retention cut at seq SegmentRecords, as
// the audit service does: the cut is announced by a retention record
// chained after it. It returns the whole chain and the base.
func retentionChain(tail int) ([]audit.Record, audit.Head) {
	recs := chain(audit.SegmentRecords + tail)
	base := audit.HeadOf(recs[:audit.SegmentRecords])
	// Relink from the witness on.
	recs[audit.SegmentRecords+1].Kind = audit.KindRetention
	recs[audit.SegmentRecords+1].Subject = audit.FormatHead(base)
	for i := audit.SegmentRecords + 1; i < len(recs); i++ {
		recs[i].Prev = recs[i-1].Hash()
	}
	return recs, base
}

// An export retention cut (it starts after seq 1) verifies from the base
// it was served with (--base), and only from that base.
func TestAuditVerifyFileFromRetentionBase(t *testing.T) {
	recs, b := retentionChain(3)
	cut := writeExport(t, recs[audit.SegmentRecords:], nil)
	base := gateway.FormatAuditHead(b)
	out, errOut, code := runCtl(t, "", "audit", "verify", "--file", cut, "--base", base)
	if code != 0 || !strings.Contains(out, "3 records verified") || !strings.Contains(out, "seqs 1..2048 were dropped by retention") {
		t.Fatalf("cut export with its base: %d %q %q", code, out, errOut)
	}
	if _, _, code := runCtl(t, "", "audit", "verify", "--file", cut); code != 1 {
		t.Fatal("an export missing its first records verified without a base")
	}
	wrong := gateway.FormatAuditHead(audit.HeadOf(recs[:1]))
	if _, _, code := runCtl(t, "", "audit", "verify", "--file", cut, "--base", wrong); code != 1 {
		t.Fatal("an export verified from a base it does not follow")
	}
}

// A prefix cut with a forged base chains but is refused: a base inside a
// segment, or one no retention record names.
func TestAuditVerifyRefusesUnwitnessedBase(t *testing.T) {
	recs, _ := retentionChain(3)
	odd := writeExport(t, recs[5:], nil)
	_, errOut, code := runCtl(t, "", "audit", "verify", "--file", odd, "--base", gateway.FormatAuditHead(audit.HeadOf(recs[:5])))
	if code != 1 || !strings.Contains(errOut, "not a segment end") {
		t.Fatalf("base seq 5: %d %q", code, errOut)
	}
	// A segment end no retention record names (a cut of the chain built
	// above at its second segment, witness included).
	more := chain(2*audit.SegmentRecords + 3)
	cut := writeExport(t, more[2*audit.SegmentRecords:], nil)
	_, errOut, code = runCtl(t, "", "audit", "verify", "--file", cut, "--base", gateway.FormatAuditHead(audit.HeadOf(more[:2*audit.SegmentRecords])))
	if code != 1 || !strings.Contains(errOut, "no retention record") {
		t.Fatalf("unwitnessed base: %d %q", code, errOut)
	}
	if _, errOut, code := runCtl(t, "", "audit", "verify", "--node", "http://127.0.0.1:1", "--base", "0:"+strings.Repeat("0", 64)); code != 2 || !strings.Contains(errOut, "--base goes with --file") {
		t.Fatalf("--base with --node: %d %q", code, errOut)
	}
}

// TestAuditListPrintsVerifiedRecords: audit list prints each record of a
// chain that verifies on one readable line (kind, subject, actor, tenant,
// detail, control and format characters and line separators neutralised)
// and the summary; with --json it
// prints the records as GET /audit streams them, which audit verify
// --file reads back; a tampered export prints no record and exits 1.
func TestAuditListPrintsVerifiedRecords(t *testing.T) {
	var recs []audit.Record
	var prev audit.Head
	for i, e := range []audit.Record{
		{Kind: audit.KindKeyRotate, Actor: "rond", Subject: "cap_keys", Detail: "loaded at start from /x/cap.key: key root current v1; versions v1:00112233aabbccdd"},
		{Kind: audit.KindPolicyChange, Actor: "rond", Subject: "refused:policy", Detail: "reload of /x/p.yaml refused: bad\x1b[2J"},
		{Kind: audit.KindNameWrite, Actor: "token:ab", Tenant: "acme", Subject: "n.example"},
		// Format characters and separators: a bidi override, an isolate, a
		// zero-width space, a BOM and the line and paragraph separators.
		{Kind: audit.KindPolicyChange, Actor: "r\u2066ond\u2069", Tenant: "t\u200bx", Subject: "a\u202eb",
			Detail: "x\u2028y\u2029z\ufeff\u00ad\u061c"},
	} {
		e.Seq, e.Time, e.Prev = uint64(i+1), env.Time(int64(i+1)*1e9), prev.Hash
		prev = audit.Head{Seq: e.Seq, Hash: e.Hash()}
		recs = append(recs, e)
	}
	path := writeExport(t, recs, nil)
	out, errOut, code := runCtl(t, "", "audit", "list", "--file", path)
	if code != 0 {
		t.Fatalf("audit list: %d %s", code, errOut)
	}
	lines := strings.Split(out, "\n")
	want := []string{
		"1 1970-01-01T00:00:01.000Z key_rotate cap_keys (actor rond): loaded at start from /x/cap.key: key root current v1; versions v1:00112233aabbccdd",
		"2 1970-01-01T00:00:02.000Z policy_change refused:policy (actor rond): reload of /x/p.yaml refused: bad?[2J",
		"3 1970-01-01T00:00:03.000Z name_write n.example (actor token:ab, tenant acme)",
		"4 1970-01-01T00:00:04.000Z policy_change a?b (actor r?ond?, tenant t?x): x?y?z???",
		"audit: 4 records verified; head " + gateway.FormatAuditHead(prev),
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("audit list printed\n%s\nwant\n%s", out, strings.Join(want, "\n"))
	}
	jsonOut, errOut, code := runCtl(t, "", "audit", "list", "--json", "--file", path)
	if code != 0 || strings.Count(jsonOut, "\n") != 3 || !strings.Contains(jsonOut, `"kind":"key_rotate"`) {
		t.Fatalf("audit list --json: %d %s\n%s", code, errOut, jsonOut)
	}
	again := filepath.Join(t.TempDir(), "again.jsonl")
	if err := os.WriteFile(again, []byte(jsonOut+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := runCtl(t, "", "audit", "verify", "--file", again); code != 0 {
		t.Fatalf("verify of list --json's output: %d %s", code, errOut)
	}
	tampered := writeExport(t, recs, func(i int, a *gateway.AuditRecord) {
		if i == 0 {
			a.Detail = strings.Replace(a.Detail, "v1:00112233aabbccdd", "v1:ffffffffffffffff", 1)
			a.Hash = ""
		}
	})
	if out, errOut, code := runCtl(t, "", "audit", "list", "--file", tampered); code != 1 || out != "" || !strings.Contains(errOut, "first bad record is seq 1") {
		t.Fatalf("audit list of a tampered export: %d, printed %q, %s", code, out, errOut)
	}
}

// TestTokenTTLZeroIsRefused: --ttl 0 (or 0s) used to mint a token that
// never expires, while a negative --ttl was refused; omitting --ttl is the
// way to ask for a permanent token.
func TestTokenTTLZeroIsRefused(t *testing.T) {
	key, _ := capKeyFile(t)
	for _, ttl := range []string{"0", "0s", "-1m"} {
		out, errOut, code := runCtl(t, "", "token", "issue", "--key", key, "--tenant", "acme", "--ops", "write", "--ttl", ttl)
		if code != 2 || out != "" || !strings.Contains(errOut, "must be positive") || !strings.Contains(errOut, "omit --ttl") {
			t.Fatalf("issue --ttl %s: exit %d, stdout %q, stderr %q", ttl, code, out, errOut)
		}
	}
	tok, errOut, code := runCtl(t, "", "token", "issue", "--key", key, "--tenant", "acme", "--ops", "write")
	if code != 0 {
		t.Fatalf("issue without --ttl: exit %d: %s", code, errOut)
	}
	if decoded, err := auth.Decode(tok); err != nil || auth.Effective(decoded).Expiry != math.MaxInt64 {
		t.Fatalf("issue without --ttl: %v, want a token that never expires", err)
	}
	for _, ttl := range []string{"0", "0s"} {
		out, errOut, code := runCtl(t, tok+"\n", "token", "attenuate", "-", "--ttl", ttl)
		if code != 2 || out != "" || !strings.Contains(errOut, "must be positive") {
			t.Fatalf("attenuate --ttl %s: exit %d, stdout %q, stderr %q", ttl, code, out, errOut)
		}
	}
	if _, errOut, code := runCtl(t, tok+"\n", "token", "attenuate", "-", "--ttl", "1m"); code != 0 {
		t.Fatalf("attenuate --ttl 1m: exit %d: %s", code, errOut)
	}
}

// TestTokenInspectEscapesTenant: the tenant and key id of a token are
// free bytes anyone can mint into a token text; inspect printed them raw,
// so a newline, ESC or a bidi override reached the terminal.
func TestTokenInspectEscapesTenant(t *testing.T) {
	key, _ := capKeyFile(t)
	_, mk, err := keyfile.ReadCapKey(key)
	if err != nil {
		t.Fatal(err)
	}
	const tenant = "acme\nscope      admin\x1b[2J\u202eevil"
	tok, err := auth.Mint(mk, tenant, auth.Ops(auth.OpRead), [auth.NonceBytes]byte{1})
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCtl(t, "", "token", "inspect", tok.Encode())
	if code != 0 {
		t.Fatalf("inspect: exit %d: %s", code, errOut)
	}
	for _, bad := range []string{"\x1b", "\u202e", "\nscope      admin"} {
		if strings.Contains(out, bad) {
			t.Fatalf("inspect printed %q raw:\n%s", bad, out)
		}
	}
	if want := "tenant     " + strconv.Quote(tenant) + "\n"; !strings.Contains(out+"\n", want) {
		t.Fatalf("inspect output lacks %q:\n%s", want, out)
	}
	plain, _ := auth.Mint(mk, "acme", auth.Ops(auth.OpRead), [auth.NonceBytes]byte{2})
	if out, _, _ := runCtl(t, "", "token", "inspect", plain.Encode()); !strings.Contains(out, "tenant     acme\n") {
		t.Fatalf("a plain tenant is no longer shown as is:\n%s", out)
	}
}

// TestTokenTTLOverACenturyIsRefused: the expiry is UnixNano in an int64
// (it ends in 2262), so a --ttl of 2,000,000 h (~228 years) wrapped into
// the past and minted a token that was already expired; above 100 years
// it is refused, on issue and attenuate.
func TestTokenTTLOverACenturyIsRefused(t *testing.T) {
	key, _ := capKeyFile(t)
	out, errOut, code := runCtl(t, "", "token", "issue", "--key", key, "--tenant", "acme", "--ops", "write", "--ttl", "2000000h")
	if code != 2 || out != "" || !strings.Contains(errOut, "more than 100 years") {
		t.Fatalf("issue --ttl 2000000h: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	tok, errOut, code := runCtl(t, "", "token", "issue", "--key", key, "--tenant", "acme", "--ops", "write", "--ttl", "876000h")
	if code != 0 {
		t.Fatalf("issue --ttl 876000h (100 years): exit %d: %s", code, errOut)
	}
	if out, errOut, code := runCtl(t, tok+"\n", "token", "attenuate", "-", "--ttl", "2000000h"); code != 2 || out != "" || !strings.Contains(errOut, "more than 100 years") {
		t.Fatalf("attenuate --ttl 2000000h: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/policy"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/io/gateway"
	"github.com/ron-network/ron/io/keyfile"
)

// Policies of the process test, padded to one size so that a rewrite
// with the old modification time restored is invisible to the file poll
// and only SIGHUP can apply it.
const (
	policyBytes  = 512
	publicReads  = "version: 1\nname: public\nrules:\n  - name: public-reads\n    effect: allow\n    match: {ops: [read]}\n  - name: token-writes\n    effect: allow\n    match: {ops: [write, delete, name, admin], authenticated: true}\n"
	privateReads = "version: 1\nname: private\nrules:\n  - name: token-reads\n    effect: allow\n    match: {ops: [read], authenticated: true}\n  - name: token-writes\n    effect: allow\n    match: {ops: [write, delete, name, admin], authenticated: true}\n"
	brokenPolicy = "version: 1\nname: broken\nrules:\n  - name: token-reads\n    effect: maybe\n    match: {ops: [read]}\n"
)

func padPolicy(t *testing.T, text string) []byte {
	t.Helper()
	if len(text)+2 > policyBytes {
		t.Fatalf("policy of %d bytes does not fit %d", len(text), policyBytes)
	}
	return []byte(text + "#" + strings.Repeat(" ", policyBytes-len(text)-2) + "\n")
}

// writeKeepingStat replaces path's content and keeps its modification
// time: same size, same time, so the poll sees no change. The new content
// gets the old time before it is renamed over path, so no poll can see a
// half-written file or a fresh time in between.
func writeKeepingStat(t *testing.T, path string, data []byte) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	next := path + ".next"
	if err := os.WriteFile(next, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(next, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	replaceFile(t, next, path)
}

// writeAtomically replaces path's content in one step (a rename), so a
// poll sees the old file or the new one, never a half-written one.
func writeAtomically(t *testing.T, path string, data []byte) {
	t.Helper()
	next := path + ".next"
	if err := os.WriteFile(next, data, 0o600); err != nil {
		t.Fatal(err)
	}
	replaceFile(t, next, path)
}

func replaceFile(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

type httpAnswer struct {
	status int
	env    gateway.Envelope
	body   []byte
}

func call(t *testing.T, method, url, token string, body []byte) httpAnswer {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp := mustDo(t, req)
	data, _ := io.ReadAll(resp.Body)
	a := httpAnswer{status: resp.StatusCode, body: data}
	if resp.StatusCode >= 400 {
		if err := json.Unmarshal(data, &a.env); err != nil || a.env.Code == "" || a.env.CorrID == "" {
			t.Fatalf("%s %s: %d without the envelope: %q", method, url, resp.StatusCode, data)
		}
	}
	return a
}

func wantDeny(t *testing.T, a httpAnswer, status int, reason, rule string) {
	t.Helper()
	if a.status != status || a.env.Reason != reason || a.env.Rule != rule {
		t.Fatalf("answer %d %+v, want %d reason %q rule %q", a.status, a.env, status, reason, rule)
	}
}

// buildRonctl builds ronctl into a test temp dir.
func buildRonctl(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ronctl")
	if out, err := exec.Command("go", "build", "-o", bin, "../ronctl").CombinedOutput(); err != nil {
		t.Fatalf("go build ronctl: %v\n%s", err, out)
	}
	return bin
}

func ctl(t *testing.T, bin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out.String()), errOut.String(), code
}

// TestProcessCapabilitiesPolicyAudit drives a real rond with a shared cap
// key file and a policy file: 401/403/201 with deny reasons, tokens from
// `ronctl token`, a SIGHUP policy reload, an invalid policy kept out, and
// `ronctl audit verify` on the live log and on a tampered export.
func TestProcessCapabilitiesPolicyAudit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	dir := t.TempDir()
	capKey := filepath.Join(dir, "cap.key")
	policyFile := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policyFile, padPolicy(t, publicReads), 0o600); err != nil {
		t.Fatal(err)
	}
	ronctl := buildRonctl(t)
	n := startRond(t, "--quic-addr", "127.0.0.1:0", "--cap-key-file", capKey, "--policy", policyFile)
	if st, err := os.Stat(capKey); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("cap key file: %v %v", st, err)
	}

	data := []byte("written with the root token")
	deadline := time.Now().Add(startDeadline) // the node becoming ready, as for every start here
	for a := call(t, "PUT", n.url+"/o", n.token, data); a.status != 201; a = call(t, "PUT", n.url+"/o", n.token, data) {
		if time.Now().After(deadline) {
			t.Fatalf("root token PUT: %d %+v", a.status, a.env)
		}
		time.Sleep(100 * time.Millisecond)
	}
	wantDeny(t, call(t, "PUT", n.url+"/o", "", data), 401, gateway.ReasonMissingToken, "")

	readOnly, errOut, code := ctl(t, ronctl, "token", "issue", "--key", capKey, "--tenant", "acme", "--ops", "read", "--ttl", "1h")
	if code != 0 {
		t.Fatalf("ronctl token issue: %d %s", code, errOut)
	}
	wantDeny(t, call(t, "PUT", n.url+"/o", readOnly, data), 403, string(auth.ReasonOpNotAllowed), "")
	writer, _, _ := ctl(t, ronctl, "token", "issue", "--key", capKey, "--tenant", "acme", "--ops", "write", "--ttl", "1h")
	if a := call(t, "PUT", n.url+"/o", writer, []byte("acme's object")); a.status != 201 {
		t.Fatalf("issued write token: %d %+v", a.status, a.env)
	}
	prefixed, _, _ := ctl(t, ronctl, "token", "attenuate", n.token, "--prefix", "b3:0000")
	wantDeny(t, call(t, "PUT", n.url+"/o", prefixed, data), 403, string(auth.ReasonPrefixNotAllowed), "")
	small, _, _ := ctl(t, ronctl, "token", "attenuate", n.token, "--max-bytes", "4")
	wantDeny(t, call(t, "PUT", n.url+"/o", small, data), 403, string(auth.ReasonTooLarge), "")
	_, key, err := keyfile.ReadCapKey(capKey)
	if err != nil {
		t.Fatal(err)
	}
	old := env.Time(time.Now().Add(-time.Hour).UnixNano())
	expired, err := auth.Mint(key, "acme", auth.OpsAll, [auth.NonceBytes]byte{7}, auth.Expiry(old))
	if err != nil {
		t.Fatal(err)
	}
	wantDeny(t, call(t, "PUT", n.url+"/o", expired.Encode(), data), 401, string(auth.ReasonExpired), "")

	// SIGHUP applies a policy the poll cannot see: reads become private.
	obj := n.url + "/o/" + proto.AddrOf(data).String()
	if a := call(t, "GET", obj, "", nil); a.status != 200 {
		t.Fatalf("public read: %d", a.status)
	}
	// Barrier: two polls finished after the rewrite, so one started after it.
	polls := metricValue(t, n.url, policy.MetricPolls)
	writeKeepingStat(t, policyFile, padPolicy(t, privateReads))
	waitFor(t, keyReloadWait, "two policy polls after the rewrite", func() bool {
		return metricValue(t, n.url, policy.MetricPolls) >= polls+2
	})
	if a := call(t, "GET", obj, "", nil); a.status != 200 {
		t.Fatalf("the poll applied a change of neither size nor time: %d", a.status)
	}
	if err := n.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// The bound is keyReloadWait like every other reload wait here: a
	// signal, a file read and a bundle compiled in another process can
	// take longer than 2 s on a loaded machine (the old bound failed with
	// the process stopped 2.5 s after the signal).
	waitFor(t, keyReloadWait, "SIGHUP to apply the private policy", func() bool {
		return call(t, "GET", obj, "", nil).status == 401
	})
	wantDeny(t, call(t, "GET", obj, "", nil), 401, gateway.ReasonPolicyDenied, "default-deny")
	if a := call(t, "GET", obj, n.token, nil); a.status != 200 {
		t.Fatalf("authenticated read under the private policy: %d", a.status)
	}

	// An invalid bundle is refused when the poll sees it, and again on
	// SIGHUP: each refusal is counted, and the old bundle stays after each.
	rejected := `{result="` + policy.ReloadRejected + `"}`
	if got := metricValue(t, n.url, policy.MetricReloads+rejected); got != 0 {
		t.Fatalf("policy_reloads_total%s before any invalid bundle: %v", rejected, got)
	}
	writeAtomically(t, policyFile, []byte(brokenPolicy))
	waitFor(t, keyReloadWait, "the poll to refuse the invalid bundle", func() bool {
		return metricValue(t, n.url, policy.MetricReloads+rejected) == 1
	})
	wantDeny(t, call(t, "GET", obj, "", nil), 401, gateway.ReasonPolicyDenied, "default-deny")
	if err := n.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, keyReloadWait, "SIGHUP to refuse the invalid bundle", func() bool {
		return metricValue(t, n.url, policy.MetricReloads+rejected) == 2
	})
	wantDeny(t, call(t, "GET", obj, "", nil), 401, gateway.ReasonPolicyDenied, "default-deny")

	// The live log verifies; a tampered export does not.
	out, errOut, code := ctl(t, ronctl, "audit", "verify", "--node", n.url, "--token", n.token)
	if code != 0 {
		t.Fatalf("ronctl audit verify --node: %d %s", code, errOut)
	}
	export := call(t, "GET", n.url+"/audit", n.token, nil)
	kinds := auditKinds(t, export.body)
	for _, want := range []string{"token_issue", "policy_change:public", "policy_change:private"} {
		if !strings.Contains(strings.Join(kinds, " "), want) {
			t.Fatalf("audit log %v lacks %s (%s)", kinds, want, out)
		}
	}
	if strings.Contains(strings.Join(kinds, " "), "policy_change:broken") {
		t.Fatalf("the invalid bundle was audited as applied: %v", kinds)
	}
	exportFile := filepath.Join(dir, "audit.jsonl")
	if err := os.WriteFile(exportFile, export.body, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := ctl(t, ronctl, "audit", "verify", "--file", exportFile); code != 0 {
		t.Fatalf("verify of the untouched export: %d %s", code, errOut)
	}
	tampered := bytes.Replace(export.body, []byte(`"tenant":"root"`), []byte(`"tenant":"evil"`), 1)
	if bytes.Equal(tampered, export.body) {
		t.Fatalf("no root tenant in the export to tamper with: %s", export.body)
	}
	if err := os.WriteFile(exportFile, tampered, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := ctl(t, ronctl, "audit", "verify", "--file", exportFile); code != 1 || !strings.Contains(errOut, "line 1") {
		t.Fatalf("verify of a tampered export: %d %s", code, errOut)
	}

	// One bundle was applied at run time (the SIGHUP); the invalid one
	// was not; audit records were made durable.
	metrics := string(call(t, "GET", n.url+"/metrics", "", nil).body)
	if !strings.Contains(metrics, "\npolicy_apply_latency_seconds_count 1\n") ||
		!strings.Contains(metrics, "\naudit_append_latency_seconds_count ") {
		t.Fatalf("metrics lack the policy apply and audit append latencies")
	}

	// Stop the process, then read its log: the invalid bundle was named.
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	_ = n.cmd.Wait()
	logs := n.stderr.String()
	if !strings.Contains(logs, "invalid policy bundle rejected") || !strings.Contains(logs, "rule_name=token-reads") || !strings.Contains(logs, "field=effect") {
		t.Fatalf("rond did not log the rejected bundle with its rule and field:\n%s", logs)
	}
	if strings.Contains(logs, n.token) {
		t.Fatal("rond logged the root token")
	}
}

func auditKinds(t *testing.T, body []byte) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		var a gateway.AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		if a.Kind == "policy_change" {
			out = append(out, a.Kind+":"+a.Subject)
		} else {
			out = append(out, a.Kind)
		}
	}
	return out
}

// metricValue scrapes url's /metrics for one series (a name, with its
// labels if any, as the exposition format writes it); an absent series
// fails the test, since every series a test waits on exists from the start.
func metricValue(t *testing.T, url, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(string(call(t, "GET", url+"/metrics", "", nil).body), "\n") {
		if value, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return v
		}
	}
	t.Fatalf("/metrics has no series %s", series)
	return 0
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestProcessRefusesLooseKeyFile: a cap key readable by others stops the
// start (exit 2) with a message that names the file, not its content.
func TestProcessRefusesLooseKeyFile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	path := filepath.Join(t.TempDir(), "cap.key")
	secret := strings.Repeat("5a", auth.KeyBytes)
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(buildRond(t), "--http-addr", "127.0.0.1:0", "--quic-addr", "127.0.0.1:0", "--cap-key-file", path)
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "chmod 600") || strings.Contains(string(out), secret) {
		t.Fatalf("rond with a 0644 cap key: %v\n%s", err, out)
	}
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ron-network/ron/core/auth"
)

// keyReloadWait bounds how long a reload may take to show (the poll is
// 500 ms; SIGHUP is at once): generous for a loaded CI machine.
const keyReloadWait = 30 * time.Second

// TestProcessCapKeyRotation drives a real rond through a cap key rotation
// with ronctl: the root token minted at start (v1) keeps writing after
// `key rotate` and SIGHUP, a token issued afterwards carries v2 and
// writes, the root token file is rewritten with a v2 token, and after
// `key retire --version 1` the v1 token gets 401 unknown_key while the v2
// tokens still write. kms_rotation_events_total counts the one rotation,
// and neither the log nor ronctl's output shows key material.
func TestProcessCapKeyRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	dir := t.TempDir()
	capKey := filepath.Join(dir, "cap.key")
	ronctl := buildRonctl(t)
	n := startRond(t, "--quic-addr", "127.0.0.1:0", "--cap-key-file", capKey)
	put := func(token string, data string) httpAnswer { return call(t, "PUT", n.url+"/o", token, []byte(data)) }
	waitFor(t, keyReloadWait, "the first write with the root token", func() bool { return put(n.token, "before").status == 201 })
	if v := decode(t, n.token).KeyVersion; v != 1 {
		t.Fatalf("root token of a new cap key file has version %d, want 1", v)
	}
	rotations := func() string {
		for _, line := range strings.Split(string(call(t, "GET", n.url+"/metrics", "", nil).body), "\n") {
			if strings.HasPrefix(line, `kms_rotation_events_total{key="root"} `) {
				return strings.TrimPrefix(line, `kms_rotation_events_total{key="root"} `)
			}
		}
		return "absent"
	}
	if got := rotations(); got != "0" {
		t.Fatalf("kms_rotation_events_total before any rotation: %s", got)
	}

	out, errOut, code := ctl(t, ronctl, "key", "rotate", "--cap-key-file", capKey)
	if code != 0 {
		t.Fatalf("ronctl key rotate: %d %s", code, errOut)
	}
	if err := n.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, keyReloadWait, "rond to count the rotation", func() bool { return rotations() == "1" })
	issued, errOut2, code := ctl(t, ronctl, "token", "issue", "--key", capKey, "--tenant", "acme", "--ops", "write", "--ttl", "1h")
	if code != 0 || decode(t, issued).KeyVersion != 2 {
		t.Fatalf("token issue after the rotation: %d %s", code, errOut2)
	}
	waitFor(t, keyReloadWait, "the root token file to hold a v2 token", func() bool {
		return decode(t, readToken(t, n.tokenFile)).KeyVersion == 2
	})
	rootV2 := readToken(t, n.tokenFile)
	for name, token := range map[string]string{"v1 root token": n.token, "issued v2 token": issued, "v2 root token": rootV2} {
		if a := put(token, "after rotation: "+name); a.status != 201 {
			t.Fatalf("%s after the rotation: %d %+v", name, a.status, a.env)
		}
	}

	out3, errOut3, code := ctl(t, ronctl, "key", "retire", "--cap-key-file", capKey, "--version", "1")
	if code != 0 {
		t.Fatalf("ronctl key retire: %d %s", code, errOut3)
	}
	if err := n.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, keyReloadWait, "the v1 token to be refused", func() bool { return put(n.token, "retired").status == 401 })
	wantDeny(t, put(n.token, "retired"), 401, string(auth.ReasonUnknownKey), "")
	for name, token := range map[string]string{"issued v2 token": issued, "v2 root token": rootV2} {
		if a := put(token, "after retire: "+name); a.status != 201 {
			t.Fatalf("%s after retiring v1: %d %+v", name, a.status, a.env)
		}
	}
	if got := rotations(); got != "1" {
		t.Fatalf("kms_rotation_events_total after a rotation and a retire: %s, want 1", got)
	}
	audit := string(call(t, "GET", n.url+"/audit", rootV2, nil).body)
	if !strings.Contains(audit, "cap key version 2") {
		t.Fatalf("the audit log does not record the v2 root token's issue:\n%s", audit)
	}

	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	_ = n.cmd.Wait()
	logs := n.stderr.String()
	if !strings.Contains(logs, "cap key reloaded") {
		t.Fatalf("rond did not log the reloads:\n%s", logs)
	}
	text, err := os.ReadFile(capKey)
	if err != nil {
		t.Fatal(err)
	}
	seed := strings.Fields(string(text))
	everything := logs + out + out3 + errOut + errOut3
	if s := seed[len(seed)-1]; strings.Contains(everything, s[:16]) {
		t.Fatal("key material reached rond's log or ronctl's output")
	}
	for _, token := range []string{n.token, rootV2, issued} {
		if strings.Contains(logs, token) {
			t.Fatal("rond logged a token")
		}
	}
	if st, err := os.Stat(n.tokenFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("root token file after rewrite: %v %v", st, err)
	}
}

func decode(t *testing.T, text string) *auth.Token {
	t.Helper()
	tok, err := auth.Decode(text)
	if err != nil {
		t.Fatalf("not a token: %v", err)
	}
	return tok
}

func readToken(t *testing.T, path string) string {
	t.Helper()
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(text))
}

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ron-network/ron/core/auth"
)

// issue runs token issue with key and returns the token.
func issue(t *testing.T, key string) *auth.Token {
	t.Helper()
	text, errOut, code := runCtl(t, "", "token", "issue", "--key", key, "--tenant", "acme", "--ops", "write", "--ttl", "1h")
	if code != 0 {
		t.Fatalf("token issue: exit %d: %s", code, errOut)
	}
	tok, err := auth.Decode(text)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// verifyCode runs token verify --key and returns its exit code and stderr.
func verifyCode(t *testing.T, key string, tok *auth.Token) (int, string) {
	t.Helper()
	_, errOut, code := runCtl(t, "", "token", "verify", tok.Encode(), "--key", key, "--op", "write")
	return code, errOut
}

// TestKeyRotateThenRetire: rotating a single-key cap file keeps its tokens
// verifying and makes token issue mint with version 2; retiring version 1
// makes them unknown_key while version 2 tokens still verify. The file
// stays 0600 and no output shows key material.
func TestKeyRotateThenRetire(t *testing.T) {
	key, _ := capKeyFile(t)
	before, _ := os.ReadFile(key)
	v1 := issue(t, key)
	out, errOut, code := runCtl(t, "", "key", "rotate", "--cap-key-file", key)
	if code != 0 || !strings.Contains(out, "version 2 now mints") || !strings.Contains(out, "live versions: 1 2 (current 2)") {
		t.Fatalf("rotate: exit %d %q %s", code, out, errOut)
	}
	if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("rotated file mode: %v %v", st, err)
	}
	v2 := issue(t, key)
	if v1.KeyVersion != 1 || v2.KeyVersion != 2 {
		t.Fatalf("issued with v%d then v%d, want 1 then 2", v1.KeyVersion, v2.KeyVersion)
	}
	for _, tok := range []*auth.Token{v1, v2} {
		if code, errOut := verifyCode(t, key, tok); code != 0 {
			t.Fatalf("v%d token after rotation: %s", tok.KeyVersion, errOut)
		}
	}
	out, errOut, code = runCtl(t, "", "key", "retire", "--cap-key-file", key, "--version", "1", "--json")
	var ans struct {
		Current  uint32
		Versions []uint32
	}
	if code != 0 || json.Unmarshal([]byte(out), &ans) != nil || ans.Current != 2 || len(ans.Versions) != 1 {
		t.Fatalf("retire: exit %d %q %s", code, out, errOut)
	}
	if code, errOut := verifyCode(t, key, v1); code != 1 || !strings.Contains(errOut, "denied: unknown_key") {
		t.Fatalf("retired v1 token: exit %d %s", code, errOut)
	}
	if code, errOut := verifyCode(t, key, v2); code != 0 {
		t.Fatalf("v2 token after retiring v1: %s", errOut)
	}
	after, _ := os.ReadFile(key)
	for _, text := range []string{strings.TrimSpace(string(before)), lastField(after)} {
		if strings.Contains(out+errOut, text[:16]) {
			t.Fatal("ronctl printed key material")
		}
	}
}

func lastField(text []byte) string {
	fields := strings.Fields(string(text))
	return fields[len(fields)-1]
}

// TestKeyRotateRetireRefusals: missing flags are usage errors (exit 2);
// retiring the current or an unknown version, a loose or corrupt file
// fail (exit 1) naming the problem, and leave the file as it was.
func TestKeyRotateRetireRefusals(t *testing.T) {
	key, _ := capKeyFile(t)
	for _, args := range [][]string{
		{"key", "rotate"},
		{"key", "retire", "--cap-key-file", key},
		{"key", "rotate", "extra", "--cap-key-file", key},
		{"key", "spin", "--cap-key-file", key},
		{"key", "retire", "--cap-key-file", key, "--version", "x"},
	} {
		if _, errOut, code := runCtl(t, "", args...); code != 2 {
			t.Fatalf("%v: exit %d (%s), want 2", args, code, errOut)
		}
	}
	before, _ := os.ReadFile(key)
	for _, c := range []struct{ version, want string }{{"1", "current"}, {"7", "no version 7"}} {
		_, errOut, code := runCtl(t, "", "key", "retire", "--cap-key-file", key, "--version", c.version)
		if code != 1 || !strings.Contains(errOut, c.want) {
			t.Fatalf("retire %s: exit %d %s", c.version, code, errOut)
		}
	}
	if after, _ := os.ReadFile(key); !bytes.Equal(after, before) {
		t.Fatal("a refused retire changed the file")
	}

	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.key")
	text := "ron-cap-key v1\n1 " + strings.Repeat("ab", auth.KeyBytes) + "\n2 nothex\n"
	if err := os.WriteFile(corrupt, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runCtl(t, "", "key", "rotate", "--cap-key-file", corrupt)
	if code != 1 || !strings.Contains(errOut, "line 3: field seed") || strings.Contains(errOut, "abab") {
		t.Fatalf("rotate of a corrupt file: exit %d %s", code, errOut)
	}
	if after, _ := os.ReadFile(corrupt); string(after) != text {
		t.Fatal("a refused rotate changed the file")
	}
	loose := filepath.Join(dir, "loose.key")
	if err := os.WriteFile(loose, []byte(strings.Repeat("cd", auth.KeyBytes)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(loose, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := runCtl(t, "", "key", "rotate", "--cap-key-file", loose); code != 1 || !strings.Contains(errOut, "chmod 600") {
		t.Fatalf("rotate of a 0644 file: exit %d %s", code, errOut)
	}
	if _, errOut, code := runCtl(t, "", "key", "rotate", "--cap-key-file", filepath.Join(dir, "missing")); code != 1 || !strings.Contains(errOut, "missing") {
		t.Fatalf("rotate of a missing file: exit %d %s", code, errOut)
	}
}

// TestTokenIssueTakesCapKeyFile: --cap-key-file works for token issue as
// --key does.
func TestTokenIssueTakesCapKeyFile(t *testing.T) {
	key, verifier := capKeyFile(t)
	text, errOut, code := runCtl(t, "", "token", "issue", "--cap-key-file", key, "--tenant", "acme", "--ops", "write")
	if code != 0 {
		t.Fatalf("issue: exit %d %s", code, errOut)
	}
	if v := verifier.Verify(text, auth.Request{Op: auth.OpWrite, Tenant: "acme"}); !v.Allowed() {
		t.Fatalf("token issued with --cap-key-file: %s", v.Reason)
	}
}

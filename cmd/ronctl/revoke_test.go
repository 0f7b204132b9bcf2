package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ron-network/ron/core/auth"
)

// TestTokenRevokeSendsTheTokenOrTheID: `ronctl token revoke` posts the
// token (or, for 64 hex digits, the id) with the admin bearer token and
// prints the revoked id; an error envelope exits 1 naming the code.
func TestTokenRevokeSendsTheTokenOrTheID(t *testing.T) {
	var got []map[string]string
	var auths []string
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.URL.Path != "/tokens/revoke" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("request %s %s (%s)", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
		var body map[string]string
		_ = json.NewDecoder(r.Body).Decode(&body)
		got, auths = append(got, body), append(auths, r.Header.Get("Authorization"))
		w.WriteHeader(status)
		if status != http.StatusOK {
			_, _ = w.Write([]byte(`{"code":"UNKNOWN_OUTCOME","message":"try again","corr_id":"c1"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"id": strings.Repeat("ab", 32), "until_ns": 5})
	}))
	defer srv.Close()
	key := auth.MACKey{ID: "k", Version: 1, Secret: mustSecret(t)}
	tok, _ := auth.Mint(key, "acme", auth.OpsAll, [auth.NonceBytes]byte{1})
	id := tok.ID().String()

	var out, errOut bytes.Buffer
	if code := run([]string{"token", "revoke", tok.Encode(), "--node", srv.URL, "--token", "ADMIN"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("revoke by token: %d %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "revoked "+strings.Repeat("ab", 32)) {
		t.Fatalf("output %q", out.String())
	}
	if code := run([]string{"token", "revoke", id, "--node", srv.URL, "--token", "ADMIN"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("revoke by id: %d %s", code, errOut.String())
	}
	if len(got) != 2 || got[0]["token"] != tok.Encode() || got[0]["id"] != "" || got[1]["id"] != id || got[1]["token"] != "" {
		t.Fatalf("bodies %v", got)
	}
	if auths[0] != "Bearer ADMIN" || auths[1] != "Bearer ADMIN" {
		t.Fatalf("authorization %v", auths)
	}
	status = http.StatusServiceUnavailable
	errOut.Reset()
	if code := run([]string{"token", "revoke", id, "--node", srv.URL, "--token", "ADMIN"}, nil, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "UNKNOWN_OUTCOME") {
		t.Fatalf("503: %d %s", code, errOut.String())
	}
	if code := run([]string{"token", "revoke", id, "--node", srv.URL, "--token", ""}, nil, &out, &errOut); code != 2 {
		t.Fatalf("without an admin token: %d, want a usage error", code)
	}
}

func mustSecret(t *testing.T) auth.Secret {
	t.Helper()
	s, err := auth.NewSecret(bytes.Repeat([]byte{6}, auth.KeyBytes))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/io/gateway"
)

// revocationDeadline bounds how long a node may take to deny a revoked
// token: the registry's pull bound (interval * (1 + jitter) + a round
// trip) plus the gateway cache's TTL, with a wide margin for a loaded
// 2-core machine. It is a deadline, not an expectation.
const revocationDeadline = 15 * time.Second

// TestProcessRevokeWithRonctl: a token minted with ronctl writes (201);
// `ronctl token revoke` on the replica answers once committed; the token
// is then denied 401 revoked on that node at once and, within a bounded
// poll, on a second process that is not a replica and learns it by
// pulling; the revoke is in the audit log.
func TestProcessRevokeWithRonctl(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	capKey := filepath.Join(t.TempDir(), "cap.key")
	ronctl := buildRonctl(t)
	n1 := startRond(t, "--quic-addr", "127.0.0.1:0", "--cap-key-file", capKey)
	n2 := startRond(t, "--quic-addr", "127.0.0.1:0", "--cap-key-file", capKey,
		"--bootstrap", n1.id+"@"+n1.quic, "--replicas", n1.id)

	victim, errOut, code := ctl(t, ronctl, "token", "issue", "--key", capKey, "--tenant", "acme", "--ops", "write", "--ttl", "1h")
	if code != 0 {
		t.Fatalf("ronctl token issue: %d %s", code, errOut)
	}
	for _, n := range []*started{n1, n2} {
		waitFor(t, 30*time.Second, "a write with the issued token", func() bool {
			return call(t, "PUT", n.url+"/o", victim, []byte("acme writes")).status == http.StatusCreated
		})
	}
	// n2 pulls: it must hold the token as not revoked before the revoke,
	// or the poll below would prove nothing.
	if a := call(t, "PUT", n2.url+"/o", victim, []byte("still allowed")); a.status != http.StatusCreated {
		t.Fatalf("non-replica before the revoke: %d %+v", a.status, a.env)
	}

	out, errOut, code := ctl(t, ronctl, "token", "revoke", victim, "--node", n1.url, "--token", n1.token)
	tok, _ := auth.Decode(victim)
	if code != 0 || !strings.Contains(out, tok.ID().String()) {
		t.Fatalf("ronctl token revoke: %d %q %s", code, out, errOut)
	}
	wantDeny(t, call(t, "PUT", n1.url+"/o", victim, []byte("after")), 401, string(auth.ReasonRevoked), "")
	waitFor(t, revocationDeadline, "the non-replica to deny the revoked token", func() bool {
		return call(t, "PUT", n2.url+"/o", victim, []byte("after")).env.Reason == string(auth.ReasonRevoked)
	})
	if a := call(t, "PUT", n2.url+"/o", n2.token, []byte("root still writes")); a.status != http.StatusCreated {
		t.Fatalf("root token on the non-replica after the revoke: %d %+v", a.status, a.env)
	}
	// A writer token cannot revoke (admin is required).
	if _, errOut, code := ctl(t, ronctl, "token", "revoke", n1.token, "--node", n1.url, "--token", victim); code != 1 || !strings.Contains(errOut, "401") {
		t.Fatalf("revoke with a revoked writer token: %d %s", code, errOut)
	}

	export := call(t, "GET", n1.url+"/audit", n1.token, nil)
	if !strings.Contains(strings.Join(auditKinds(t, export.body), " "), "token_revoke") {
		t.Fatalf("audit log lacks the revoke: %s", export.body)
	}
}

// TestClusterRevocationReachesEveryNode: in the three-replica cluster
// (sharing one cap key), a token revoked through one node is denied 401
// revoked by every node within a bounded poll, while it was accepted
// everywhere before.
func TestClusterRevocationReachesEveryNode(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three rond processes")
	}
	capKey := make([]byte, auth.KeyBytes)
	if _, err := rand.Read(capKey); err != nil {
		t.Fatal(err)
	}
	nodes := newSharedKeyCluster(t, 3, capKey)
	ronctl := buildRonctl(t)
	victim, errOut, code := ctl(t, ronctl, "token", "issue", "--key", filepath.Join(nodes[0].dataDir, "cap.key"),
		"--tenant", "acme", "--ops", "write", "--ttl", "1h")
	if code != 0 {
		t.Fatalf("ronctl token issue: %d %s", code, errOut)
	}
	for _, n := range nodes {
		putWith(t, n, victim, randomBytes(t, 64), http.StatusCreated)
	}
	tok, _ := auth.Decode(victim)
	eventually(t, convergeTimeout, "ronctl token revoke on "+nodes[0].name, func() (bool, string) {
		out, errOut, code := ctl(t, ronctl, "token", "revoke", victim, "--node", nodes[0].url, "--token", nodes[0].token)
		if code == 0 && strings.Contains(out, tok.ID().String()) {
			return true, ""
		}
		if !strings.Contains(errOut, " 503 ") && !strings.Contains(errOut, " 504 ") {
			t.Fatalf("ronctl token revoke: %d %q %s", code, out, errOut)
		}
		return false, errOut
	})
	for _, n := range nodes {
		eventually(t, revocationDeadline, n.name+" to deny the revoked token", func() (bool, string) {
			code, body := doWith(t, n, "PUT", "/o", randomBytes(t, 64), victim)
			var env gateway.Envelope
			_ = json.Unmarshal(body, &env)
			return code == http.StatusUnauthorized && env.Reason == string(auth.ReasonRevoked), fmt.Sprintf("%d %s", code, body)
		})
	}
	// Every node's root token (minted from the shared key) still writes.
	putWith(t, nodes[2], nodes[1].token, randomBytes(t, 64), http.StatusCreated)
}

// newSharedKeyCluster is newCluster with one cap key in every data dir,
// so a token minted from it verifies on every node, and every node derives
// the same revocation admin key.
func newSharedKeyCluster(t *testing.T, count int, capKey []byte) []*procNode {
	t.Helper()
	return newClusterWith(t, count, func(n *procNode) {
		path := filepath.Join(n.dataDir, "cap.key")
		if err := os.WriteFile(path, []byte(hex.EncodeToString(capKey)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	})
}

// putWith writes data to n with token, retrying while the cluster has no
// quorum yet (503/504), and wants status.
func putWith(t *testing.T, n *procNode, token string, data []byte, status int) {
	t.Helper()
	eventually(t, convergeTimeout, "PUT /o on "+n.name, func() (bool, string) {
		code, body := doWith(t, n, "PUT", "/o", data, token)
		switch code {
		case status:
			return true, ""
		case 0, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return false, fmt.Sprintf("%d %s", code, body)
		}
		t.Fatalf("PUT /o on %s: %d %s", n.name, code, body)
		return false, ""
	})
}

// doWith is procNode.do with a given bearer token.
func doWith(t *testing.T, n *procNode, method, path string, body []byte, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, n.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, []byte(err.Error())
	}
	return resp.StatusCode, data
}

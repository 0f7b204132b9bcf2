package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRegistryLeaderMoves: `ronctl registry leader --to N` posts {"to": N}
// (a node id as a string, nothing without --to) with the admin bearer
// token and prints the old and new leader; --json prints the answer; a
// 409 not_leader exits 1 with one line naming the leader.
func TestRegistryLeaderMoves(t *testing.T) {
	var bodies []map[string]any
	notLeader := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.URL.Path != "/admin/registry/leader" || r.Header.Get("Authorization") != "Bearer ADMIN" {
			t.Errorf("request %s %s (%s)", r.Method, r.URL.Path, r.Header.Get("Authorization"))
		}
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		bodies = append(bodies, body)
		if notLeader {
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"code":"CONFLICT","reason":"not_leader","message":"registry: this node is not the registry leader: the leader is replica 3 (node cc)","corr_id":"c1"}`))
			return
		}
		_, _ = w.Write([]byte(`{"old":{"replica":1,"node":"aa"},"new":{"replica":2,"node":"bb"},"moved":true}`))
	}))
	defer srv.Close()
	g := []string{"--node", srv.URL, "--token", "ADMIN"}
	out, errText, code := ronctl(t, "", append(g, "registry", "leader", "--to", "2")...)
	if code != 0 || out != "registry leader moved: replica 1 (node aa) -> replica 2 (node bb)\n" {
		t.Fatalf("move: %d %q %q", code, out, errText)
	}
	id := strings.Repeat("ab", 32)
	if _, errText, code := ronctl(t, "", append(g, "registry", "leader", "--to", id)...); code != 0 {
		t.Fatalf("move to a node id: %d %s", code, errText)
	}
	out, _, code = ronctl(t, "", append(g, "--json", "registry", "leader")...)
	if code != 0 || !strings.Contains(out, `"moved":true`) {
		t.Fatalf("--json: %d %q", code, out)
	}
	if len(bodies) != 3 || bodies[0]["to"] != float64(2) || bodies[1]["to"] != id || len(bodies[2]) != 0 {
		t.Fatalf("bodies %v", bodies)
	}
	notLeader = true
	_, errText, code = ronctl(t, "", append(g, "registry", "leader", "--to", "2")...)
	if code != 1 || !strings.Contains(errText, "not the registry leader") || !strings.Contains(errText, "replica 3") || strings.Count(errText, "\n") != 1 {
		t.Fatalf("not the leader: %d %q", code, errText)
	}
	for _, args := range [][]string{{"registry", "leader", "--to", "x"}, {"registry", "leader", "--to", "0"}, {"registry"}, {"registry", "follower"}} {
		if _, errText, code := ronctl(t, "", append(g, args...)...); code != 2 {
			t.Fatalf("%v: %d %q, want usage error", args, code, errText)
		}
	}
	// An empty --to (an unset variable) is not "no --to": it does not
	// move leadership to the best voter.
	n := len(bodies)
	if _, errText, code := ronctl(t, "", append(g, "registry", "leader", "--to", "")...); code != 2 || !strings.Contains(errText, "-to") || len(bodies) != n {
		t.Fatalf("--to \"\": %d %q (%d requests sent), want a usage error naming --to and no request", code, errText, len(bodies)-n)
	}
}

// TestRegistryLeaderOnOneReplica: against a real single-replica node,
// --to 1 (the leader itself) moves nothing and says so, and a replica
// outside the group exits 1 naming no_such_replica's words.
func TestRegistryLeaderOnOneReplica(t *testing.T) {
	url, token := startNode(t)
	g := []string{"--node", url, "--token", token}
	out, errText, code := ronctl(t, "", append(g, "registry", "leader", "--to", "1")...)
	if code != 0 || !strings.Contains(out, "replica 1") || !strings.Contains(out, "already leads") {
		t.Fatalf("to the leader itself: %d %q %q", code, out, errText)
	}
	_, errText, code = ronctl(t, "", append(g, "registry", "leader", "--to", "4")...)
	if code != 1 || !strings.Contains(errText, "no such replica") {
		t.Fatalf("to replica 4 of 1: %d %q", code, errText)
	}
	_, errText, code = ronctl(t, "", append(g, "registry", "leader")...)
	if code != 1 || !strings.Contains(errText, "no other voter") {
		t.Fatalf("no candidate: %d %q", code, errText)
	}
}

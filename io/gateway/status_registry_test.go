package gateway_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ron-network/ron/io/gateway"
	"github.com/ron-network/ron/io/runtime"
)

// GET /status shows the registry as the node sees it: on the
// single-replica fixture node, this node is replica 1 of 1 and leads in
// a term of at least 1. (Decoded from the JSON, as a script reads it.)
func TestStatusShowsRegistryLeader(t *testing.T) {
	f := newFixture(t, gateway.AdmissionConfig{}, 0)
	gw := gateway.New(gateway.Config{Backend: f.rt, Metrics: f.rt.Prom(), Gatherer: f.rt.Prom().Registry(),
		Logger: slog.New(slog.DiscardHandler), Version: "test"})
	h := gw.WithStatus(gateway.StatusConfig{NodeID: "n1", Started: time.Now(), RegistryReplica: true})
	self := runtime.NodeSpec{Key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))}.Self().String() // newFixture's
	type view struct {
		Replica       bool    `json:"replica"`
		ReplicaID     uint64  `json:"replica_id"`
		Replicas      int     `json:"replicas"`
		Leader        *string `json:"leader"`
		LeaderReplica uint64  `json:"leader_replica"`
		Term          uint64  `json:"term"`
		IsLeader      bool    `json:"is_leader"`
		Role          string  `json:"role"`
		State         string  `json:"state"`
	}
	var s struct {
		Registry *view `json:"registry"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/status", nil))
		if err := json.Unmarshal(rec.Body.Bytes(), &s); err != nil {
			t.Fatalf("GET /status: %v: %s", err, rec.Body.String())
		}
		if s.Registry != nil && s.Registry.IsLeader {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never showed this single replica leading: %s", rec.Body.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	rs := s.Registry
	if !rs.Replica || rs.ReplicaID != 1 || rs.Replicas != 1 || rs.Leader == nil || *rs.Leader != self ||
		rs.LeaderReplica != 1 || rs.Term < 1 || rs.Role != "leader" || rs.State != "running" {
		t.Fatalf("registry view of the single replica: %+v (leader %v), want replica 1 of 1 leading, leader %s, term >= 1", rs, rs.Leader, self)
	}
}

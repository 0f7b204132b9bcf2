package gateway_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/io/gateway"
	"github.com/ron-network/ron/io/runtime"
)

// viewBackend answers registry.StatusQuery with view.
type viewBackend struct {
	readyBackend
	view registry.View
}

func (b *viewBackend) Call(_ context.Context, _ string, body any) (any, error) {
	if _, ok := body.(registry.StatusQuery); ok {
		return b.view, nil
	}
	return nil, context.Canceled
}

// A non-replica shows the leader the replicas last named (or null), and
// no term; a node that cannot answer shows no registry view at all.
func TestStatusRegistryViewOfNonReplica(t *testing.T) {
	lead := proto.NodeID{0xab}
	b := &viewBackend{view: registry.View{Replicas: 3, Leader: 2, LeaderNode: lead}}
	gw := gateway.New(gateway.Config{Backend: b, Metrics: runtime.NewPromMetrics(slog.New(slog.DiscardHandler)), Logger: slog.New(slog.DiscardHandler), Version: "test"})
	h := gw.WithStatus(gateway.StatusConfig{NodeID: "n9"})
	rs := getStatus(t, h).Registry
	if rs == nil || rs.Replica || rs.ReplicaID != 0 || rs.Replicas != 3 || rs.Leader == nil || *rs.Leader != lead.String() ||
		rs.LeaderReplica != 2 || rs.Term != 0 || rs.IsLeader || rs.State != "client" {
		t.Fatalf("non-replica view: %+v", rs)
	}
	b.view = registry.View{Replicas: 3}
	if rs := getStatus(t, h).Registry; rs == nil || rs.Leader != nil || rs.LeaderReplica != 0 {
		t.Fatalf("non-replica knowing no leader: %+v, want leader null", rs)
	}
	b.view = registry.View{Replicas: 3, Replica: 1, Failed: true}
	if rs := getStatus(t, h).Registry; rs == nil || rs.State != "failed" || !rs.Replica {
		t.Fatalf("failed replica: %+v", rs)
	}
	silent := gateway.New(gateway.Config{Backend: &readyBackend{}, Metrics: runtime.NewPromMetrics(slog.New(slog.DiscardHandler)), Logger: slog.New(slog.DiscardHandler)}).WithStatus(gateway.StatusConfig{})
	if rs := getStatus(t, silent).Registry; rs != nil {
		t.Fatalf("a node that did not answer shows a registry view: %+v", rs)
	}
}

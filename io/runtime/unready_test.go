package runtime_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/io/runtime"
)

// UnreadyCheck's reason makes a serving node not ready (Ready false,
// NotReadyReason the reason, node_ready_state 0) while its calls still
// reach it, and ready again once the reason clears: rond's NodeUnready
// says registry_no_leader while a registry replica has known no leader
// past its grace (core/registry's TestNoLeaderPastGraceOnCutOffReplica),
// so /readyz is 503 on a node cut off from the quorum. Before, readiness
// looked only at storage and a failed registry.
func TestUnreadyCheckReasonAndBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var reason atomic.Pointer[string]
		none := ""
		reason.Store(&none)
		metrics := runtime.NewPromMetrics(slog.New(slog.DiscardHandler))
		rt, err := runtime.New(runtime.Config{
			Self: proto.NodeID{1},
			NewNode: func(e env.Env) *node.Node {
				return node.New(e, node.Config{Invariants: true}, &probe{starts: new(atomic.Int32)})
			},
			Disk:         &bubbleDisk{latency: time.Millisecond, values: map[string][]byte{}},
			Seed:         7,
			Logger:       slog.New(slog.DiscardHandler),
			Metrics:      metrics,
			UnreadyCheck: func(*node.Node) string { return *reason.Load() },
		})
		if err != nil {
			t.Fatal(err)
		}
		rt.Start(nil)
		synctest.Wait()
		if !rt.Ready() || rt.NotReadyReason() != "" {
			t.Fatalf("no reason: ready %v reason %q", rt.Ready(), rt.NotReadyReason())
		}
		step := func() { // a call is a step, after which readiness is checked
			if _, err := rt.Call(context.Background(), "probe", "echo:x"); err != nil {
				t.Fatalf("call while %q: %v", *reason.Load(), err)
			}
			synctest.Wait()
		}
		why := runtime.ReasonRegistryNoLeader
		reason.Store(&why)
		step()
		if rt.Ready() || rt.NotReadyReason() != why {
			t.Fatalf("reason %q: ready %v reason %q, want not ready with it", why, rt.Ready(), rt.NotReadyReason())
		}
		if v := metricValue(t, metrics, env.MetricNodeReady); v != 0 {
			t.Fatalf("%s = %v while not ready", env.MetricNodeReady, v)
		}
		reason.Store(&none)
		step()
		if !rt.Ready() || rt.NotReadyReason() != "" {
			t.Fatalf("reason cleared: ready %v reason %q, want ready", rt.Ready(), rt.NotReadyReason())
		}
		if v := metricValue(t, metrics, env.MetricNodeReady); v != 1 {
			t.Fatalf("%s = %v once ready again", env.MetricNodeReady, v)
		}
		closeBubbleRuntime(t, rt)
	})
}

func metricValue(t *testing.T, m *runtime.PromMetrics, name string) float64 {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) > 0 {
			return value(f.GetMetric()[0])
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// A node that UnreadyCheck holds unready from its first step (a replica of
// a cold-starting set, before a quorum runs) is LocalReady, and its
// start-up ends when the node itself serves: node_startup_seconds is set
// although Ready never was. It measured the wait for the registry too, so
// the start-up alert fired on replicas that merely waited for peers.
func TestStartupEndsWhenServingNotWhenRegistryReady(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		metrics := runtime.NewPromMetrics(slog.New(slog.DiscardHandler))
		rt, err := runtime.New(runtime.Config{
			Self: proto.NodeID{1},
			NewNode: func(e env.Env) *node.Node {
				return node.New(e, node.Config{Invariants: true}, &probe{starts: new(atomic.Int32)})
			},
			Disk:         &bubbleDisk{latency: time.Millisecond, values: map[string][]byte{}},
			Seed:         7,
			Logger:       slog.New(slog.DiscardHandler),
			Metrics:      metrics,
			UnreadyCheck: func(*node.Node) string { return runtime.ReasonRegistryNoLeader },
		})
		if err != nil {
			t.Fatal(err)
		}
		if rt.LocalReady() {
			t.Fatal("LocalReady before Start")
		}
		time.Sleep(3 * time.Second) // bubble time: the start-up the metric must show
		rt.Start(nil)
		synctest.Wait()
		if rt.Ready() || rt.NotReadyReason() != runtime.ReasonRegistryNoLeader {
			t.Fatalf("ready %v reason %q, want not ready for the registry", rt.Ready(), rt.NotReadyReason())
		}
		if !rt.LocalReady() {
			t.Fatal("not LocalReady although only the registry holds the node back")
		}
		if v := metricValue(t, metrics, env.MetricNodeStartup); v < 3 {
			t.Fatalf("%s = %v, want the start-up (>= 3 s) once the node serves", env.MetricNodeStartup, v)
		}
		closeBubbleRuntime(t, rt)
		if rt.LocalReady() {
			t.Fatal("LocalReady after Close")
		}
	})
}

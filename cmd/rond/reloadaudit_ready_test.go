package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ron-network/ron/core/audit"
	corenode "github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/io/gateway"
	"github.com/ron-network/ron/io/pebbledisk"
	"github.com/ron-network/ron/io/runtime"
)

// rond's own audit records reach the node's local audit log while only
// the registry makes the node unready (/readyz 503 registry_no_leader): the
// log needs no registry. The queue waited for Ready, so a replica cut off
// from its quorum held key_rotate and token_issue records and dropped them
// when it stopped.
func TestAuditQueueAppendsWhileRegistryUnready(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	disk, err := pebbledisk.Open(pebbledisk.Options{Dir: "db", FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	spec := runtime.NodeSpec{Key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32))}
	spec.Replicas = []proto.NodeID{spec.Self()}
	rt, err := runtime.New(runtime.Config{Self: spec.Self(), NewNode: spec.NewNode, Disk: disk, Logger: log,
		ReadyCheck:   runtime.NodeReady,
		UnreadyCheck: func(*corenode.Node) string { return runtime.ReasonRegistryNoLeader }})
	if err != nil {
		t.Fatal(err)
	}
	rt.Start(nil)
	gw := gateway.New(gateway.Config{Backend: rt, Metrics: rt.Prom(), Logger: log, Version: "test"})
	ctx, cancel := context.WithCancel(context.Background())
	q := newAuditQueue(log, rt.Prom())
	var appended atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.run(ctx, auditReady(rt), func(ctx context.Context, e audit.Event) error {
			err := gw.Audit(ctx, e)
			if err == nil {
				appended.Add(1)
			}
			return err
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		closeCtx, stop := context.WithTimeout(context.Background(), 5*time.Second)
		defer stop()
		_ = rt.Close(closeCtx)
		_ = disk.Close()
	})
	q.record(audit.Event{Kind: audit.KindKeyRotate, Actor: "rond", Subject: "root"})
	for deadline := time.Now().Add(30 * time.Second); appended.Load() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the record was not appended in 30 s; node ready %v (%q), local ready %v",
				rt.Ready(), rt.NotReadyReason(), rt.LocalReady())
		}
	}
	if rt.Ready() || rt.NotReadyReason() != runtime.ReasonRegistryNoLeader {
		t.Fatalf("node ready %v (%q): the test needs it unready for the registry alone", rt.Ready(), rt.NotReadyReason())
	}
}

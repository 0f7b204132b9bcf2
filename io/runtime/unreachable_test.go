package runtime_test

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/io/pebbledisk"
	"github.com/ron-network/ron/io/runtime"
)

// lossProbe records the peers of the loss reports it receives and answers
// any request with them.
type lossProbe struct {
	env  env.Env
	lost []proto.NodeID
}

func (p *lossProbe) Name() string        { return "loss" }
func (p *lossProbe) Protocols() []uint16 { return nil }
func (p *lossProbe) Init(e env.Env)      { p.env = e }
func (p *lossProbe) Topics() []string    { return []string{env.TopicPeerUnreachable} }

func (p *lossProbe) Handle(in env.Input) {
	switch in := in.(type) {
	case env.BusEvent:
		p.lost = append(p.lost, in.Event.(env.PeerUnreachable).Peer)
	case env.Request:
		p.env.Reply(in.ID, slices.Clone(p.lost))
	}
}

func TestPeerUnreachableReachesSubscribers(t *testing.T) {
	disk, err := pebbledisk.Open(pebbledisk.Options{Dir: "db", FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := runtime.New(runtime.Config{
		Self:    proto.NodeID{1},
		NewNode: func(e env.Env) *node.Node { return node.New(e, node.Config{Invariants: true}, &lossProbe{}) },
		Disk:    disk, Seed: 7, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	rt.Start(nil)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = rt.Close(ctx)
		_ = disk.Close()
	})
	waitReady(t, rt)
	a, b := proto.NodeID{2}, proto.NodeID{3}
	rt.PeerUnreachable(a)
	rt.PeerUnreachable(b)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		got, err := rt.Call(ctx, "loss", nil)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		lost := got.([]proto.NodeID)
		if slices.Contains(lost, a) && slices.Contains(lost, b) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reports seen %v, want %v and %v", lost, a, b)
		}
		time.Sleep(time.Millisecond)
	}
	// A peer reported again once its first report was taken is reported again.
	rt.PeerUnreachable(a)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		got, err := rt.Call(ctx, "loss", nil)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		lost := got.([]proto.NodeID)
		if len(lost) >= 3 && lost[len(lost)-1] == a {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reports seen %v, want a second report of %v", lost, a)
		}
		time.Sleep(time.Millisecond)
	}
}

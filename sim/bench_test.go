package sim

import (
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
)

// relay is the benchmark's service: on Start it sends inflight small
// frames to its successor; every frame it receives it forwards (the same
// slice: ownership passes with it) to its successor.
type relay struct {
	e        env.Env
	world    **World // set once New returns; read at Start
	nextIdx  int
	next     proto.NodeID
	inflight int
}

func (r *relay) Name() string        { return "relay" }
func (r *relay) Protocols() []uint16 { return []uint16{oap.ProtoOverlay} }
func (r *relay) Init(e env.Env)      { r.e = e }
func (r *relay) Handle(in env.Input) {
	switch in := in.(type) {
	case env.Start:
		r.next = (*r.world).NodeID(r.nextIdx)
		for k := 0; k < r.inflight; k++ {
			r.e.Send(r.next, ping(uint64(k), r.e.Now(), 16))
		}
	case env.Message:
		r.e.Send(r.next, in.Frame)
	}
}

// BenchmarkEvents measures the engine on a ping-pong ring of 5 nodes with
// jittered latency: each event is one frame delivered and forwarded.
func BenchmarkEvents(b *testing.B) {
	const nodes = 5
	var w *World
	w = New(Config{Seed: 1, Nodes: nodes,
		Network: NetworkConfig{LatencyP50: ms, LatencyP99: 5 * ms},
		NewNode: func(idx int, e env.Env) *node.Node {
			return node.New(e, node.Config{}, &relay{world: &w, nextIdx: (idx + 1) % nodes, inflight: 8})
		}})
	defer w.Close()
	b.ReportAllocs()
	b.ResetTimer()
	step := 100 * time.Millisecond
	for w.Events() < uint64(b.N) {
		if err := w.RunUntil(w.Now() + step); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(w.Events())/b.Elapsed().Seconds(), "events/s")
}

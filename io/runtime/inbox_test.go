package runtime_test

import (
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
	"github.com/ron-network/ron/io/runtime"
)

// sharePeersMin mirrors runtime.InboxPeerSharePeersMin (a literal, so
// these tests also build against a runtime without per-peer shares).
const sharePeersMin = 4

// sink records the sender of every frame of oap.ProtoDHT it is handed.
type sink struct {
	from *[]proto.NodeID
}

func (s sink) Name() string        { return "sink" }
func (s sink) Protocols() []uint16 { return []uint16{oap.ProtoDHT} }
func (s sink) Init(env.Env)        {}
func (s sink) Handle(in env.Input) {
	if m, ok := in.(env.Message); ok {
		*s.from = append(*s.from, m.From)
	}
}

func sinkFrame(i int) []byte {
	return oap.MustEncode(&oap.Frame{Header: oap.Header{AppProto: oap.ProtoDHT, CorrID: uint64(i)}, Payload: []byte(fmt.Sprint(i))})
}

// newSinkRuntime returns a runtime (not started) whose node holds a sink;
// it must be called inside synctest.Test.
func newSinkRuntime(t *testing.T, depth int, from *[]proto.NodeID) *runtime.Runtime {
	t.Helper()
	rt, err := runtime.New(runtime.Config{
		Self: proto.NodeID{1},
		NewNode: func(e env.Env) *node.Node {
			return node.New(e, node.Config{Invariants: true}, &probe{starts: new(atomic.Int32)}, sink{from: from})
		},
		Disk:       &bubbleDisk{latency: time.Millisecond, values: map[string][]byte{}},
		InboxDepth: depth,
		Seed:       7,
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// TestSynctestFloodingPeerCannotCrowdOutOthers: one peer (a member with a
// valid key, misbehaving) delivers ten inboxes' worth of frames while the
// loop is busy; two honest peers' frames delivered afterwards are still
// queued, and are stepped within the first round of the round robin, not
// after the flooder's backlog. The flood is shed and counted as
// kind="peer_share". (With one shared FIFO both honest frames were dropped.)
func TestSynctestFloodingPeerCannotCrowdOutOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const depth = 64
		flooder, honestB, honestC := proto.NodeID{0xee}, proto.NodeID{2}, proto.NodeID{3}
		var from []proto.NodeID
		rt := newSinkRuntime(t, depth, &from)
		for i := range 10 * depth {
			rt.Deliver(flooder, sinkFrame(i))
		}
		rt.Deliver(honestB, sinkFrame(-1))
		rt.Deliver(honestC, sinkFrame(-2))
		rt.Start(nil)
		synctest.Wait()
		closeBubbleRuntime(t, rt)

		share := depth / sharePeersMin
		if got := countFrom(from, flooder); got != share {
			t.Errorf("flooder had %d frames stepped, want its share %d", got, share)
		}
		for _, honest := range []proto.NodeID{honestB, honestC} {
			at := indexOf(from, honest)
			if at < 0 {
				t.Fatalf("honest peer %x: frame dropped behind the flood (stepped %d frames)", honest[:1], len(from))
			}
			if at > 2 {
				t.Errorf("honest peer %x: frame stepped %d-th, after the flooder's backlog", honest[:1], at)
			}
		}
		if got := peerShareDrops(t, rt); got != float64(10*depth-share) {
			t.Errorf("peer_share drops %v, want %d", got, 10*depth-share)
		}
	})
}

// TestSynctestFullInboxEvictsTheLargestHolder: when enough peers fill the
// inbox each within its share, a frame from a new peer evicts the newest
// frame of the peer holding the most, instead of being dropped.
func TestSynctestFullInboxEvictsTheLargestHolder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const depth = 16
		var from []proto.NodeID
		rt := newSinkRuntime(t, depth, &from)
		// Four peers fill the inbox, each with exactly its share (4 of 16).
		for i := range depth {
			rt.Deliver(proto.NodeID{10 + byte(i%sharePeersMin)}, sinkFrame(i))
		}
		if got := counter(t, rt, runtime.MetricInboxDropped); got != 0 {
			t.Fatalf("%v frames dropped while every peer was within its share", got)
		}
		late := proto.NodeID{99}
		rt.Deliver(late, sinkFrame(100))
		rt.Start(nil)
		synctest.Wait()
		closeBubbleRuntime(t, rt)
		if indexOf(from, late) < 0 {
			t.Fatalf("a new peer's frame was dropped by a full inbox; stepped %v", from)
		}
		if len(from) != depth {
			t.Fatalf("stepped %d frames, want the inbox depth %d", len(from), depth)
		}
		if got := peerShareDrops(t, rt); got != 1 {
			t.Fatalf("peer_share drops %v, want the one evicted frame", got)
		}
	})
}

func countFrom(from []proto.NodeID, id proto.NodeID) int {
	n := 0
	for _, f := range from {
		if f == id {
			n++
		}
	}
	return n
}

func indexOf(from []proto.NodeID, id proto.NodeID) int {
	for i, f := range from {
		if f == id {
			return i
		}
	}
	return -1
}

func peerShareDrops(t *testing.T, rt *runtime.Runtime) float64 {
	t.Helper()
	families, err := rt.Prom().Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != runtime.MetricInboxDropped {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == "peer_share" {
					return value(m)
				}
			}
		}
	}
	return 0
}

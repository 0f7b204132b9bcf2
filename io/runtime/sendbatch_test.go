package runtime_test

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
	"github.com/ron-network/ron/io/pebbledisk"
	"github.com/ron-network/ron/io/runtime"
)

const echoProto = 0x7e57

// echoer sends every frame it receives back to its sender.
type echoer struct{ env env.Env }

func (e *echoer) Name() string        { return "echo" }
func (e *echoer) Protocols() []uint16 { return []uint16{echoProto} }
func (e *echoer) Init(en env.Env)     { e.env = en }
func (e *echoer) Handle(in env.Input) {
	if m, ok := in.(env.Message); ok {
		e.env.Send(m.From, m.Frame)
	}
}

func echoFrame(seq uint64) []byte {
	return oap.MustEncode(&oap.Frame{Header: oap.Header{Flags: oap.FlagEVENT, AppProto: echoProto, CorrID: seq}})
}

// sendRecorder is a Transport recording each call with the sequence
// numbers of its frames, as a batch transport or a plain one.
type sendRecorder struct {
	mu    sync.Mutex
	calls [][]uint64 // one entry per Send or SendAll call
	total int
}

func (s *sendRecorder) record(frames [][]byte) {
	var seqs []uint64
	for _, f := range frames {
		h, err := oap.ParseHeader(f)
		if err != nil {
			panic(err)
		}
		seqs = append(seqs, h.CorrID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, seqs)
	s.total += len(seqs)
}

func (s *sendRecorder) Send(_ proto.NodeID, frame []byte) { s.record([][]byte{frame}) }

func (s *sendRecorder) snapshot() ([][]uint64, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls), s.total
}

type batchRecorder struct{ sendRecorder }

func (b *batchRecorder) SendAll(_ proto.NodeID, frames [][]byte) { b.record(frames) }

// echoRuntime starts a runtime running echoer with tr, after queueing
// frames frames from one peer, so that the loop finds them all waiting.
func echoRuntime(t *testing.T, tr runtime.Transport, frames int) {
	t.Helper()
	disk, err := pebbledisk.Open(pebbledisk.Options{Dir: "db", FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := runtime.New(runtime.Config{
		Self:    proto.NodeID{1},
		NewNode: func(e env.Env) *node.Node { return node.New(e, node.Config{Invariants: true}, &echoer{}) },
		Disk:    disk, Seed: 7, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	for seq := range uint64(frames) {
		rt.Deliver(proto.NodeID{2}, echoFrame(seq))
	}
	rt.Start(tr)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = rt.Close(ctx)
		_ = disk.Close()
	})
}

func waitTotal(t *testing.T, s *sendRecorder, want int) [][]uint64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		calls, total := s.snapshot()
		if total >= want {
			return calls
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d frames sent, want %d", total, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// checkSeqs asserts that calls carry 0..want-1 in order.
func checkSeqs(t *testing.T, calls [][]uint64, want int) {
	t.Helper()
	next := uint64(0)
	for _, c := range calls {
		for _, seq := range c {
			if seq != next {
				t.Fatalf("frame %d sent where %d was due (calls %v)", seq, next, calls)
			}
			next++
		}
	}
	if next != uint64(want) {
		t.Fatalf("%d frames sent, want %d", next, want)
	}
}

// Steps that run back to back (their inputs were all waiting) hand their
// frames for one peer to a batch transport in one SendAll, in order, when
// the loop runs out of input (the old loop called Send once per frame).
func TestBackToBackStepsSendEachPeersFramesAtOnce(t *testing.T) {
	const frames = 5
	tr := &batchRecorder{}
	echoRuntime(t, tr, frames)
	calls := waitTotal(t, &tr.sendRecorder, frames)
	checkSeqs(t, calls, frames)
	if len(calls) != 1 {
		t.Fatalf("frames sent in %d calls %v, want one SendAll", len(calls), calls)
	}
}

// While inputs keep waiting, the loop still hands frames over every
// SendBatchFramesMax frames; none is lost or reordered.
func TestHeldFramesAreBounded(t *testing.T) {
	const frames = 2*runtime.SendBatchFramesMax + 3
	tr := &batchRecorder{}
	echoRuntime(t, tr, frames)
	calls := waitTotal(t, &tr.sendRecorder, frames)
	checkSeqs(t, calls, frames)
	if len(calls) < 3 {
		t.Fatalf("%d frames in %d calls, want at least 3", frames, len(calls))
	}
	for _, c := range calls {
		if len(c) > runtime.SendBatchFramesMax {
			t.Fatalf("a call of %d frames, bound %d", len(c), runtime.SendBatchFramesMax)
		}
	}
}

// A transport without SendAll gets every frame through Send, in order.
func TestPlainTransportGetsEveryFrameInOrder(t *testing.T) {
	const frames = 5
	tr := &sendRecorder{}
	echoRuntime(t, tr, frames)
	calls := waitTotal(t, tr, frames)
	checkSeqs(t, calls, frames)
	if len(calls) != frames {
		t.Fatalf("%d Send calls for %d frames", len(calls), frames)
	}
}

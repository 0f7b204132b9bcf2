package quicnet

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
)

// BenchmarkThroughput measures frame throughput from one transport to
// another on loopback (MB/s of whole frames). The sender keeps at most
// window frames in flight, below the queue bound, so nothing is dropped
// and the figure is what the connection carries, not what Send accepts.
func BenchmarkThroughput(b *testing.B) {
	for _, payloadBytes := range []int{1 << 10, 64 << 10, oap.FrameBytesMax - oap.HeaderBytes} {
		b.Run(fmt.Sprintf("frame=%dB", payloadBytes+oap.HeaderBytes), func(b *testing.B) {
			benchThroughput(b, payloadBytes)
		})
	}
}

func benchThroughput(b *testing.B, payloadBytes int) {
	const window = 64
	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	delivered := 0
	deliver := func(proto.NodeID, []byte) {
		mu.Lock()
		delivered++
		mu.Unlock()
		cond.Signal()
	}
	sender := startNode(b, 1, func(c *Config) { c.SendQueueDepthMax = 2 * window })
	receiver, err := Listen(Config{Key: testKey(2), ListenAddr: "127.0.0.1:0"}, deliver)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = receiver.Close() })
	sender.AddPeer(receiver.ID(), receiver.Addr().String())
	frame := testFrame(1, 0, payloadBytes)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		mu.Lock()
		for i-delivered >= window {
			cond.Wait()
		}
		mu.Unlock()
		sender.Send(receiver.ID(), frame)
	}
	mu.Lock()
	for delivered < b.N {
		cond.Wait()
	}
	mu.Unlock()
	b.StopTimer()
	if dropped := sender.metrics.get(MetricDropped, DropQueueFull); dropped != 0 {
		b.Fatalf("%v frames dropped: the window is too large for the queue", dropped)
	}
}

// BenchmarkRoundTrip measures a request and its answer between two
// transports on loopback, each side's frames handed to a goroutine of its
// own as the node runtime does (deliver puts them on a channel, the
// goroutine sends the answer): the shape of a raft append and its
// acknowledgement. Besides ns/op it reports the process's context
// switches and CPU time per round trip (getrusage), the figures the
// transport's goroutine hand-offs move. In the idle variant the requester
// pauses after each answer, so the process goes idle between round trips
// as a replica does between sequential writes (the pause is in ns/op, not
// in the CPU figure).
func BenchmarkRoundTrip(b *testing.B) {
	b.Run("busy", func(b *testing.B) { benchRoundTrip(b, 0) })
	b.Run("idle", func(b *testing.B) { benchRoundTrip(b, 200*time.Microsecond) })
}

func benchRoundTrip(b *testing.B, pause time.Duration) {
	inA := make(chan []byte, 16)
	inB := make(chan []byte, 16)
	a := startNodeDeliver(b, 1, func(_ proto.NodeID, f []byte) { inA <- f })
	bn := startNodeDeliver(b, 2, func(_ proto.NodeID, f []byte) { inB <- f })
	a.AddPeer(bn.ID(), bn.Addr().String())
	done := make(chan struct{})
	defer close(done)
	go func() { // b's loop: answer every frame
		for {
			select {
			case <-done:
				return
			case <-inB:
				bn.Send(a.ID(), testFrame(2, 0, 100))
			}
		}
	}()
	req := testFrame(1, 0, 200)
	for range 10 { // open the connection and both streams
		a.Send(bn.ID(), req)
		<-inA
	}
	before := rusageNow()
	b.ResetTimer()
	for range b.N {
		a.Send(bn.ID(), req)
		<-inA
		if pause > 0 {
			time.Sleep(pause)
		}
	}
	b.StopTimer()
	after := rusageNow()
	b.ReportMetric(float64(after.switches-before.switches)/float64(b.N), "ctxsw/op")
	b.ReportMetric(float64(after.cpu-before.cpu)/float64(b.N), "cpu-ns/op")
}

// startNodeDeliver is startNode with a deliver callback of the caller's.
func startNodeDeliver(t testing.TB, seed byte, deliver func(proto.NodeID, []byte)) *Transport {
	t.Helper()
	tr, err := Listen(Config{Key: testKey(seed), ListenAddr: "127.0.0.1:0"}, deliver)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

package quicnet

import (
	"fmt"
	"sync"
	"testing"

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

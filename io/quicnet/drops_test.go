package quicnet

import (
	"net"
	"testing"
	"time"
)

// Datagrams no connection owns are counted by reason: bytes that cannot
// be QUIC at all, and short-header packets for a connection that does not
// exist. UDP on a busy loopback may lose a datagram, so each kind is sent
// again until its counter moves (a lost one is simply not counted; a
// counted one was received).
func TestDroppedDatagramsAreCounted(t *testing.T) {
	b := startNode(t, 2, nil)
	udp, err := net.Dial("udp", b.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	for _, c := range []struct {
		reason string
		first  byte
		size   int
	}{
		{DatagramNotQUIC, 0x17, 64}, // neither long header nor fixed bit
		// A short header for no connection, too short to be answered with
		// a stateless reset (a longer one is answered, not dropped).
		{"unknown_connection_id", 0x41, 20},
	} {
		datagram := make([]byte, c.size)
		datagram[0] = c.first
		for i := 1; i < len(datagram); i++ {
			datagram[i] = byte(i * 31)
		}
		deadline := time.Now().Add(20 * time.Second)
		for b.metrics.get(MetricDatagrams, c.reason) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("no %s{%s} after 20 s of sending", MetricDatagrams, c.reason)
			}
			if _, err := udp.Write(datagram); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if b.in.len() != 0 {
		t.Errorf("delivered %d frames from garbage", b.in.len())
	}
}

package quicnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

// dialFrom opens a connection to n from its own UDP socket on source (a
// loopback address such as 127.0.0.7), as an unconfigured node with the
// key of seed. The socket is closed when the test ends.
func dialFrom(t *testing.T, source string, n *tnode, seed byte) (*quic.Conn, error) {
	t.Helper()
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(source)})
	if err != nil {
		t.Fatalf("bind %s: %v", source, err)
	}
	tr := &quic.Transport{Conn: udp}
	t.Cleanup(func() { _ = tr.Close(); _ = udp.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var outcome dialOutcome
	conf := clientTLS(selfCert(t, seed), n.ID(), &outcome)
	return tr.Dial(ctx, n.Addr().(*net.UDPAddr), conf, &quic.Config{KeepAlivePeriod: time.Second})
}

// guardConns polls until the peer endpoint's guard holds conns
// connections, unreserved of them outside the reserved room, and the
// gauge says the same.
func waitGuardConns(t *testing.T, n *tnode, conns, unreserved int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d inbound connections, %d unreserved", conns, unreserved), func() bool {
		c, u := n.guard.Conns()
		return c == conns && u == unreserved && n.metrics.get(MetricInboundConns, "peer") == float64(conns)
	})
}

// TestConnsMaxBoundsInboundConnections: with ConnsMax 4 (one reserved for
// configured peers), three unconfigured nodes on three source addresses
// connect; a fourth is refused once its handshake shows it is not a
// configured peer; a configured peer still gets in; beyond ConnsMax a
// new attempt is refused before its handshake (CONNECTION_REFUSED). Each
// refusal counts conns_full, and closed connections give their room back.
func TestConnsMaxBoundsInboundConnections(t *testing.T) {
	b := startNode(t, 2, func(c *Config) { c.ConnsMax = 4 })
	a := startNode(t, 1, nil)
	b.AddPeer(a.ID(), a.Addr().String())
	a.AddPeer(b.ID(), b.Addr().String())

	var open []*quic.Conn
	for i := range 3 {
		conn, err := dialFrom(t, fmt.Sprintf("127.0.0.%d", 10+i), b, byte(100+i))
		if err != nil {
			t.Fatalf("client %d refused under the cap: %v", i, err)
		}
		open = append(open, conn)
	}
	waitGuardConns(t, b, 3, 3)

	conn, err := dialFrom(t, "127.0.0.13", b, 103)
	waitFor(t, "the fourth unconfigured client refused", func() bool {
		closed := err != nil || conn.Context().Err() != nil // after the handshake
		return closed && b.metrics.get(MetricHandshakeFails, FailConnsFull) == 1
	})
	waitGuardConns(t, b, 3, 3)

	a.Send(b.ID(), testFrame(1, 1, 16))
	waitFor(t, "the configured peer's frame", func() bool { return b.in.len() == 1 })
	waitGuardConns(t, b, 4, 3)

	_, err = dialFrom(t, "127.0.0.14", b, 104)
	var refused *quic.TransportError
	if !errors.As(err, &refused) || refused.ErrorCode != quic.ConnectionRefused {
		t.Fatalf("a connection beyond ConnsMax: %v, want CONNECTION_REFUSED", err)
	}
	// Counted per Initial packet refused: a ClientHello with a
	// post-quantum key share fills two.
	if got := b.metrics.get(MetricHandshakeFails, FailConnsFull); got < 2 {
		t.Fatalf("conns_full %v, want the refusal counted", got)
	}
	if got := b.metrics.get(MetricHandshakeFails, FailPerSource); got != 0 {
		t.Fatalf("per_source %v: no source reached its quota", got)
	}

	for _, conn := range open {
		_ = conn.CloseWithError(0, "done")
	}
	waitGuardConns(t, b, 1, 0)
	conn, err = dialFrom(t, "127.0.0.15", b, 105)
	if err != nil {
		t.Fatalf("after the others closed: %v", err)
	}
	waitGuardConns(t, b, 2, 1)
	_ = conn.CloseWithError(0, "done")
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	waitGuardConns(t, b, 0, 0)
}

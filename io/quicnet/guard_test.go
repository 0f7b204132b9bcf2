package quicnet

import (
	"context"
	"crypto/tls"
	"net"
	"testing"

	"github.com/quic-go/quic-go"
)

// TestRefusedPeersAreCounted: a client without a certificate and one
// offering another ALPN fail their handshake, each counted by reason.
func TestRefusedPeersAreCounted(t *testing.T) {
	b := startNode(t, 2, nil)
	var outcome dialOutcome
	noCert := clientTLS(tls.Certificate{}, b.ID(), &outcome)
	noCert.Certificates = nil
	if conn, err := rawDial(t, b, noCert); err == nil {
		<-conn.Context().Done()
	}
	waitFor(t, "no_cert counted", func() bool { return b.metrics.get(MetricHandshakeFails, FailNoCert) == 1 })
	wrongALPN := clientTLS(selfCert(t, 9), b.ID(), &outcome)
	wrongALPN.NextProtos = []string{"h3"}
	if conn, err := rawDial(t, b, wrongALPN); err == nil {
		<-conn.Context().Done()
		t.Fatal("a client offering h3 completed its handshake")
	}
	waitFor(t, "wrong_alpn counted", func() bool { return b.metrics.get(MetricHandshakeFails, FailWrongALPN) == 1 })
	if b.metrics.get(MetricConnections, "") != 0 {
		t.Fatal("the server adopted a refused client")
	}
}

func selfCert(t *testing.T, seed byte) tls.Certificate {
	t.Helper()
	key := testKey(seed)
	cert, err := selfSignedCert(key, testID(key))
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// TestSourceGuard drives the guard as quic-go does: per-source quota,
// Retry once half of it is used or too many handshakes are in flight,
// and release when a connection ends.
func TestSourceGuard(t *testing.T) {
	m := newRecorder()
	g := NewSourceGuard("peer", 4, m)
	a := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 1000}
	b := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 3), Port: 1000}
	var cancels []context.CancelFunc
	admit := func(addr net.Addr) error {
		ctx, cancel := context.WithCancel(context.Background())
		cancels = append(cancels, cancel)
		_, err := g.connContext(ctx, &quic.ClientInfo{RemoteAddr: addr})
		return err
	}
	for i := 0; i < 4; i++ {
		if want := i >= 2; g.verifySourceAddress(a) != want {
			t.Fatalf("connection %d from a: Retry %v, want %v", i, !want, want)
		}
		if err := admit(a); err != nil {
			t.Fatalf("connection %d from a refused: %v", i, err)
		}
	}
	if err := admit(a); err == nil || m.get(MetricHandshakeFails, FailPerSource) != 1 {
		t.Fatalf("fifth connection from a: %v, per_source %v", err, m.get(MetricHandshakeFails, FailPerSource))
	}
	if g.verifySourceAddress(b) {
		t.Fatal("b must not need a Retry for a's connections")
	}
	if err := admit(b); err != nil {
		t.Fatal(err)
	}
	cancels[0]()
	waitFor(t, "a's first connection released", func() bool { in, _ := g.Counts(); return in == 4 })
	if err := admit(a); err != nil {
		t.Fatalf("a after a release: %v", err)
	}
	for i := 0; len(cancels) < HandshakesUnvalidatedMax+2; i++ {
		if err := admit(&net.UDPAddr{IP: net.IPv4(127, 1, byte(i>>8), byte(i)), Port: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if !g.verifySourceAddress(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 9)}) {
		t.Fatalf("no Retry with %d handshakes in flight", HandshakesUnvalidatedMax)
	}
	for _, cancel := range cancels {
		cancel()
	}
	waitFor(t, "every connection released", func() bool { in, src := g.Counts(); return in == 0 && src == 0 })
}

// TestSourceGuardConnsMax: the total bound refuses a new attempt from any
// source once connsMax are held, after the per-source quota (a source at
// its quota still counts per_source), and every release gives room back.
func TestSourceGuardConnsMax(t *testing.T) {
	m := newRecorder()
	g := NewSourceGuard("peer", 2, m)
	g.SetConnsMax(3, 1)
	var cancels []context.CancelFunc
	admit := func(host byte) error {
		ctx, cancel := context.WithCancel(context.Background())
		cancels = append(cancels, cancel)
		_, err := g.connContext(ctx, &quic.ClientInfo{RemoteAddr: &net.UDPAddr{IP: net.IPv4(127, 0, 0, host), Port: 1}})
		return err
	}
	for _, host := range []byte{2, 2, 3} {
		if err := admit(host); err != nil {
			t.Fatalf("127.0.0.%d under the bounds: %v", host, err)
		}
	}
	if err := admit(2); err != errPerSource || m.get(MetricHandshakeFails, FailPerSource) != 1 {
		t.Fatalf("a third from 127.0.0.2: %v, want per_source", err)
	}
	for host := byte(4); host < 8; host++ {
		if err := admit(host); err != errConnsFull {
			t.Fatalf("127.0.0.%d beyond connsMax: %v, want conns_full", host, err)
		}
	}
	if got := m.get(MetricHandshakeFails, FailConnsFull); got != 4 {
		t.Fatalf("conns_full %v, want 4", got)
	}
	if m.get(MetricInboundConns, "peer") != 3 {
		t.Fatalf("gauge %v, want 3", m.get(MetricInboundConns, "peer"))
	}
	cancels[0]()
	waitFor(t, "one released", func() bool { n, _ := g.Conns(); return n == 2 })
	if err := admit(9); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	for _, cancel := range cancels {
		cancel()
	}
	waitFor(t, "every connection released", func() bool {
		n, _ := g.Conns()
		in, src := g.Counts()
		return n == 0 && in == 0 && src == 0 && m.get(MetricInboundConns, "peer") == 0
	})
}

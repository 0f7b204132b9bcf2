package quicnet

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"testing"

	"github.com/quic-go/quic-go"

	"github.com/ron-network/ron/core/env/envtest"
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

// TestHandshakeFailsCountedByEndpoint: every handshake failure the
// transport counts by reason is counted under its endpoint too ("peer"),
// whichever path counts it (the TLS callback for no_cert, the guard for
// wrong_alpn), and a guard counts under its own endpoint's name, never
// anything the remote sent.
func TestHandshakeFailsCountedByEndpoint(t *testing.T) {
	b := startNode(t, 2, nil)
	if got := b.metrics.get(MetricHandshakeFailsByEndpoint, EndpointPeer); got != 0 {
		t.Fatalf("endpoint peer %v before any failure, want 0", got)
	}
	var outcome dialOutcome
	noCert := clientTLS(tls.Certificate{}, b.ID(), &outcome)
	noCert.Certificates = nil
	if conn, err := rawDial(t, b, noCert); err == nil {
		<-conn.Context().Done()
	}
	wrongALPN := clientTLS(selfCert(t, 9), b.ID(), &outcome)
	wrongALPN.NextProtos = []string{"h3"}
	if conn, err := rawDial(t, b, wrongALPN); err == nil {
		<-conn.Context().Done()
		t.Fatal("a client offering h3 completed its handshake")
	}
	// The endpoint counter is polled too: another goroutine adds it and
	// the reason's, one after the other.
	waitFor(t, "both failures counted, under endpoint peer", func() bool {
		return b.metrics.get(MetricHandshakeFails, FailNoCert) == 1 && b.metrics.get(MetricHandshakeFails, FailWrongALPN) == 1 &&
			b.metrics.get(MetricHandshakeFailsByEndpoint, EndpointPeer) == b.metrics.sum(MetricHandshakeFails)
	})
	if got, want := b.metrics.get(MetricHandshakeFailsByEndpoint, EndpointPeer), b.metrics.sum(MetricHandshakeFails); got != want || got < 2 {
		t.Fatalf("transport_handshake_fail_endpoint_total{endpoint=peer} %v, want the sum over reasons %v (at least 2)", got, want)
	}
	if got := b.metrics.get(MetricHandshakeFailsByEndpoint, EndpointOAP); got != 0 {
		t.Fatalf("endpoint oap %v on the peer transport, want 0", got)
	}

	m := newRecorder()
	g := NewSourceGuard(EndpointOAP, 4, m)
	g.Fail(FailWrongALPN)
	if got := m.get(MetricHandshakeFailsByEndpoint, EndpointOAP); got != 1 {
		t.Fatalf("the oap guard's failure counted %v under endpoint oap, want 1", got)
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

// guardAttempt is one connection attempt handed to a guard as quic-go
// would: end cancels its context, as quic-go does when it closes.
type guardAttempt struct {
	gc  *guardConn
	end context.CancelFunc
}

// attempt runs g's ConnContext for an attempt from ip (verified: its
// address proved by a Retry token) and returns it, or the refusal.
func attempt(t *testing.T, g *SourceGuard, ip string, verified bool) (guardAttempt, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	addr := &net.UDPAddr{IP: net.ParseIP(ip), Port: 1}
	ctx, err := g.connContext(ctx, &quic.ClientInfo{RemoteAddr: addr, AddrVerified: verified})
	if err != nil {
		cancel()
		return guardAttempt{}, err
	}
	return guardAttempt{gc: ctx.Value(guardKey{}).(*guardConn), end: cancel}, nil
}

func mustAttempt(t *testing.T, g *SourceGuard, ip string, verified bool) guardAttempt {
	t.Helper()
	a, err := attempt(t, g, ip, verified)
	if err != nil {
		t.Fatalf("attempt from %s (verified %v) refused: %v", ip, verified, err)
	}
	return a
}

// waitConns polls until g holds conns connections, unreserved of them in
// the unreserved room.
func waitConns(t *testing.T, g *SourceGuard, conns, unreserved int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d connections, %d unreserved", conns, unreserved), func() bool {
		c, u := g.Conns()
		return c == conns && u == unreserved
	})
}

// TestSourceGuardConnsMax: attempts from sources no configured peer has
// share the unreserved room (connsMax-reserved), pending or admitted;
// beyond it a new one is refused before its handshake (handshakes_full),
// after the per-source quota (a source at its quota still counts
// per_source), and every release gives room back.
func TestSourceGuardConnsMax(t *testing.T) {
	m := newRecorder()
	g := NewSourceGuard("peer", 2, m)
	g.SetConnsMax(4, 1)
	var held []guardAttempt
	for _, ip := range []string{"127.0.0.2", "127.0.0.2", "127.0.0.3"} {
		held = append(held, mustAttempt(t, g, ip, false))
	}
	if _, err := attempt(t, g, "127.0.0.2", true); err != errPerSource || m.get(MetricHandshakeFails, FailPerSource) != 1 {
		t.Fatalf("a third from 127.0.0.2: %v, want per_source", err)
	}
	for host := 4; host < 8; host++ {
		ip := fmt.Sprintf("127.0.0.%d", host)
		if _, err := attempt(t, g, ip, true); err != errConnsFull {
			t.Fatalf("%s beyond the unreserved room: %v, want handshakes_full", ip, err)
		}
	}
	if got := m.get(MetricHandshakeFails, FailHandshakesFull); got != 4 {
		t.Fatalf("handshakes_full %v, want 4", got)
	}
	if got := m.get(MetricHandshakeFails, FailConnsFull); got != 0 {
		t.Fatalf("conns_full %v: no established connection was refused", got)
	}
	if m.get(MetricInboundConns, "peer") != 3 {
		t.Fatalf("gauge %v, want 3", m.get(MetricInboundConns, "peer"))
	}
	held[0].end()
	waitConns(t, g, 2, 2)
	held = append(held, mustAttempt(t, g, "127.0.0.9", false))
	for _, a := range held {
		a.end()
	}
	waitFor(t, "every connection released", func() bool {
		n, u := g.Conns()
		in, src := g.Counts()
		return n == 0 && u == 0 && in == 0 && src == 0 && m.get(MetricInboundConns, "peer") == 0
	})
}

// TestReserveCoversEntitledHandshakes: with the unreserved room full of
// pending attempts, an attempt from a configured peer's address still
// gets in, before any handshake, but only with its address proved by a
// Retry (so spoofing that address takes nothing), and only up to
// connsMax.
func TestReserveCoversEntitledHandshakes(t *testing.T) {
	m := newRecorder()
	g := NewSourceGuard("peer", 64, m)
	g.SetConnsMax(5, 2)
	g.SetEntitledSources([]netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")})
	member := &net.UDPAddr{IP: net.ParseIP("10.0.0.1"), Port: 1}
	if g.verifySourceAddress(member) {
		t.Fatal("a member asked for a Retry with the guard empty")
	}
	mustAttempt(t, g, "10.0.0.1", false) // below the unreserved mark: no proof needed, but unreserved room taken
	for _, ip := range []string{"192.0.2.1", "192.0.2.2"} {
		mustAttempt(t, g, ip, false)
	}
	waitConns(t, g, 3, 3)
	if _, err := attempt(t, g, "192.0.2.4", true); err != errConnsFull {
		t.Fatalf("a stranger beyond the unreserved room: %v, want handshakes_full", err)
	}
	if !g.verifySourceAddress(member) {
		t.Fatal("a member's attempt into the reserve without a Retry")
	}
	if _, err := attempt(t, g, "10.0.0.1", false); err != errConnsFull {
		t.Fatalf("an unproved member address into the reserve: %v, want handshakes_full", err)
	}
	mustAttempt(t, g, "::ffff:10.0.0.2", true) // IPv4-mapped: the same address as 10.0.0.2
	waitConns(t, g, 4, 3)
	mustAttempt(t, g, "10.0.0.1", true)
	if _, err := attempt(t, g, "10.0.0.2", true); err != errConnsFull {
		t.Fatalf("a member beyond connsMax: %v, want handshakes_full", err)
	}
	waitConns(t, g, 5, 3)
	if got := m.get(MetricHandshakeFails, FailHandshakesFull); got != 3 {
		t.Fatalf("handshakes_full %v, want 3", got)
	}
}

// TestSpoofedMemberTakesNoReserve: attempts from a member's address that
// did not prove it (spoofed, for all the guard knows) count in the
// unreserved room even below its mark, so once strangers fill that room
// the reserve is still whole for the member's proved attempt.
func TestSpoofedMemberTakesNoReserve(t *testing.T) {
	m := newRecorder()
	g := NewSourceGuard("peer", 64, m)
	g.SetConnsMax(8, 2)
	g.SetEntitledSources([]netip.Addr{netip.MustParseAddr("10.0.0.1")})
	for range 2 {
		mustAttempt(t, g, "10.0.0.1", false) // spoofed: below the mark, no Retry asked
	}
	strangers := 0
	for i := range 6 {
		if _, err := attempt(t, g, fmt.Sprintf("192.0.2.%d", i+1), true); err == nil {
			strangers++
		}
	}
	if strangers != 4 {
		t.Fatalf("%d strangers admitted, want 4 (the unreserved room less the 2 spoofed attempts)", strangers)
	}
	waitConns(t, g, 6, 6)
	if !g.verifySourceAddress(&net.UDPAddr{IP: net.ParseIP("10.0.0.1"), Port: 1}) {
		t.Fatal("a member's attempt with the unreserved room full gets no Retry")
	}
	for range 2 {
		mustAttempt(t, g, "10.0.0.1", true) // the genuine member, after a Retry
	}
	waitConns(t, g, 8, 6)
}

// TestAdmit: the decision after the handshake, once the NodeID is known.
func TestAdmit(t *testing.T) {
	m := newRecorder()
	g := NewSourceGuard("peer", 64, m)
	g.SetConnsMax(4, 2)
	g.SetEntitledSources([]netip.Addr{netip.MustParseAddr("10.0.0.1")})
	stranger := mustAttempt(t, g, "192.0.2.1", false)
	natMember := mustAttempt(t, g, "192.0.2.2", false) // a member from an address not in its entry
	waitConns(t, g, 2, 2)

	// A stranger keeps the room its attempt took; admitting it again
	// counts nothing twice.
	for range 2 {
		if !g.admit(stranger.gc, false) {
			t.Fatal("a stranger holding unreserved room refused")
		}
	}
	waitConns(t, g, 2, 2)
	// A configured peer leaves the unreserved room, once.
	for range 2 {
		if !g.admit(natMember.gc, true) {
			t.Fatal("a configured peer refused")
		}
	}
	waitConns(t, g, 2, 1)

	// An attempt from a member's address that turns out to be another
	// node needs unreserved room after its handshake.
	impostor := mustAttempt(t, g, "10.0.0.1", true)
	if !g.admit(impostor.gc, false) {
		t.Fatal("an unconfigured node refused with unreserved room free")
	}
	g.admit(impostor.gc, false)
	waitConns(t, g, 3, 2)
	impostor2 := mustAttempt(t, g, "10.0.0.1", true)
	if g.admit(impostor2.gc, false) {
		t.Fatal("an unconfigured node admitted into the reserved room")
	}
	if got := m.get(MetricHandshakeFails, FailConnsFull); got != 1 {
		t.Fatalf("conns_full %v, want 1", got)
	}
	impostor2.end()
	waitConns(t, g, 3, 2)

	// The ending releases the unreserved room; a connection that ended
	// is not admitted, entitled or not, and changes no count.
	impostor.end()
	waitConns(t, g, 2, 1)
	if g.admit(impostor.gc, false) || g.admit(impostor.gc, true) {
		t.Fatal("a connection admitted after it ended")
	}
	waitConns(t, g, 2, 1)
	stranger.end()
	natMember.end()
	waitConns(t, g, 0, 0)
	if got := m.get(MetricHandshakeFails, FailConnsFull); got != 1 {
		t.Fatalf("conns_full %v, want still 1", got)
	}
}

// TestSourceKey: IPv6 sources share a quota per /64, IPv4 ones and
// IPv6 ones translated from IPv4 (NAT64/SIIT, Teredo) are
// counted per address.
func TestSourceKey(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"192.0.2.1", "192.0.2.1"},
		{"192.0.2.2", "192.0.2.2"},
		{"2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::"},
		{"2001:db8:1:2::1", "2001:db8:1:2::"},
		{"2001:db8:1:3::1", "2001:db8:1:3::"},
		{"fe80::1%eth0", "fe80::"},
		{"::1", "::"},
		// IPv4 clients behind NAT64/SIIT or Teredo: per address.
		{"64:ff9b::c000:201", "64:ff9b::c000:201"},
		{"64:ff9b:1:2::c000:201", "64:ff9b:1:2::c000:201"},
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:0:4136:e378:8000:63bf:3fff:fdd2"},
		{"2001:db8::1", "2001:db8::"}, // 2001:db8::/32 is not Teredo's 2001::/32
		{"64:ff9b:2::1", "64:ff9b:2::"},
	} {
		if got := sourceKey(netip.MustParseAddr(c.in)); got != netip.MustParseAddr(c.want) {
			t.Errorf("sourceKey(%s) = %s, want %s", c.in, got, c.want)
		}
	}
	m := newRecorder()
	g := NewSourceGuard("peer", 2, m)
	mustAttempt(t, g, "2001:db8:1:2::1", false)
	mustAttempt(t, g, "2001:db8:1:2::2", false)
	if _, err := attempt(t, g, "2001:db8:1:2::3", false); err != errPerSource {
		t.Fatalf("a third address of one /64: %v, want per_source", err)
	}
	mustAttempt(t, g, "2001:db8:1:3::1", false)
	mustAttempt(t, g, "::ffff:127.0.0.3", false) // IPv4-mapped: per address
	// NAT64'd IPv4 clients of one /64 do not share a quota.
	for i := range 3 {
		mustAttempt(t, g, fmt.Sprintf("64:ff9b::c000:20%d", i), false)
	}
	if _, src := g.Counts(); src != 6 {
		t.Fatalf("%d sources tracked, want 6", src)
	}
}

// TestBrokenCountsAreNotFatal: releasing a connection the guard never
// counted (a bookkeeping bug) is logged, counted and repaired, not a
// panic on quic-go's goroutine.
func TestBrokenCountsAreNotFatal(t *testing.T) {
	m := newRecorder()
	g := NewSourceGuard("peer", 4, m)
	g.SetLogger(slog.New(slog.DiscardHandler))
	m.mu.Lock()
	_, exported := m.values[envtest.Key(MetricGuardErrors, "peer")]
	m.mu.Unlock()
	if !exported {
		t.Fatalf("%s not exported at 0 before any error", MetricGuardErrors)
	}
	g.end(&guardConn{source: netip.MustParseAddr("192.0.2.1"), unreserved: true})
	if got := m.get(MetricGuardErrors, "peer"); got != 1 {
		t.Fatalf("%s %v, want 1", MetricGuardErrors, got)
	}
	if n, u := g.Conns(); n != 0 || u != 0 {
		t.Fatalf("counts %d, %d after the repair, want 0, 0", n, u)
	}
	a := mustAttempt(t, g, "192.0.2.1", false)
	waitConns(t, g, 1, 1)
	a.end()
	waitConns(t, g, 0, 0)
	if in, src := g.Counts(); in != 0 || src != 0 {
		t.Fatalf("in flight %d, sources %d, want 0, 0", in, src)
	}
	if got := m.get(MetricGuardErrors, "peer"); got != 1 {
		t.Fatalf("%s %v, want still 1", MetricGuardErrors, got)
	}
}

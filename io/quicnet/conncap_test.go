package quicnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

// tapConn is a client's UDP socket that counts the Initial packets it
// sends (and those sent before the first Retry it received) and, when
// deaf, drops everything it receives, so its handshakes never complete:
// the server holds each as pending until its handshake timeout. It hides
// *net.UDPConn's other methods, so quic-go uses ReadFrom and WriteTo.
type tapConn struct {
	net.PacketConn
	deaf     bool
	initials atomic.Int64
	preRetry atomic.Int64 // initials when the first Retry arrived; -1 before
}

// Long header packet types (RFC 9000 17.2: the form bit, the fixed bit,
// two type bits; header protection leaves them clear).
const (
	longTypeMask = 0xf0
	longInitial  = 0xc0
	longRetry    = 0xf0
)

func (c *tapConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if len(p) > 0 && p[0]&longTypeMask == longInitial {
		c.initials.Add(1)
	}
	return c.PacketConn.WriteTo(p, addr)
}

func (c *tapConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err == nil && n > 0 && p[0]&longTypeMask == longRetry {
			c.preRetry.CompareAndSwap(-1, c.initials.Load())
		}
		if err != nil || !c.deaf {
			return n, addr, err
		}
	}
}

// initialsAfterRetry is how many Initial packets went out since the first
// Retry (all of them without one): those the server did not answer with
// a stateless Retry, so its ConnContext saw each.
func (c *tapConn) initialsAfterRetry() int64 {
	if pre := c.preRetry.Load(); pre >= 0 {
		return c.initials.Load() - pre
	}
	return c.initials.Load()
}

// clientFrom is a QUIC client transport on its own UDP socket on source
// (a loopback address such as 127.0.0.7), closed when the test ends. The
// test is skipped where such addresses cannot be bound (only Linux routes
// all of 127.0.0.0/8 to lo).
func clientFrom(t *testing.T, source string, deaf bool) (*quic.Transport, *tapConn) {
	t.Helper()
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(source)})
	if err != nil {
		t.Skipf("bind %s: %v", source, err)
	}
	tap := &tapConn{PacketConn: udp, deaf: deaf}
	tap.preRetry.Store(-1)
	tr := &quic.Transport{Conn: tap}
	t.Cleanup(func() { _ = tr.Close(); _ = tap.Close() })
	return tr, tap
}

// dialTap opens a connection to n from source as an unconfigured node with
// the key of seed, and returns the socket's tap too.
func dialTap(t *testing.T, source string, n *tnode, seed byte) (*quic.Conn, *tapConn, error) {
	t.Helper()
	tr, tap := clientFrom(t, source, false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var outcome dialOutcome
	conf := clientTLS(selfCert(t, seed), n.ID(), &outcome)
	conn, err := tr.Dial(ctx, n.Addr().(*net.UDPAddr), conf, &quic.Config{KeepAlivePeriod: time.Second})
	return conn, tap, err
}

func dialFrom(t *testing.T, source string, n *tnode, seed byte) (*quic.Conn, error) {
	t.Helper()
	conn, _, err := dialTap(t, source, n, seed)
	return conn, err
}

// dialDeaf starts a handshake with n from source that never completes
// (the client hears nothing) and ends it when the test ends.
func dialDeaf(t *testing.T, source string, n *tnode, seed byte) {
	t.Helper()
	tr, _ := clientFrom(t, source, true)
	ctx, cancel := context.WithCancel(context.Background())
	var outcome dialOutcome
	conf := clientTLS(selfCert(t, seed), n.ID(), &outcome)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = tr.Dial(ctx, n.Addr().(*net.UDPAddr), conf, &quic.Config{HandshakeIdleTimeout: time.Minute})
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// refusedBeforeHandshake checks that err is quic-go's CONNECTION_REFUSED
// and that the server counted reason once per Initial packet the client
// sent after any Retry (from before, the count when the client started):
// a ClientHello with a post-quantum key share takes two.
func refusedBeforeHandshake(t *testing.T, n *tnode, what string, err error, tap *tapConn, reason string, before float64) {
	t.Helper()
	var refused *quic.TransportError
	if !errors.As(err, &refused) || refused.ErrorCode != quic.ConnectionRefused {
		t.Fatalf("%s: %v, want CONNECTION_REFUSED", what, err)
	}
	sent := float64(tap.initialsAfterRetry())
	if sent < 1 {
		t.Fatalf("%s: the tap saw no Initial packet", what)
	}
	waitFor(t, fmt.Sprintf("%s: %s counted once per Initial packet (%v)", what, reason, sent), func() bool {
		return n.metrics.get(MetricHandshakeFails, reason)-before == sent
	})
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
// connect and fill the unreserved room; a fourth is refused before its
// handshake (handshakes_full, CONNECTION_REFUSED); an unconfigured node
// dialing from a configured peer's address gets through the handshake
// (on the reserve, after a Retry) but is refused once its NodeID shows
// (conns_full, once); the configured peer gets in; beyond ConnsMax every
// new attempt is refused before its handshake. Closed connections give
// their room back.
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

	_, tap, err := dialTap(t, "127.0.0.13", b, 103)
	refusedBeforeHandshake(t, b, "a fourth unconfigured client", err, tap, FailHandshakesFull, 0)
	waitGuardConns(t, b, 3, 3)

	aHost := a.Addr().(*net.UDPAddr).IP.String()
	conn, err := dialFrom(t, aHost, b, 106)
	waitFor(t, "an unconfigured client on a configured peer's address refused after its handshake", func() bool {
		closed := err != nil || conn.Context().Err() != nil
		return closed && b.metrics.get(MetricHandshakeFails, FailConnsFull) == 1
	})
	waitGuardConns(t, b, 3, 3)

	a.Send(b.ID(), testFrame(1, 1, 16))
	waitFor(t, "the configured peer's frame", func() bool { return b.in.len() == 1 })
	waitGuardConns(t, b, 4, 3)

	for i, source := range []string{"127.0.0.14", aHost} {
		before := b.metrics.get(MetricHandshakeFails, FailHandshakesFull)
		_, tap, err := dialTap(t, source, b, byte(104+i))
		refusedBeforeHandshake(t, b, "a connection from "+source+" beyond ConnsMax", err, tap, FailHandshakesFull, before)
	}
	if got := b.metrics.get(MetricHandshakeFails, FailConnsFull); got != 1 {
		t.Fatalf("conns_full %v, want 1: refusals before the handshake are handshakes_full", got)
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

// TestReserveOutlastsPendingHandshakes: handshakes that never complete,
// from four sources, cannot lock a configured peer out. Only three of
// them are held (the unreserved room of ConnsMax 4); the fourth is refused
// before its handshake, and the configured peer, dialing from the address
// it was added with, takes the reserved room after a Retry. Before, the
// four pending handshakes held all of ConnsMax for twice the handshake
// timeout (here two minutes), and the peer's dials were refused.
func TestReserveOutlastsPendingHandshakes(t *testing.T) {
	b := startNode(t, 2, func(c *Config) { c.ConnsMax = 4; c.HandshakeTimeout = time.Minute })
	a := startNode(t, 1, nil)
	b.AddPeer(a.ID(), a.Addr().String())
	a.AddPeer(b.ID(), b.Addr().String())
	for i := range 4 {
		dialDeaf(t, fmt.Sprintf("127.0.0.%d", 20+i), b, byte(110+i))
	}
	waitFor(t, "the four deaf attempts held or refused", func() bool {
		in, _ := b.guard.Counts()
		return in == 4 || in == 3 && b.metrics.get(MetricHandshakeFails, FailHandshakesFull) >= 1
	})
	a.Send(b.ID(), testFrame(1, 1, 16))
	waitFor(t, "the configured peer's frame", func() bool { return b.in.len() == 1 })
	waitGuardConns(t, b, 4, 3)
	if in, _ := b.guard.Counts(); in != 3 {
		t.Fatalf("%d handshakes pending, want the three deaf ones", in)
	}
	if got := b.metrics.get(MetricHandshakeFails, FailConnsFull); got != 0 {
		t.Fatalf("conns_full %v: no established connection was refused", got)
	}
}

// entitledSource reports whether n's guard entitles src to the reserve.
func entitledSource(n *tnode, src string) bool {
	n.guard.mu.Lock()
	defer n.guard.mu.Unlock()
	return n.guard.entitled[netip.MustParseAddr(src)]
}

// TestMemberSeenAtUnlistedAddressIsEntitled: a configured peer whose
// AddPeer address is not where it dials from (NAT, a recreated container)
// gets no reserve for its first handshake, but once its connection shows
// its NodeID the address it came from is entitled: its next attempt, with
// the unreserved room full, takes the reserve after a Retry.
func TestMemberSeenAtUnlistedAddressIsEntitled(t *testing.T) {
	b := startNode(t, 2, func(c *Config) { c.ConnsMax = 8 }) // 2 reserved
	a := startNode(t, 1, nil)
	b.AddPeer(a.ID(), "127.0.0.99:1") // not where a dials from
	a.AddPeer(b.ID(), b.Addr().String())
	aHost := a.Addr().(*net.UDPAddr).IP.String()
	if entitledSource(b, aHost) {
		t.Fatalf("%s entitled before a connected from it", aHost)
	}
	a.Send(b.ID(), testFrame(1, 1, 16))
	waitFor(t, "the configured peer's frame", func() bool { return b.in.len() == 1 })
	waitGuardConns(t, b, 1, 0)
	waitFor(t, "a's address entitled", func() bool { return entitledSource(b, aHost) })
	for i := range 6 {
		mustAttempt(t, b.guard, fmt.Sprintf("192.0.2.%d", i+1), true)
	}
	waitGuardConns(t, b, 7, 6)
	mustAttempt(t, b.guard, aHost, true) // a's next handshake, after a Retry
	waitGuardConns(t, b, 8, 6)
}

// TestSawPeerAtKeepsTheLastAddresses: a configured peer is entitled from
// the last seenSourcesMax addresses it was seen at, besides its own; an
// unconfigured one from none.
func TestSawPeerAtKeepsTheLastAddresses(t *testing.T) {
	b := startNode(t, 2, nil)
	member, stranger := testID(testKey(1)), testID(testKey(3))
	b.AddPeer(member, "127.0.0.99:1")
	for i := range seenSourcesMax + 2 {
		b.sawPeerAt(member, netip.MustParseAddr(fmt.Sprintf("192.0.2.%d", i+1)))
	}
	b.sawPeerAt(member, netip.MustParseAddr("192.0.2.3")) // seen again: the latest, not a duplicate
	b.sawPeerAt(stranger, netip.MustParseAddr("198.51.100.1"))
	for src, want := range map[string]bool{
		"127.0.0.99": true, "192.0.2.1": false, "192.0.2.2": false,
		"192.0.2.3": true, "192.0.2.4": true, "192.0.2.5": true, "192.0.2.6": true,
		"198.51.100.1": false,
	} {
		if got := entitledSource(b, src); got != want {
			t.Errorf("%s entitled %v, want %v", src, got, want)
		}
	}
}

// TestAddPeerDoesNotWaitOnDNS: AddPeer returns while the look-up of its
// host name is still blocked (rond adds every peer before it serves
// HTTP), the addresses are entitled once the look-up answers, and Close
// ends with a look-up still pending (its context is Close's).
func TestAddPeerDoesNotWaitOnDNS(t *testing.T) {
	b := startNode(t, 2, nil)
	started := make(chan string, 2)
	release := make(chan struct{})
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) }) // before b closes
	b.lookup = func(ctx context.Context, network, host string) ([]netip.Addr, error) {
		started <- host
		if host == "never.invalid" {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		<-release // deaf to its deadline: blocked until the test says
		return []netip.Addr{netip.MustParseAddr("10.9.9.9")}, nil
	}
	added := make(chan struct{})
	go func() {
		b.AddPeer(testID(testKey(1)), "member.invalid:4000")
		b.AddPeer(testID(testKey(3)), "never.invalid:4000")
		close(added)
	}()
	select {
	case <-added:
	case <-time.After(10 * time.Second):
		t.Fatal("AddPeer blocked on a look-up")
	}
	for range 2 {
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatal("the look-ups never started")
		}
	}
	if entitledSource(b, "10.9.9.9") {
		t.Fatal("entitled before the look-up answered")
	}
	releaseOnce.Do(func() { close(release) })
	waitFor(t, "the looked-up address entitled", func() bool { return entitledSource(b, "10.9.9.9") })
	if err := b.Close(); err != nil { // cancels the blocked look-up of never.invalid
		t.Fatal(err)
	}
}

// TestDialedMemberIsEntitled: a configured peer whose name's look-up
// failed (say its container was not up yet) is entitled from the address
// our successful dial to it reached.
func TestDialedMemberIsEntitled(t *testing.T) {
	a := startNode(t, 1, nil)
	b := startNode(t, 2, nil)
	b.lookup = func(context.Context, string, string) ([]netip.Addr, error) {
		return nil, errors.New("no such host (fake)")
	}
	_, port, err := net.SplitHostPort(a.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if ips, err := net.LookupIP("localhost"); err != nil || !slices.ContainsFunc(ips, func(ip net.IP) bool { return ip.Equal(net.IPv4(127, 0, 0, 1)) }) {
		t.Skipf("localhost does not resolve to 127.0.0.1: %v %v", ips, err)
	}
	b.AddPeer(a.ID(), net.JoinHostPort("localhost", port))
	b.Send(a.ID(), testFrame(2, 1, 16))
	waitFor(t, "b's frame at a", func() bool { return a.in.len() == 1 })
	waitFor(t, "a's address entitled at b", func() bool { return entitledSource(b, "127.0.0.1") })
}

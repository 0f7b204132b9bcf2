package quicnet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"

	"github.com/quic-go/quic-go"

	"github.com/ron-network/ron/core/env"
)

// Per-source limits of a QUIC endpoint (see SourceGuard).
const (
	// ConnsPerSourceDefault bounds the live connections (handshaking or
	// established) from one source address.
	ConnsPerSourceDefault = 64
	// HandshakesUnvalidatedMax: while this many handshakes are in flight,
	// every new connection attempt must first prove its source address
	// with a Retry round trip (RFC 9000 8.1.2), so spoofed Initial packets
	// create no connection state.
	HandshakesUnvalidatedMax = 32
	// sourcesMax bounds the per-source table; a new source beyond it is
	// refused (a table this full means many thousands of connections).
	sourcesMax = 1 << 16
)

// Reasons of transport_handshake_fail_total{reason} for connections an
// endpoint refuses before or right after its handshake.
const (
	FailPerSource = "per_source" // ConnsPerSource connections from that address are open
	FailConnsFull = "conns_full" // the endpoint's connection cap is reached
	FailNoCert    = "no_cert"    // a peer presented no client certificate
	FailWrongALPN = "wrong_alpn" // the client does not offer the endpoint's ALPN
)

// MetricInboundConns is the gauge of the connections an endpoint's guard
// holds, handshakes included, by endpoint: what SetConnsMax bounds, and
// back to 0 once every connection closed.
const MetricInboundConns = "transport_inbound_connections"

var _ = env.Declare(env.MetricDef{Name: MetricInboundConns, Kind: env.Gauge, Label: "endpoint",
	Help: "Inbound QUIC connections, handshakes included, by endpoint."})

// MetricHandshakesInFlight is the gauge of connection attempts in
// handshake, by endpoint ("peer" for the transport, "oap" for the client
// endpoint): bounded by HandshakesUnvalidatedMax plus the attempts that
// proved their address.
const MetricHandshakesInFlight = "transport_handshakes_in_flight"

var _ = env.Declare(env.MetricDef{Name: MetricHandshakesInFlight, Kind: env.Gauge, Label: "endpoint",
	Help: "QUIC connection attempts in handshake, by endpoint."})

// errPerSource and errConnsFull refuse a connection attempt in
// ConnContext.
var (
	errPerSource = errors.New("quicnet: too many connections from this source")
	errConnsFull = errors.New("quicnet: too many connections")
)

// SourceGuard bounds what connection attempts from one address can hold
// on a QUIC endpoint, and turns on source-address validation when many
// handshakes are in flight. Install it with Install before Listen; call
// Accepted for every connection the listener returns. It is safe for
// concurrent use.
//
// The per-source count trusts an address only once it is validated: an
// attempt from a source already holding half its quota must prove its
// address with a Retry first, so a spoofer can fill at most half of a
// victim's quota, and only for a handshake timeout.
//
// With SetConnsMax it also bounds the endpoint's connections in total
// (see "Hostile sources" in the package doc for the reserved room).
//
// Invariants (under mu): conns is the sum of perSource and at most
// connsMax (when set); unreserved <= conns.
type SourceGuard struct {
	perSourceMax int
	connsMax     int // 0: no total bound
	reservedMax  int // of connsMax, the room only Admit(conn, true) may take
	metrics      env.Metrics
	endpoint     string // the label of MetricHandshakesInFlight and MetricInboundConns

	mu         sync.Mutex
	perSource  map[netip.Addr]int
	inflight   int // handshakes not yet accepted nor failed
	conns      int // connections handshaking or open: MetricInboundConns
	unreserved int // admitted connections not entitled to the reserved room
}

// NewSourceGuard returns a guard of endpoint allowing perSourceMax
// connections per address (0: ConnsPerSourceDefault) that counts refusals
// in metrics.
func NewSourceGuard(endpoint string, perSourceMax int, metrics env.Metrics) *SourceGuard {
	if perSourceMax <= 0 {
		perSourceMax = ConnsPerSourceDefault
	}
	if metrics == nil {
		metrics = discardMetrics{}
	}
	metrics.Set(MetricHandshakesInFlight, endpoint, 0)
	metrics.Set(MetricInboundConns, endpoint, 0)
	return &SourceGuard{endpoint: endpoint, perSourceMax: perSourceMax, metrics: metrics, perSource: map[netip.Addr]int{}}
}

// SetConnsMax bounds the endpoint's connections, handshakes included, to
// connsMax: an attempt beyond it is refused in ConnContext, before quic-go
// allocates anything for it (reason conns_full). reserved of them are kept
// for connections Admit is told are entitled to them; call it before
// Install.
func (g *SourceGuard) SetConnsMax(connsMax, reserved int) {
	if connsMax < 0 || reserved < 0 || reserved >= max(connsMax, 1) {
		panic(fmt.Sprintf("quicnet: SetConnsMax(%d, %d): want 0 <= reserved < connsMax", connsMax, reserved))
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.connsMax, g.reservedMax = connsMax, reserved
}

// guardKey marks a connection's context with its guard state.
type guardKey struct{}

// guardConn is one connection's place in the guard.
type guardConn struct {
	source     netip.Addr
	mu         sync.Mutex
	accepted   bool
	ended      bool
	unreserved bool // counted in SourceGuard.unreserved
}

// Install sets tr's VerifySourceAddress and ConnContext, and a tracer
// that counts the datagrams tr drops (MetricDatagrams).
func (g *SourceGuard) Install(tr *quic.Transport) {
	tr.VerifySourceAddress = g.verifySourceAddress
	tr.ConnContext = g.connContext
	tr.Tracer = dropRecorder{g.metrics}
}

// Fail counts one refused connection under reason.
func (g *SourceGuard) Fail(reason string) { g.metrics.Add(MetricHandshakeFails, reason, 1) }

func sourceOf(addr net.Addr) netip.Addr {
	if ua, ok := addr.(*net.UDPAddr); ok {
		if ap := ua.AddrPort(); ap.IsValid() {
			return ap.Addr().Unmap()
		}
	}
	return netip.Addr{}
}

// verifySourceAddress asks for a Retry while handshakes pile up or the
// source holds half its quota.
func (g *SourceGuard) verifySourceAddress(addr net.Addr) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inflight >= HandshakesUnvalidatedMax || 2*g.perSource[sourceOf(addr)] >= g.perSourceMax
}

// connContext admits a connection attempt or refuses it (quic-go then
// answers CONNECTION_REFUSED and keeps no state).
func (g *SourceGuard) connContext(ctx context.Context, info *quic.ClientInfo) (context.Context, error) {
	src := sourceOf(info.RemoteAddr)
	g.mu.Lock()
	n, known := g.perSource[src]
	if n >= g.perSourceMax || !known && len(g.perSource) >= sourcesMax {
		g.mu.Unlock()
		g.Fail(FailPerSource)
		return ctx, errPerSource
	}
	if g.connsMax > 0 && g.conns >= g.connsMax {
		g.mu.Unlock()
		g.Fail(FailConnsFull)
		return ctx, errConnsFull
	}
	g.perSource[src] = n + 1
	g.inflight++
	g.conns++
	g.metrics.Set(MetricHandshakesInFlight, g.endpoint, float64(g.inflight))
	g.metrics.Set(MetricInboundConns, g.endpoint, float64(g.conns))
	g.mu.Unlock()
	gc := &guardConn{source: src}
	context.AfterFunc(ctx, func() { g.end(gc) })
	return context.WithValue(ctx, guardKey{}, gc), nil
}

// Accepted marks conn's handshake done: it no longer counts in flight.
// A caller may call it only once it has decided on conn (the transport,
// after adopt), so that none in flight means none left to decide.
func (g *SourceGuard) Accepted(conn *quic.Conn) {
	gc, ok := conn.Context().Value(guardKey{}).(*guardConn)
	if !ok {
		return
	}
	gc.mu.Lock()
	defer gc.mu.Unlock()
	if gc.accepted || gc.ended {
		return
	}
	gc.accepted = true
	g.mu.Lock()
	g.inflight--
	g.metrics.Set(MetricHandshakesInFlight, g.endpoint, float64(g.inflight))
	g.mu.Unlock()
}

// Admit decides on an established connection once its peer is known:
// one entitled to the reserved room (entitled) is always admitted; any
// other only while fewer than connsMax minus the reserved room of those
// are open. A refusal counts conns_full; the caller closes conn. Without
// SetConnsMax it admits everything.
func (g *SourceGuard) Admit(conn *quic.Conn, entitled bool) bool {
	gc, ok := conn.Context().Value(guardKey{}).(*guardConn)
	if !ok || entitled {
		return true
	}
	gc.mu.Lock()
	defer gc.mu.Unlock()
	if gc.ended || gc.unreserved {
		return !gc.ended
	}
	g.mu.Lock()
	full := g.connsMax > 0 && g.unreserved >= g.connsMax-g.reservedMax
	if !full {
		g.unreserved++
		gc.unreserved = true
	}
	g.mu.Unlock()
	if full {
		g.Fail(FailConnsFull)
	}
	return !full
}

// end releases a connection when it closes (or its handshake fails).
func (g *SourceGuard) end(gc *guardConn) {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	if gc.ended {
		return
	}
	gc.ended = true
	g.mu.Lock()
	defer g.mu.Unlock()
	if !gc.accepted {
		g.inflight--
		g.metrics.Set(MetricHandshakesInFlight, g.endpoint, float64(g.inflight))
	}
	if gc.unreserved {
		g.unreserved--
	}
	g.conns--
	g.metrics.Set(MetricInboundConns, g.endpoint, float64(g.conns))
	if g.perSource[gc.source]--; g.perSource[gc.source] <= 0 {
		delete(g.perSource, gc.source)
	}
	if g.conns < 0 || g.unreserved < 0 || g.unreserved > g.conns {
		panic(fmt.Sprintf("quicnet: guard holds %d connections, %d unreserved", g.conns, g.unreserved))
	}
}

// Counts reports the connections in handshake and the sources tracked
// (for tests).
func (g *SourceGuard) Counts() (inflight, sources int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inflight, len(g.perSource)
}

// Conns reports the connections held, handshakes included, and those
// admitted outside the reserved room (for tests).
func (g *SourceGuard) Conns() (conns, unreserved int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.conns, g.unreserved
}

// CountWrongALPN sets conf's GetConfigForClient to count a client that
// does not offer conf's protocol; the handshake then fails as before
// (no_application_protocol).
func CountWrongALPN(conf *tls.Config, fail func(reason string)) {
	protos := slices.Clone(conf.NextProtos)
	conf.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		for _, p := range hello.SupportedProtos {
			if slices.Contains(protos, p) {
				return nil, nil
			}
		}
		fail(FailWrongALPN)
		return nil, nil
	}
}

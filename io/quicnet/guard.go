package quicnet

import (
	"context"
	"crypto/tls"
	"errors"
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

// MetricHandshakesInFlight is the gauge of connection attempts in
// handshake, by endpoint ("peer" for the transport, "oap" for the client
// endpoint): bounded by HandshakesUnvalidatedMax plus the attempts that
// proved their address.
const MetricHandshakesInFlight = "transport_handshakes_in_flight"

var _ = env.Declare(env.MetricDef{Name: MetricHandshakesInFlight, Kind: env.Gauge, Label: "endpoint",
	Help: "QUIC connection attempts in handshake, by endpoint."})

// errPerSource refuses a connection attempt in ConnContext.
var errPerSource = errors.New("quicnet: too many connections from this source")

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
type SourceGuard struct {
	perSourceMax int
	metrics      env.Metrics
	endpoint     string // the label of MetricHandshakesInFlight

	mu        sync.Mutex
	perSource map[netip.Addr]int
	inflight  int // handshakes not yet accepted nor failed
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
	return &SourceGuard{endpoint: endpoint, perSourceMax: perSourceMax, metrics: metrics, perSource: map[netip.Addr]int{}}
}

// guardKey marks a connection's context with its guard state.
type guardKey struct{}

// guardConn is one connection's place in the guard.
type guardConn struct {
	source   netip.Addr
	mu       sync.Mutex
	accepted bool
	ended    bool
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
	g.perSource[src] = n + 1
	g.inflight++
	g.metrics.Set(MetricHandshakesInFlight, g.endpoint, float64(g.inflight))
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
	if g.perSource[gc.source]--; g.perSource[gc.source] <= 0 {
		delete(g.perSource, gc.source)
	}
}

// Counts reports the connections in handshake and the sources tracked
// (for tests).
func (g *SourceGuard) Counts() (inflight, sources int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inflight, len(g.perSource)
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

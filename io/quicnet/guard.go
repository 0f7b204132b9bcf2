package quicnet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
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
	// established) from one source (see sourceKey).
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
// endpoint refuses before or right after its handshake. A refusal before
// the handshake (per_source, handshakes_full) is counted once per Initial
// packet refused: quic-go keeps no state for a refused attempt, so each
// packet of its ClientHello (two with a post-quantum key share) and each
// retransmission is refused and counted again. The others count once per
// connection.
const (
	FailPerSource      = "per_source"      // ConnsPerSource connections from that source are open (per Initial packet)
	FailHandshakesFull = "handshakes_full" // no room for another attempt under SetConnsMax (per Initial packet)
	FailConnsFull      = "conns_full"      // an established connection beyond the cap (per connection)
	FailNoCert         = "no_cert"         // a peer presented no client certificate
	FailWrongALPN      = "wrong_alpn"      // the client does not offer the endpoint's ALPN
)

// MetricInboundConns is the gauge of the connections an endpoint's guard
// holds, handshakes included, by endpoint: what SetConnsMax bounds, and
// back to 0 once every connection closed.
const MetricInboundConns = "transport_inbound_connections"

var _ = env.Declare(env.MetricDef{Name: MetricInboundConns, Kind: env.Gauge, Label: "endpoint",
	Help: "Inbound QUIC connections, handshakes included, by endpoint."})

// MetricGuardErrors counts broken bookkeeping invariants found when a
// connection is released, by endpoint: a bug, logged and repaired rather
// than fatal, since the release runs on a goroutine of quic-go's context
// machinery where a panic would take the whole node down.
const MetricGuardErrors = "transport_guard_errors_total"

var _ = env.Declare(env.MetricDef{Name: MetricGuardErrors, Kind: env.Counter, Label: "endpoint",
	Help: "Broken connection-guard invariants found (a bug; repaired and logged), by endpoint."})

// MetricHandshakesInFlight is the gauge of connection attempts in
// handshake, by endpoint ("peer" for the transport, "oap" for the client
// endpoint): bounded by HandshakesUnvalidatedMax plus the attempts that
// proved their address.
const MetricHandshakesInFlight = "transport_handshakes_in_flight"

var _ = env.Declare(env.MetricDef{Name: MetricHandshakesInFlight, Kind: env.Gauge, Label: "endpoint",
	Help: "QUIC connection attempts in handshake, by endpoint."})

// MetricHandshakeFailsByEndpoint counts the same failures as
// transport_handshake_fail_total{reason}, by the endpoint that counted
// them: EndpointPeer (this transport, inbound and outbound) or
// EndpointOAP (io/oapgate's client endpoint). The label is the code's own
// name for the listener, never anything a remote chose, so it has two
// values. env metrics carry one label, and the design fixes {reason} on
// transport_handshake_fail_total, so the endpoint is a sibling counter
// rather than a second label. It covers the failures counted in io/ (TLS,
// certificate, ALPN, per-source and connection bounds, HELLO); the peer
// HELLO checks of core/overlay (malformed, version, wrong_target,
// bad_signature, bad_nonce, and its own weak_key, id_mismatch, timeout)
// count only by reason: they are peer-endpoint failures by construction.
const MetricHandshakeFailsByEndpoint = "transport_handshake_fail_endpoint_total"

// Labels of transport_handshake_fail_endpoint_total{endpoint}, and the
// endpoint names NewSourceGuard is given.
const (
	EndpointPeer = "peer"
	EndpointOAP  = "oap"
)

var _ = env.Declare(env.MetricDef{Name: MetricHandshakeFailsByEndpoint, Kind: env.Counter, Label: "endpoint",
	Help:        "Failed or refused QUIC handshakes counted by the transport and the client endpoint, by endpoint (reasons in transport_handshake_fail_total).",
	LabelValues: []string{EndpointPeer, EndpointOAP}})

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
// victim's quota, and only for up to twice the handshake timeout.
//
// With SetConnsMax it also bounds the endpoint's connections in total
// (see "Hostile sources" in the package doc for the reserved room).
//
// Invariants (under mu): conns is the sum of perSource and at most
// connsMax (when set); 0 <= unreserved <= conns; 0 <= inflight <= conns.
type SourceGuard struct {
	perSourceMax int
	connsMax     int // 0: no total bound
	reservedMax  int // of connsMax, the room only entitled attempts and connections may take
	metrics      env.Metrics
	log          *slog.Logger
	endpoint     string // EndpointPeer or EndpointOAP: the label of the guard's metrics

	mu         sync.Mutex
	perSource  map[netip.Addr]int  // by sourceKey
	entitled   map[netip.Addr]bool // configured peers' addresses (SetEntitledSources)
	inflight   int                 // handshakes not yet accepted nor failed
	conns      int                 // connections handshaking or open: MetricInboundConns
	unreserved int                 // attempts and connections outside the reserved room
}

// NewSourceGuard returns a guard of endpoint (EndpointPeer or
// EndpointOAP: the label of its metrics) allowing perSourceMax
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
	// Exported at 0 from the start, so the first broken count is an
	// increase of a series already scraped.
	metrics.Add(MetricGuardErrors, endpoint, 0)
	metrics.Add(MetricHandshakeFailsByEndpoint, endpoint, 0)
	return &SourceGuard{endpoint: endpoint, perSourceMax: perSourceMax, metrics: metrics, log: slog.Default(),
		perSource: map[netip.Addr]int{}, entitled: map[netip.Addr]bool{}}
}

// SetLogger sets where a broken invariant is logged (default
// slog.Default()); call it before Install.
func (g *SourceGuard) SetLogger(log *slog.Logger) {
	if log != nil {
		g.log = log
	}
}

// SetConnsMax bounds the endpoint's connections, handshakes included, to
// connsMax: an attempt beyond it is refused in ConnContext, before quic-go
// allocates anything for it (reason handshakes_full). reserved of them are
// kept for attempts from an entitled source (SetEntitledSources) that
// proved their address, and for connections Admit is told are entitled:
// every other attempt, pending or admitted, counts in the unreserved room
// of connsMax-reserved. Call it before Install.
func (g *SourceGuard) SetConnsMax(connsMax, reserved int) {
	if connsMax < 0 || reserved < 0 || reserved >= max(connsMax, 1) {
		panic(fmt.Sprintf("quicnet: SetConnsMax(%d, %d): want 0 <= reserved < connsMax", connsMax, reserved))
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.connsMax, g.reservedMax = connsMax, reserved
}

// SetEntitledSources replaces the source addresses (configured peers')
// whose attempts may take the reserved room before their handshake, once
// they proved their address with a Retry (verifySourceAddress asks for
// one as soon as the unreserved room is used up). Keys are exact
// addresses, not sourceKey prefixes: an entitlement covers one host.
func (g *SourceGuard) SetEntitledSources(addrs []netip.Addr) {
	entitled := make(map[netip.Addr]bool, len(addrs))
	for _, a := range addrs {
		entitled[a.Unmap().WithZone("")] = true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.entitled = entitled
}

// guardKey marks a connection's context with its guard state.
type guardKey struct{}

// guardConn is one connection's place in the guard.
type guardConn struct {
	source     netip.Addr // sourceKey of its address
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

// Fail counts one refused connection under the guard's endpoint and
// reason (in that order: a reader that saw the reason counted sees the
// endpoint counted too).
func (g *SourceGuard) Fail(reason string) {
	g.metrics.Add(MetricHandshakeFailsByEndpoint, g.endpoint, 1)
	g.metrics.Add(MetricHandshakeFails, reason, 1)
}

// sourceOf is addr's IP address (IPv4-mapped ones as IPv4, no zone).
func sourceOf(addr net.Addr) netip.Addr {
	if ua, ok := addr.(*net.UDPAddr); ok {
		if ap := ua.AddrPort(); ap.IsValid() {
			return ap.Addr().Unmap().WithZone("")
		}
	}
	return netip.Addr{}
}

// SourceKeyOf is the key the per-source connection quota counts addr
// under (sourceKey of its unmapped address), for endpoints that bound
// more per source with the same keying (io/oapgate's pending START
// frames).
func SourceKeyOf(addr net.Addr) netip.Addr { return sourceKey(sourceOf(addr)) }

// sourceKey is what the per-source quota counts for address a: its /64
// for IPv6, since one host usually holds a whole /64 (SLAAC, privacy
// addresses) and would otherwise have 2^64 quotas; the address itself for
// IPv4, where one address is often a whole NAT'd site already, and a /24
// would lump unrelated clients (and the 127.0.0.x sources tests use)
// into one quota. IPv6 addresses that carry an IPv4 client (see
// translatedPrefixes) are counted per address too, as IPv4 is.
//
// a must be unmapped (sourceOf does it): an IPv4-mapped address is IPv6
// to netip, and every IPv4 source would share ::ffff:0:0/64.
func sourceKey(a netip.Addr) netip.Addr {
	if !a.Is6() || isTranslated(a) {
		return a
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return a
	}
	return p.Addr()
}

// translatedPrefixes hold IPv6 addresses standing for IPv4 clients, many
// per /64: NAT64/SIIT (RFC 6052's well-known prefix, RFC 8215's local-use
// one) and Teredo (RFC 4380: its /64 is the prefix and the Teredo
// server's IPv4 address, shared by all of that server's clients).
var translatedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2001::/32"),
}

// isTranslated reports whether a is in translatedPrefixes.
func isTranslated(a netip.Addr) bool {
	for _, p := range translatedPrefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// verifySourceAddress asks for a Retry while handshakes pile up, the
// source holds half its quota, or an entitled source's attempt would take
// the reserved room (so a spoofed configured peer's address takes none).
func (g *SourceGuard) verifySourceAddress(addr net.Addr) bool {
	src := sourceOf(addr)
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inflight >= HandshakesUnvalidatedMax || 2*g.perSource[sourceKey(src)] >= g.perSourceMax ||
		g.entitled[src] && g.aboveUnreservedLocked()
}

// aboveUnreservedLocked reports whether a new attempt not counted in the
// unreserved room would take the reserved room.
func (g *SourceGuard) aboveUnreservedLocked() bool {
	return g.connsMax > 0 && g.conns >= g.connsMax-g.reservedMax
}

// roomLocked reports whether an attempt fits under SetConnsMax: one
// reserved (from an entitled source, its address proved), in the whole of
// connsMax; any other, in the unreserved room.
func (g *SourceGuard) roomLocked(reserved bool) bool {
	switch {
	case g.connsMax == 0:
		return true
	case g.conns >= g.connsMax:
		return false
	case reserved:
		return true
	default:
		return g.unreserved < g.connsMax-g.reservedMax
	}
}

// connContext admits a connection attempt or refuses it (quic-go then
// answers CONNECTION_REFUSED and keeps no state).
func (g *SourceGuard) connContext(ctx context.Context, info *quic.ClientInfo) (context.Context, error) {
	src := sourceOf(info.RemoteAddr)
	key := sourceKey(src)
	g.mu.Lock()
	n, known := g.perSource[key]
	if n >= g.perSourceMax || !known && len(g.perSource) >= sourcesMax {
		g.mu.Unlock()
		g.Fail(FailPerSource)
		return ctx, errPerSource
	}
	// Only a proved address may stay out of the unreserved room: an
	// unproved attempt from a member's address may be spoofed, and
	// spoofed attempts kept out of it would take the reserve away from
	// the member once strangers fill the unreserved room. Admit moves
	// the member's connection out once its NodeID shows.
	reserved := g.entitled[src] && info.AddrVerified
	if !g.roomLocked(reserved) {
		g.mu.Unlock()
		g.Fail(FailHandshakesFull)
		return ctx, errConnsFull
	}
	g.perSource[key] = n + 1
	g.inflight++
	g.conns++
	if !reserved {
		g.unreserved++
	}
	g.metrics.Set(MetricHandshakesInFlight, g.endpoint, float64(g.inflight))
	g.metrics.Set(MetricInboundConns, g.endpoint, float64(g.conns))
	g.mu.Unlock()
	gc := &guardConn{source: key, unreserved: !reserved}
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

// Admit decides on an established connection once its peer is known.
// One entitled to the reserved room (entitled: a configured peer's
// NodeID) is admitted and leaves the unreserved room if its attempt was
// counted there (from an address not entitled, or not proved). Any
// other keeps the unreserved room its attempt took, or, if its attempt
// took the reserve (from an entitled source, proved), must find some
// there now: an unconfigured node sharing
// a member's address gets the reserve for its handshake only. A refusal
// counts conns_full; the caller closes conn. A connection that already
// ended is refused uncounted. Admitting again changes nothing.
func (g *SourceGuard) Admit(conn *quic.Conn, entitled bool) bool {
	gc, ok := conn.Context().Value(guardKey{}).(*guardConn)
	if !ok {
		return true
	}
	return g.admit(gc, entitled)
}

func (g *SourceGuard) admit(gc *guardConn, entitled bool) bool {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	if gc.ended {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case entitled && gc.unreserved:
		g.unreserved--
		gc.unreserved = false
	case entitled || gc.unreserved:
	case g.connsMax > 0 && g.unreserved >= g.connsMax-g.reservedMax:
		g.Fail(FailConnsFull)
		return false
	default:
		g.unreserved++
		gc.unreserved = true
	}
	return true
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
	g.checkLocked()
}

// checkLocked repairs and reports broken counts (a bug): logged and
// counted, not a panic, since end runs on a goroutine no one supervises.
func (g *SourceGuard) checkLocked() {
	if g.conns >= 0 && g.unreserved >= 0 && g.unreserved <= g.conns && g.inflight >= 0 && g.inflight <= g.conns {
		return
	}
	g.metrics.Add(MetricGuardErrors, g.endpoint, 1)
	g.log.Error("quicnet: connection guard counts broken, repaired",
		"endpoint", g.endpoint, "conns", g.conns, "unreserved", g.unreserved, "inflight", g.inflight)
	g.conns = max(g.conns, 0)
	g.unreserved = min(max(g.unreserved, 0), g.conns)
	g.inflight = min(max(g.inflight, 0), g.conns)
	g.metrics.Set(MetricHandshakesInFlight, g.endpoint, float64(g.inflight))
	g.metrics.Set(MetricInboundConns, g.endpoint, float64(g.conns))
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

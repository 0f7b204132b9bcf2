package quicnet

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/overlay"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
)

// Defaults applied to zero Config fields, and fixed limits.
const (
	IdleTimeoutDefault      = 30 * time.Second
	KeepAliveDefault        = time.Second // well under StallTimeoutDefault, see Config.StallTimeout
	HandshakeTimeoutDefault = 5 * time.Second
	SendQueueDepthDefault   = 256
	// SendQueueBytesDefault is Config.SendQueueBytesMax when zero: 8 full
	// frames, or 256 frames of 32 KiB.
	SendQueueBytesDefault = 8 << 20
	// WriteBatchBytesMax bounds the frames a connection's writer takes
	// from the queue at once (at least one frame): frames taken wait in the
	// writer, outside the queue's bound, while its write is blocked by a
	// peer that stopped reading.
	WriteBatchBytesMax  = 1 << 20
	ConnsPerPeerDefault = 2
	// ConnsPerPeerMin is one kept connection plus the duplicate of a
	// simultaneous open: with a cap of 1 both sides would refuse the second
	// connection before choosing, and could end up closing both.
	ConnsPerPeerMin = 2
	// PeersMax bounds the address book (configured and learned peers).
	PeersMax = 4096
	// ConnsDefault is Config.ConnsMax when zero: room for every session
	// the overlay may hold (overlay.PeersMax) with its kept connection and
	// a simultaneous-open duplicate, twice over for connections still
	// closing and peers outside the overlay's table (1024, as io/oapgate's
	// ConnsDefault). Sized from PeersMax instead (8192 with two per peer),
	// it would let an attacker pin some hundreds of MiB of quic-go state
	// and goroutines before a refusal; the address book is mostly idle
	// learned addresses, not connections.
	ConnsDefault = 2 * ConnsPerPeerDefault * overlay.PeersMax
	// connsReservedDivisor: ConnsMax/connsReservedDivisor of the inbound
	// connections are kept for configured peers (see Config.ConnsMax);
	// 256 of the default, two connections each for 128 cluster members.
	connsReservedDivisor = 4
	// DialAttemptsMax is how many dials in a row a queue survives; after
	// the last failure its frames are dropped (reason unreachable).
	DialAttemptsMax = 4
	// DialBackoffMin and DialBackoffMax bound the pause between attempts,
	// doubling from the first to the second.
	DialBackoffMin = 100 * time.Millisecond
	DialBackoffMax = 2 * time.Second
	// StallTimeoutDefault: a kept connection that received no packet for
	// this long is closed and redialed (see Config.StallTimeout).
	StallTimeoutDefault = 3 * time.Second
	// stallChecks is how many times per StallTimeout the watchdog looks.
	stallChecks = 4
	// SimultaneousOpenWindow: a dial from a peer arriving later than this
	// after we adopted a connection we dialed to it is not a simultaneous
	// open but a peer that lost that connection; its dial wins. At 1 s a
	// simultaneous open on a loaded 2-core machine sometimes took longer
	// than the window, and the two ends kept different connections
	// (TestSimultaneousOpenKeepsOneConnection). A restart within the window
	// of our adopting a connection is still recovered: the stale
	// connection hears nothing (or a stateless reset) and the watchdog
	// closes it within StallTimeout.
	SimultaneousOpenWindow = 5 * time.Second
	// ReadBufferBytes is the buffered reader in front of a receive stream.
	ReadBufferBytes = 64 << 10
	// UDPBufferBytesWanted is the socket buffer quic-go asks for (7 MiB on
	// Linux); below it, throughput under load suffers and we log once.
	UDPBufferBytesWanted = 7 << 20
	// ALPN is the only application protocol a RON transport speaks.
	ALPN = "ron/1"
)

// Config configures a Transport. Zero durations and sizes take the defaults
// above.
type Config struct {
	Key                    ed25519.PrivateKey // node identity
	ListenAddr             string             // "127.0.0.1:7070"; port 0 picks one
	IdleTimeout, KeepAlive time.Duration
	// HandshakeTimeout bounds one dial's QUIC and TLS handshake.
	HandshakeTimeout time.Duration
	// StallTimeout closes a kept connection that received no packet (no
	// frame, no ACK of our keep-alive) for this long, with
	// CONNECTION_CLOSE, which a one-way cut lets through. Without it a
	// connection whose path from the peer was blocked for seconds stays
	// open with QUIC's probe timer backed off to seconds, and the first
	// frames after the heal wait that long; the peer redials instead and
	// starts with a fresh timer. It must be at least twice KeepAlive.
	StallTimeout time.Duration
	// Lost, when set, is called (from transport goroutines, never under
	// the transport's lock) when frames to a peer may have been lost: a
	// kept connection ended, a write failed, or the peer's queue was
	// dropped after failed dials. The runtime's PeerUnreachable fits; it
	// must not block.
	Lost func(peer proto.NodeID)
	// SendQueueDepthMax bounds each peer's queue, in frames; beyond it the
	// oldest frame is dropped and counted (reason queue_full).
	SendQueueDepthMax int
	// SendQueueBytesMax bounds each peer's queue in bytes (0:
	// SendQueueBytesDefault; at least oap.FrameBytesMax); beyond it the
	// oldest frames are dropped and counted (reason queue_bytes). With the
	// writer's batch (WriteBatchBytesMax) it bounds what a peer that stops
	// reading pins in this node.
	SendQueueBytesMax int
	// ConnsPerPeerMax bounds the live connections to one NodeID, the kept
	// one included; a connection beyond it is refused (reason conns_full).
	ConnsPerPeerMax int
	// ConnsPerSourceMax bounds the inbound connections from one source
	// address, handshakes included (0: ConnsPerSourceDefault); beyond it
	// an attempt is refused (transport_handshake_fail_total{reason=
	// "per_source"}). See SourceGuard.
	ConnsPerSourceMax int
	// ConnsMax bounds the inbound connections, handshakes included (0:
	// ConnsDefault); an attempt beyond it is refused before quic-go
	// allocates anything for it (transport_handshake_fail_total{reason=
	// "handshakes_full"}). A quarter of it is reserved for peers
	// configured with AddPeer and for members (Members, SetMembers): an
	// attempt from an address not theirs is refused (handshakes_full)
	// if it would take that room, and a connection from any other NodeID
	// is refused (conns_full) once its handshake shows it would. Our own dials do
	// not count. See "Hostile sources" in the package doc.
	ConnsMax int
	// Members is the closed membership the transport starts with (see
	// Transport.SetMembers, which replaces it later): set here, no
	// connection is accepted before it applies. Empty: open.
	Members []proto.NodeID
	// Metrics receives the transport_* metrics. It is called from several
	// goroutines at once and must be safe for concurrent use. Nil discards.
	Metrics env.Metrics
	Logger  *slog.Logger // nil discards
}

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("quicnet: bad config")

// withDefaults validates cfg and fills zero fields; the error names the
// offending setting.
func (cfg Config) withDefaults() (Config, error) {
	if len(cfg.Key) != ed25519.PrivateKeySize {
		return cfg, fmt.Errorf("%w: Key is %d bytes, want an Ed25519 private key of %d", ErrConfig, len(cfg.Key), ed25519.PrivateKeySize)
	}
	if cfg.ListenAddr == "" {
		return cfg, fmt.Errorf("%w: ListenAddr is empty", ErrConfig)
	}
	durations := []struct {
		name  string
		value *time.Duration
		def   time.Duration
	}{
		{"IdleTimeout", &cfg.IdleTimeout, IdleTimeoutDefault},
		{"KeepAlive", &cfg.KeepAlive, KeepAliveDefault},
		{"HandshakeTimeout", &cfg.HandshakeTimeout, HandshakeTimeoutDefault},
		{"StallTimeout", &cfg.StallTimeout, StallTimeoutDefault},
	}
	for _, d := range durations {
		if *d.value < 0 {
			return cfg, fmt.Errorf("%w: %s is negative (%v)", ErrConfig, d.name, *d.value)
		}
		if *d.value == 0 {
			*d.value = d.def
		}
	}
	if cfg.StallTimeout < 2*cfg.KeepAlive {
		return cfg, fmt.Errorf("%w: StallTimeout (%v) is under twice KeepAlive (%v): healthy idle connections would be closed", ErrConfig, cfg.StallTimeout, cfg.KeepAlive)
	}
	if cfg.Lost == nil {
		cfg.Lost = func(proto.NodeID) {}
	}
	if cfg.SendQueueDepthMax < 0 {
		return cfg, fmt.Errorf("%w: SendQueueDepthMax is negative (%d)", ErrConfig, cfg.SendQueueDepthMax)
	}
	if cfg.SendQueueDepthMax == 0 {
		cfg.SendQueueDepthMax = SendQueueDepthDefault
	}
	if cfg.SendQueueBytesMax == 0 {
		cfg.SendQueueBytesMax = SendQueueBytesDefault
	}
	if cfg.SendQueueBytesMax < oap.FrameBytesMax {
		return cfg, fmt.Errorf("%w: SendQueueBytesMax (%d) is under one frame of oap.FrameBytesMax (%d)", ErrConfig, cfg.SendQueueBytesMax, oap.FrameBytesMax)
	}
	if cfg.ConnsPerPeerMax == 0 {
		cfg.ConnsPerPeerMax = ConnsPerPeerDefault
	}
	if cfg.ConnsPerPeerMax < ConnsPerPeerMin {
		return cfg, fmt.Errorf("%w: ConnsPerPeerMax is %d, at least %d is needed to resolve a simultaneous open", ErrConfig, cfg.ConnsPerPeerMax, ConnsPerPeerMin)
	}
	if cfg.ConnsPerSourceMax < 0 {
		return cfg, fmt.Errorf("%w: ConnsPerSourceMax is negative (%d)", ErrConfig, cfg.ConnsPerSourceMax)
	}
	if cfg.ConnsMax < 0 {
		return cfg, fmt.Errorf("%w: ConnsMax is negative (%d)", ErrConfig, cfg.ConnsMax)
	}
	if cfg.ConnsMax == 0 {
		cfg.ConnsMax = ConnsDefault
	}
	if cfg.Metrics == nil {
		cfg.Metrics = discardMetrics{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg, nil
}

type discardMetrics struct{}

func (discardMetrics) Add(string, string, float64)     {}
func (discardMetrics) Set(string, string, float64)     {}
func (discardMetrics) Observe(string, string, float64) {}

// Metric names. transport_handshake_fail_total{reason} is declared by
// core/overlay (its HELLO checks share it); importing the name from there
// keeps one declaration and one shape. Frames the transport rejects as bad
// OAP/1 count in node's oap_rejects_total{reason}, the same labels the node
// uses for frames it cannot route.
const (
	MetricHandshakeFails = overlay.MetricHandshakeFails
	MetricOAPRejects     = node.MetricOAPRejects
	MetricFrames         = "transport_frames_total"
	MetricDropped        = "transport_dropped_total"
	MetricConnections    = "transport_connections"
)

// Labels of transport_frames_total{dir}.
const (
	DirSend = "send"
	DirRecv = "recv"
)

// Reasons of transport_dropped_total{reason}.
const (
	DropQueueFull   = "queue_full"  // the peer's send queue was full; the oldest frame went
	DropQueueBytes  = "queue_bytes" // the peer's send queue held SendQueueBytesMax; the oldest frames went
	DropUnreachable = "unreachable" // DialAttemptsMax dials failed; the queue was dropped
	DropNoAddr      = "no_addr"     // Send to a peer with no known address and no connection
	DropMalformed   = "malformed"   // Send of bytes that are not one valid OAP/1 frame
	DropClosed      = "closed"      // Send after Close
	DropConnLost    = "conn_lost"   // the connection failed while the frame was being written
	DropStalled     = "stalled"     // a connection closed for receiving nothing for StallTimeout (counts connections)
	DropPeersFull   = "peers_full"  // a new peer while the address book holds PeersMax
	DropConnsFull   = "conns_full"  // a connection beyond ConnsPerPeerMax was refused
	DropSelf        = "self"        // Send or AddPeer naming this node
	// DropPeerRedialed: frames queued for a peer whose redial replaced
	// our kept connection (it restarted, or lost that connection); they
	// were meant for what it no longer holds (peer.go, adopt).
	DropPeerRedialed = "peer_redialed"
)

// Reasons of transport_handshake_fail_total{reason} added by the transport;
// id_mismatch is overlay's FailIDMismatch.
const (
	FailIDMismatch = overlay.FailIDMismatch // the certificate key is not the expected NodeID
	FailBadCert    = "bad_cert"             // no certificate, not X.509, or not an Ed25519 key
	FailWeakKey    = overlay.FailWeakKey    // a small-order or non-canonical Ed25519 key
	FailTimeout    = overlay.FailTimeout    // no handshake within HandshakeTimeout
	FailTLS        = "tls"                  // any other QUIC or TLS handshake failure
	// FailNotMember: a connection from a NodeID outside the closed
	// membership (Transport.SetMembers), closed right after its
	// handshake (once per connection).
	FailNotMember = "not_member"
)

var _ = env.Declare(
	env.MetricDef{Name: MetricFrames, Kind: env.Counter, Label: "dir",
		Help: "OAP/1 frames written to or delivered from QUIC streams, by direction."},
	env.MetricDef{Name: MetricDropped, Kind: env.Counter, Label: "reason",
		Help: "Frames and connections the transport dropped, by reason."},
	env.MetricDef{Name: MetricConnections, Kind: env.Gauge,
		Help: "Peers with an established QUIC connection."},
)

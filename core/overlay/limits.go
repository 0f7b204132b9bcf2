package overlay

import (
	"time"

	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto/oap"
)

// Limits. Every queue, table and buffer of the overlay is bounded by one of
// these; hitting a bound sheds and counts (overlay_peer_dropped_total).
const (
	// PeersMax bounds the session table: static peers plus peers admitted
	// dynamically from a valid HELLO.
	PeersMax = 256
	// PeerQueueDepthMax bounds the frames queued for one peer whose session
	// is not Active; the oldest frame is dropped first.
	PeerQueueDepthMax = 256
	// PeerQueueBytesMax bounds the bytes queued for one peer, so that
	// PeerQueueDepthMax frames of FrameBytesMax cannot pin 256 MiB.
	PeerQueueBytesMax = 4 << 20
	// RecvQueueDepthMax bounds the heartbeat requests parked while a
	// session is not yet authenticated.
	RecvQueueDepthMax = 64
	// HelloBytesMax bounds a HELLO payload (JSON).
	HelloBytesMax = 2048
	// HeldMax caps the hold time a pong may claim: a ping is never parked
	// longer than a session timeout's worth of backoff, and the cap keeps a
	// lying peer from wrapping the RTT arithmetic.
	HeldMax = time.Minute
	// MessageBytesMax bounds an overlay (app proto 1) payload.
	MessageBytesMax = 32
	// PingsInflightMax is how many unanswered heartbeats a session
	// remembers; a pong for an older one is stale.
	PingsInflightMax = 4
	// DynamicAttemptsMax is how many consecutive failed attempts a
	// dynamically admitted peer gets before it is forgotten, freeing its
	// place in the table. Static peers are retried forever.
	DynamicAttemptsMax = 6
	// InboundBurstFactor sizes a peer's token bucket: burst = factor x rate.
	InboundBurstFactor = 2
	// BackoffJitterFrac is the relative jitter applied to a backoff delay.
	BackoffJitterFrac = 0.2
	// UABytesMax bounds the user agent string of a HELLO.
	UABytesMax = 64
	// VersionsMax bounds the protocol versions a HELLO may list.
	VersionsMax = 8
	// NonceBytes is the size of a handshake nonce.
	NonceBytes = 16

	// ProtocolVersion is the overlay protocol version this code speaks.
	ProtocolVersion uint16 = 1
	// UserAgent is sent in every HELLO.
	UserAgent = "ron/0.1"
	// MaxInflight is advertised in HELLO replies: how many frames this node
	// holds for a peer before shedding.
	MaxInflight = PeerQueueDepthMax
)

// Defaults applied by New to zero Config fields.
const (
	HeartbeatIntervalDefault      = time.Second
	HandshakeTimeoutDefault       = time.Second
	BackoffMinDefault             = 100 * time.Millisecond
	BackoffMaxDefault             = 10 * time.Second
	InboundFramesPerSecondDefault = 1000
	// SessionTimeoutHeartbeats is the default SessionTimeout in units of
	// HeartbeatInterval.
	SessionTimeoutHeartbeats = 3
)

// Timer tags: the low tagKindBits bits name the timer kind, the bits above
// name the session's slot (a number never reused within one Overlay).
const (
	tagKindBits = 4
	slotMax     = node.TagMax >> tagKindBits
)

// Compile-time relations between limits.
var (
	_ = [PeerQueueBytesMax - oap.FrameBytesMax]struct{}{} // one whole frame always fits
	_ = [1<<tagKindBits - int(timerKinds)]struct{}{}      // timer kinds fit their bits
)

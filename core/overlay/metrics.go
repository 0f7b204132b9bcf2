package overlay

import "github.com/ron-network/ron/core/env"

// Metric names (ARCHITECTURE section 8).
const (
	MetricRPCLatency     = "overlay_rpc_latency_seconds"
	MetricQueueDepth     = "overlay_peer_queue_depth"
	MetricDropped        = "overlay_peer_dropped_total"
	MetricReconnects     = "overlay_reconnects_total"
	MetricSessions       = "overlay_sessions"
	MetricHandshakeFails = "transport_handshake_fail_total"
)

// Labels of overlay_peer_queue_depth{dir}.
const (
	DirSend = "send"
	DirRecv = "recv"
)

// Reasons of overlay_peer_dropped_total{reason}.
const (
	// DropQueueFull: a bounded send or receive queue was full; the oldest
	// entry was dropped.
	DropQueueFull = "queue_full"
	// DropShed: the peer's inbound token bucket was empty (early shed).
	DropShed = "shed"
	// DropStale: a reply whose corr id matches nothing outstanding (a
	// duplicate, or a reply to a request given up on).
	DropStale = "stale"
	// DropClosed: a frame from, or queued for, a Closed session, or queued
	// for a dynamic peer that was forgotten.
	DropClosed = "closed"
	// DropUnknownPeer: a frame from a node with no session that is not a
	// valid HELLO request.
	DropUnknownPeer = "unknown_peer"
	// DropPeersFull: a valid HELLO from a new node while the table holds
	// PeersMax sessions.
	DropPeersFull = "peers_full"
	// DropMalformed: an overlay frame or payload that does not decode.
	DropMalformed = "malformed"
	// DropNotMember: a HELLO request from a node with no session outside
	// the closed membership (Config.Members).
	DropNotMember = "not_member"
)

// Reasons of transport_handshake_fail_total{reason}.
const (
	FailMalformed    = "malformed"     // HELLO payload does not decode
	FailVersion      = "version"       // no common protocol version
	FailIDMismatch   = "id_mismatch"   // id is not BLAKE3(pub), or not the sender
	FailWrongTarget  = "wrong_target"  // the HELLO is addressed to another node
	FailBadSignature = "bad_signature" // the signature does not verify
	FailBadNonce     = "bad_nonce"     // a reply that does not echo our nonce
	// FailWeakKey: pub is a small-order or non-canonical Ed25519 key
	// (proto.CheckPublicKey), for which anyone can forge the signature.
	FailWeakKey = "weak_key"
	FailTimeout = "timeout" // no valid reply within HandshakeTimeout
)

var _ = env.Declare(
	env.MetricDef{Name: MetricRPCLatency, Kind: env.Histogram,
		Help: "Heartbeat round-trip time of overlay sessions.", Buckets: env.LatencyBuckets},
	env.MetricDef{Name: MetricQueueDepth, Kind: env.Gauge, Label: "dir",
		Help: "Deepest per-peer overlay queue (max over peers), by direction."},
	env.MetricDef{Name: MetricDropped, Kind: env.Counter, Label: "reason",
		Help: "Overlay frames dropped, by reason."},
	env.MetricDef{Name: MetricReconnects, Kind: env.Counter,
		Help: "Handshake attempts started from Backoff."},
	env.MetricDef{Name: MetricSessions, Kind: env.Gauge, Label: "state",
		Help: "Overlay sessions by state."},
	env.MetricDef{Name: MetricHandshakeFails, Kind: env.Counter, Label: "reason",
		Help: "Failed peer handshakes (identity checks and timeouts), by reason."},
)

// gauges remembers the last values set so that a step that changes nothing
// sets nothing.
type gauges struct {
	set       bool
	sessions  [stateCount]int
	sendDepth int
	recvDepth int
}

// updateGauges recomputes the session and queue gauges: O(peers).
func (o *Overlay) updateGauges() {
	var now gauges
	now.set = true
	for _, id := range o.order {
		s := o.sessions[id]
		now.sessions[s.state]++
		now.sendDepth = max(now.sendDepth, len(s.sendQueue))
		now.recvDepth = max(now.recvDepth, len(s.recvQueue))
	}
	if now == o.gauges {
		return
	}
	m := o.env.Metrics()
	for st := State(0); st < stateCount; st++ {
		m.Set(MetricSessions, st.String(), float64(now.sessions[st]))
	}
	m.Set(MetricQueueDepth, DirSend, float64(now.sendDepth))
	m.Set(MetricQueueDepth, DirRecv, float64(now.recvDepth))
	o.gauges = now
}

func (o *Overlay) countDrop(reason string) {
	o.env.Metrics().Add(MetricDropped, reason, 1)
}

func (o *Overlay) countHandshakeFail(reason string) {
	o.env.Metrics().Add(MetricHandshakeFails, reason, 1)
}

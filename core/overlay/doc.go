// Package overlay keeps authenticated sessions between RON nodes (ARCHITECTURE
// 5.2): a HELLO handshake with an identity check, heartbeats with RTT,
// reconnection with capped exponential backoff and seeded jitter, per-peer
// bounded queues with drop accounting, and early shed of chatty peers.
//
// # Session state machine
//
// One session per peer, in our view only: each side verifies the other
// with its own HELLO, so the two directions of a pair come up independently.
//
//	        Start              valid reply to our HELLO
//	Idle ---------> Handshake ----------------------------> Active
//	                 ^    |                                   |
//	  backoff timer, |    | timeout, or a reply failing       | no matched pong
//	  or a HELLO or  |    | the identity check                | for SessionTimeout
//	  ping from peer |    v                                   |
//	                 +-- Backoff <----------------------------+
//
//	any state --Close--> Closed (terminal: timers cancelled, queues
//	                             dropped, HELLOs unanswered)
//
// A HELLO request (app proto 0, REQ) carries JSON {"ua", "versions", "id",
// "to", "pub", "nonce", "sig"}; the reply (RESP, same corr id) adds
// "max_frame", "max_inflight", "flags_supported" and "peer_nonce". The
// signature covers (sender id, receiver id, sender nonce, requester nonce
// in a reply). The identity check: id == BLAKE3(pub), id is the node the
// frame came from, to is us, a common version, pub is neither of small
// order nor non-canonically encoded (proto.CheckPublicKey; reason
// weak_key: ed25519.Verify is cofactorless, so under such a key a
// signature anyone can make verifies, and no seed-derived key is one),
// and the signature verifies.
// Because our nonce is in the reply's signature, only a fresh reply can
// bring a session up; a replayed or duplicated one is stale. Requests are
// answered in every state but Closed and never change state when they fail
// the check, so a forged HELLO cannot tear a session down.
//
// Liveness needs proof that both directions work: only a pong that matches
// one of our outstanding pings (a random corr id; PingsInflightMax
// remembered) refreshes it. A peer's pings alone would keep a session up
// across a one-way cut in which our frames are lost. Duplicate and late
// pongs and HELLO replies are counted as stale and otherwise ignored.
//
// # Timers
//
// Each session arms at most the timers of its state, tagged
// slot<<4 | kind (the slot is a per-Overlay number never reused, so a late
// timer of a forgotten session finds nothing): handshake (HandshakeTimeout)
// in Handshake, backoff in Backoff, and in Active a heartbeat every
// HeartbeatInterval plus a liveness timer that is re-armed lazily for the
// remaining time when it fires, instead of on every pong. Every replaced
// timer is cancelled. Backoff after the n-th consecutive failure is
// BackoffMin*2^(n-1) capped at BackoffMax, jittered ±20% from env.Rand and
// clamped to [BackoffMin, BackoffMax]. A valid HELLO or a ping from a peer
// we back off from means it is reachable again: we retry at once.
//
// # Limits and accounting
//
// PeersMax sessions (static peers plus dynamic ones admitted from a valid
// HELLO request; a dynamic peer is forgotten after DynamicAttemptsMax
// failed attempts, static ones are retried forever). With a closed
// membership (Config.Members, rond's; core/stack's Description.Members)
// a HELLO request from a node outside it admits no dynamic session and is
// not answered: it is dropped as not_member before its signature is
// checked, so stranger keys cannot fill the table nor be heartbeated and
// redialed (rond's transport closes their connections first anyway; this
// holds whatever carries the frames). Without one, as in the simulator,
// any validly signed HELLO admits a dynamic peer. A SetMembers request
// replaces the membership of a running overlay (rond's reload of its
// members setting): the gate uses the new list from the next input on;
// sessions already open stay. PeerQueueDepthMax and
// PeerQueueBytesMax bound frames queued for a peer that is not Active
// (drop oldest, reason queue_full); per session enqueued = sent + dropped
// + queued always holds. RecvQueueDepthMax bounds the peer's pings parked
// until our side has authenticated it (they are answered on Active). A
// token bucket per peer (InboundFramesPerSecond, burst x2) is checked
// before any decoding or signature verification (reason shed); frames from
// nodes without a session share one such bucket. overlay_peer_queue_depth
// reports the deepest queue over peers per direction (max, not sum: the SLO
// concern is one backed-up peer, which a sum over hundreds would hide).
//
// # Enqueue versus env.Send
//
// Enqueue gives session semantics: frames wait for an authenticated
// session and leave in order; a frame sent while a session looks Active but
// is already dead is lost like any datagram (the overlay has no
// acknowledgements). Services whose protocol is request/response with its
// own timeouts and retries, such as DHT RPCs, may call env.Send directly:
// they want datagram semantics, a lost or late answer is routine for them,
// and queueing a lookup behind a reconnecting session would only make it
// later. Frames of other app protocols are routed by the node straight to
// their service; the overlay sees only HELLO and its own heartbeats.
//
// # Rejected alternatives
//
// A single three-way handshake that brings both sides up at once saves a
// round trip but couples both directions' state: a lost final message
// leaves one side Active and the other waiting, and the asymmetric repair
// logic is what tends to be wrong under duplication and reordering. Two
// independent two-way handshakes cost one more HELLO per pair and have no
// such window. Answering pings on unauthenticated sessions was rejected so
// that no frame of an unverified peer causes work beyond the bounded
// parking queue.
package overlay

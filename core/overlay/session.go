package overlay

import (
	"slices"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
)

// timerKind tells the timers of one session apart (the low bits of a tag).
type timerKind uint64

const (
	timerHandshake timerKind = iota // Handshake: give up on the outstanding HELLO
	timerBackoff                    // Backoff: start the next attempt
	timerHeartbeat                  // Active: send a ping
	timerLiveness                   // Active: check the last proof of life
	timerKinds
)

// ping is one outstanding heartbeat.
type ping struct {
	corr   uint64 // 0 when the slot is free
	sentAt env.Time
}

// parkedPing is a peer's ping received before our side of the session was
// authenticated; it is answered when the session becomes Active.
type parkedPing struct {
	corr, seq  uint64
	receivedAt env.Time
}

// session is the overlay's view of one peer.
//
// Invariants (checkSession): the armed timers are exactly those of the
// state (Handshake: handshake; Backoff: backoff; Active: heartbeat and
// liveness; Idle, Closed: none); helloCorr != 0 exactly in Handshake; an
// Active session has an empty send queue (Enqueue sends at once); queues
// are within their limits; enqueued = sent + droppedSend + len(sendQueue).
type session struct {
	peer    proto.NodeID
	slot    uint64
	dynamic bool
	state   State
	timers  [timerKinds]env.TimerID

	helloCorr uint64           // corr id of our outstanding HELLO request
	nonce     [NonceBytes]byte // our nonce of the current attempt
	attempts  int              // consecutive failed attempts since last Active
	backoff   time.Duration    // delay chosen on the last entry to Backoff

	pings     [PingsInflightMax]ping
	pingNext  int      // ring position of the next ping
	pingSeq   uint64   // heartbeats sent in this session
	lastProof env.Time // last matched pong (or activation)
	srtt      time.Duration

	sendQueue [][]byte
	sendBytes int
	recvQueue []parkedPing // pings parked until Active
	bucket    tokenBucket

	reconnects, enqueued, sent, droppedSend, droppedRecv uint64
}

func (s *session) info() SessionInfo {
	return SessionInfo{
		Peer: s.peer, State: s.state, Dynamic: s.dynamic, RTT: s.srtt,
		Reconnects: s.reconnects, Attempts: s.attempts, Backoff: s.backoff,
		Enqueued: s.enqueued, Sent: s.sent, DroppedSend: s.droppedSend, DroppedRecv: s.droppedRecv,
		QueueDepth: len(s.sendQueue), RecvDepth: len(s.recvQueue),
	}
}

// addSession inserts a new Idle session, keeping o.order sorted. The
// caller has checked PeersMax.
func (o *Overlay) addSession(peer proto.NodeID, dynamic bool) *session {
	if o.nextSlot >= slotMax {
		panic("overlay: timer slots exhausted")
	}
	o.nextSlot++
	s := &session{peer: peer, slot: o.nextSlot, dynamic: dynamic,
		bucket: newTokenBucket(o.cfg.InboundFramesPerSecond)}
	if o.env != nil {
		s.bucket.last = o.env.Now()
	}
	o.sessions[peer] = s
	o.bySlot[s.slot] = s
	i, found := slices.BinarySearchFunc(o.order, peer, proto.NodeID.Compare)
	if found {
		panic("overlay: session added twice for " + peer.Short())
	}
	o.order = slices.Insert(o.order, i, peer)
	return s
}

// forget removes a dynamic session whose peer stopped answering.
func (o *Overlay) forget(s *session) {
	o.cancelTimers(s)
	o.discardQueues(s, DropClosed)
	delete(o.sessions, s.peer)
	delete(o.bySlot, s.slot)
	i, _ := slices.BinarySearchFunc(o.order, s.peer, proto.NodeID.Compare)
	o.order = slices.Delete(o.order, i, i+1)
}

func (o *Overlay) arm(s *session, k timerKind, d time.Duration) {
	if s.timers[k] != 0 {
		o.env.CancelTimer(s.timers[k])
	}
	s.timers[k] = o.env.SetTimer(d, s.slot<<tagKindBits|uint64(k))
}

func (o *Overlay) disarm(s *session, k timerKind) {
	if s.timers[k] != 0 {
		o.env.CancelTimer(s.timers[k])
		s.timers[k] = 0
	}
}

func (o *Overlay) cancelTimers(s *session) {
	for k := timerKind(0); k < timerKinds; k++ {
		o.disarm(s, k)
	}
}

// newCorr draws a nonzero corr id; random ids make a reply to an earlier
// attempt (or an earlier incarnation of this node) stale, not confusing.
func (o *Overlay) newCorr() uint64 {
	for {
		if c := o.env.Rand().Uint64(); c != 0 {
			return c
		}
	}
}

// startHandshake sends a fresh HELLO request and waits HandshakeTimeout
// for its reply. From Idle or Backoff.
func (o *Overlay) startHandshake(s *session) {
	o.disarm(s, timerBackoff)
	s.state = StateHandshake
	s.helloCorr = o.newCorr()
	o.env.Rand().Fill(s.nonce[:])
	payload := signHello(o.cfg.Signatures, o.cfg.Key, o.self, s.peer, s.nonce, nil)
	o.env.Send(s.peer, frame(oap.ProtoHello, oap.FlagREQ, s.helloCorr, payload))
	o.arm(s, timerHandshake, o.cfg.HandshakeTimeout)
}

// reconnect starts a handshake from Backoff, counting it.
func (o *Overlay) reconnect(s *session) {
	s.reconnects++
	o.env.Metrics().Add(MetricReconnects, "", 1)
	o.startHandshake(s)
}

// becomeActive completes a handshake: heartbeats start at once (the first
// ping gives an RTT sample), the bus hears Up, queued frames are flushed in
// order and parked pings answered.
func (o *Overlay) becomeActive(s *session) {
	o.disarm(s, timerHandshake)
	s.state = StateActive
	s.helloCorr = 0
	s.attempts = 0
	s.lastProof = o.env.Now()
	o.arm(s, timerLiveness, o.cfg.SessionTimeout)
	o.sendPing(s)
	o.env.Publish(TopicPeer, PeerEvent{Peer: s.peer, Up: true})
	for i, f := range s.sendQueue {
		o.env.Send(s.peer, f)
		s.sendQueue[i] = nil
		s.sent++
	}
	s.sendQueue, s.sendBytes = s.sendQueue[:0], 0
	now := o.env.Now()
	for _, p := range s.recvQueue {
		o.sendPong(s, p.corr, p.seq, now.Sub(p.receivedAt))
	}
	s.recvQueue = s.recvQueue[:0]
}

// leaveActive stops heartbeats and tells the bus the peer is down.
func (o *Overlay) leaveActive(s *session) {
	o.disarm(s, timerHeartbeat)
	o.disarm(s, timerLiveness)
	s.pings = [PingsInflightMax]ping{}
	o.env.Publish(TopicPeer, PeerEvent{Peer: s.peer, Up: false})
}

// toBackoff ends a failed attempt or a dead session and arms the retry.
// A dynamic peer that failed DynamicAttemptsMax times is forgotten.
func (o *Overlay) toBackoff(s *session) {
	if s.state == StateActive {
		o.leaveActive(s)
	}
	o.disarm(s, timerHandshake)
	s.helloCorr = 0
	s.attempts++
	if (s.dynamic || o.cfg.Bug.ForgetStatic) && s.attempts >= DynamicAttemptsMax {
		o.forget(s)
		return
	}
	s.state = StateBackoff
	s.backoff = o.backoffDelay(s.attempts)
	o.arm(s, timerBackoff, s.backoff)
}

// backoffDelay is the delay before attempt+1: BackoffMin doubled per
// failed attempt, capped at BackoffMax, jittered by ±BackoffJitterFrac,
// then clamped back into [BackoffMin, BackoffMax].
func (o *Overlay) backoffDelay(attempt int) time.Duration {
	nominal := o.cfg.BackoffMin
	for i := 1; i < attempt && nominal < o.cfg.BackoffMax; i++ {
		nominal *= 2
	}
	nominal = min(nominal, o.cfg.BackoffMax)
	d := o.env.Rand().Jitter(nominal, BackoffJitterFrac)
	return min(max(d, o.cfg.BackoffMin), o.cfg.BackoffMax)
}

func (o *Overlay) onTimer(t env.TimerFired) {
	s := o.bySlot[t.Tag>>tagKindBits]
	k := timerKind(t.Tag & (1<<tagKindBits - 1))
	if s == nil || k >= timerKinds || s.timers[k] != t.ID {
		// A timer of a forgotten session, or one replaced before it fired:
		// the env contract says cancelled timers never fire, so this only
		// guards against an owner that delivers late.
		return
	}
	s.timers[k] = 0
	switch k {
	case timerHandshake:
		o.countHandshakeFail(FailTimeout)
		o.toBackoff(s)
	case timerBackoff:
		o.reconnect(s)
	case timerHeartbeat:
		o.sendPing(s)
	case timerLiveness:
		o.checkLiveness(s)
	}
}

// checkLiveness moves a session without proof of life for SessionTimeout
// to Backoff, else re-arms for the rest. Re-arming lazily here, instead of
// on every pong, keeps the hot path free of timer churn.
func (o *Overlay) checkLiveness(s *session) {
	quiet := o.env.Now().Sub(s.lastProof)
	if quiet >= o.cfg.SessionTimeout {
		o.toBackoff(s)
		return
	}
	o.arm(s, timerLiveness, o.cfg.SessionTimeout-quiet)
}

// sendPing sends a heartbeat, remembering it in the ring of outstanding
// pings (overwriting the oldest), and arms the next one.
func (o *Overlay) sendPing(s *session) {
	corr := o.newCorr()
	s.pingSeq++
	s.pings[s.pingNext] = ping{corr: corr, sentAt: o.env.Now()}
	s.pingNext = (s.pingNext + 1) % PingsInflightMax
	payload := message{kind: kindPing, seq: s.pingSeq}.append(nil)
	o.env.Send(s.peer, frame(oap.ProtoOverlay, oap.FlagREQ, corr, payload))
	o.arm(s, timerHeartbeat, o.cfg.HeartbeatInterval)
}

// sendPong answers a ping that was held for held before this answer.
func (o *Overlay) sendPong(s *session, corr, seq uint64, held time.Duration) {
	payload := message{kind: kindPong, seq: seq, held: uint64(max(held, 0))}.append(nil)
	o.env.Send(s.peer, frame(oap.ProtoOverlay, oap.FlagRESP, corr, payload))
}

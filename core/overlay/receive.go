package overlay

import (
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
)

// onMessage admits a frame through the sender's token bucket (early shed,
// before any decoding or signature check is paid for) and dispatches it.
func (o *Overlay) onMessage(m env.Message) {
	s := o.sessions[m.From]
	bucket := &o.strangers
	if s != nil {
		bucket = &s.bucket
	}
	if !bucket.take(o.env.Now()) {
		o.dropRecv(s, DropShed)
		return
	}
	f, err := oap.Decode(m.Frame)
	if err != nil {
		o.dropRecv(s, DropMalformed)
		return
	}
	if s == nil {
		o.onStranger(m.From, &f)
		return
	}
	if s.state == StateClosed {
		o.dropRecv(s, DropClosed)
		return
	}
	switch f.AppProto {
	case oap.ProtoHello:
		o.onHello(s, &f)
	case oap.ProtoOverlay:
		o.onOverlay(s, &f)
	default:
		// The node routes only our protocols here; a test or a future
		// router might not.
		o.dropRecv(s, DropMalformed)
	}
}

// dropRecv counts an inbound frame dropped; s may be nil (no session).
func (o *Overlay) dropRecv(s *session, reason string) {
	if s != nil {
		s.droppedRecv++
	}
	o.countDrop(reason)
}

// onStranger handles a frame from a node without a session: a valid HELLO
// request admits it as a dynamic peer (up to PeersMax) if the membership
// is open or lists it; anything else is dropped and counted.
func (o *Overlay) onStranger(from proto.NodeID, f *oap.Frame) {
	if f.AppProto != oap.ProtoHello || f.Flags&oap.FlagREQ == 0 || from == o.self {
		o.countDrop(DropUnknownPeer)
		return
	}
	if !o.members.Admits(from) {
		// Before the signature check: refusing costs nothing to verify.
		o.countDrop(DropNotMember)
		return
	}
	h, ok := o.checkHello(from, f, nil)
	if !ok {
		return
	}
	if len(o.sessions) >= PeersMax {
		o.countDrop(DropPeersFull)
		return
	}
	s := o.addSession(from, true)
	o.replyHello(s, f.CorrID, &h)
	if o.started {
		o.startHandshake(s)
	}
}

// checkHello decodes and verifies a HELLO, counting a failure.
func (o *Overlay) checkHello(from proto.NodeID, f *oap.Frame, expectNonce []byte) (hello, bool) {
	h, err := decodeHello(f.Payload)
	if err == nil {
		err = verifyHello(o.cfg.Signatures, &h, from, o.self, expectNonce)
	}
	if err != nil {
		o.countHandshakeFail(err.(*HandshakeError).Reason)
		o.env.Log().Debug("overlay: hello rejected", "peer", from.Short(), "err", err)
		return h, false
	}
	return h, true
}

func (o *Overlay) replyHello(s *session, corr uint64, h *hello) {
	var nonce [NonceBytes]byte
	o.env.Rand().Fill(nonce[:])
	payload := signHello(o.cfg.Signatures, o.cfg.Key, o.self, s.peer, nonce, h.nonce[:])
	o.env.Send(s.peer, frame(oap.ProtoHello, oap.FlagRESP, corr, payload))
}

func (o *Overlay) onHello(s *session, f *oap.Frame) {
	switch {
	case f.Flags&oap.FlagREQ != 0:
		o.onHelloRequest(s, f)
	case f.Flags&oap.FlagRESP != 0:
		o.onHelloReply(s, f)
	default:
		o.dropRecv(s, DropMalformed)
	}
}

// onHelloRequest answers a peer's HELLO whatever our own state: the two
// directions of a session are verified independently. A failed check
// changes no state, so a forged HELLO cannot tear a session down. A valid
// HELLO while we back off means the peer is reachable again: retry now.
func (o *Overlay) onHelloRequest(s *session, f *oap.Frame) {
	h, ok := o.checkHello(s.peer, f, nil)
	if !ok {
		return
	}
	o.replyHello(s, f.CorrID, &h)
	if s.state == StateBackoff {
		o.reconnect(s)
	}
}

// onHelloReply completes our handshake if the reply answers the HELLO we
// have outstanding; a reply to anything else is stale. A reply that
// answers it but fails the identity check ends the attempt.
func (o *Overlay) onHelloReply(s *session, f *oap.Frame) {
	if s.state != StateHandshake || f.CorrID != s.helloCorr {
		o.dropRecv(s, DropStale)
		return
	}
	if _, ok := o.checkHello(s.peer, f, s.nonce[:]); !ok {
		o.toBackoff(s)
		return
	}
	o.becomeActive(s)
}

func (o *Overlay) onOverlay(s *session, f *oap.Frame) {
	m, err := decodeMessage(f.Flags, f.Payload)
	if err != nil {
		o.dropRecv(s, DropMalformed)
		return
	}
	switch m.kind {
	case kindPing:
		o.onPing(s, f.CorrID, m.seq)
	case kindPong:
		o.onPong(s, f.CorrID, time.Duration(min(m.held, uint64(HeldMax))))
	}
}

// onPing answers at once on an Active session. Otherwise the peer has not
// yet proven its identity to us, so the ping is parked (bounded, oldest
// dropped) and answered on Active; a ping while we back off means the peer
// is reachable again: retry now.
func (o *Overlay) onPing(s *session, corr, seq uint64) {
	if s.state == StateActive {
		o.sendPong(s, corr, seq, 0)
		return
	}
	if len(s.recvQueue) >= RecvQueueDepthMax {
		copy(s.recvQueue, s.recvQueue[1:])
		s.recvQueue = s.recvQueue[:len(s.recvQueue)-1]
		o.dropRecv(s, DropQueueFull)
	}
	s.recvQueue = append(s.recvQueue, parkedPing{corr: corr, seq: seq, receivedAt: o.env.Now()})
	if s.state == StateBackoff {
		o.reconnect(s)
	}
}

// onPong matches a pong to an outstanding ping: an RTT sample (less the
// time the peer held the ping, never below zero) and proof of life. A
// duplicate, or a pong for a ping already given up on, is stale.
func (o *Overlay) onPong(s *session, corr uint64, held time.Duration) {
	i := s.findPing(corr)
	if s.state != StateActive || i < 0 {
		o.dropRecv(s, DropStale)
		return
	}
	now := o.env.Now()
	rtt := max(now.Sub(s.pings[i].sentAt)-held, 0)
	s.pings[i] = ping{}
	s.lastProof = now
	o.env.Metrics().Observe(MetricRPCLatency, "", rtt.Seconds())
	if s.srtt == 0 {
		s.srtt = rtt
	} else {
		s.srtt += (rtt - s.srtt) / 8
	}
}

func (s *session) findPing(corr uint64) int {
	for i := range s.pings {
		if s.pings[i].corr == corr && corr != 0 {
			return i
		}
	}
	return -1
}

// pushSend queues a frame for a session that is not Active, dropping the
// oldest frames while a limit would be broken.
func (o *Overlay) pushSend(s *session, f []byte) {
	for len(s.sendQueue) > 0 &&
		(len(s.sendQueue) >= PeerQueueDepthMax || s.sendBytes+len(f) > PeerQueueBytesMax) {
		s.sendBytes -= len(s.sendQueue[0])
		s.sendQueue[0] = nil
		s.sendQueue = s.sendQueue[1:]
		s.droppedSend++
		o.countDrop(DropQueueFull)
	}
	s.sendQueue = append(s.sendQueue, f)
	s.sendBytes += len(f)
}

// discardQueues drops everything queued on s, counting it under reason.
func (o *Overlay) discardQueues(s *session, reason string) {
	for i := range s.sendQueue {
		s.sendQueue[i] = nil
		s.droppedSend++
		o.countDrop(reason)
	}
	for range s.recvQueue {
		s.droppedRecv++
		o.countDrop(reason)
	}
	s.sendQueue, s.sendBytes, s.recvQueue = nil, 0, nil
}

// tokenBucket is the early-shed rate limit on one peer's inbound frames.
type tokenBucket struct {
	rate, burst, tokens float64
	last                env.Time
}

func newTokenBucket(rate float64) tokenBucket {
	burst := InboundBurstFactor * rate
	return tokenBucket{rate: rate, burst: burst, tokens: burst}
}

// take refills the bucket for the time since the last call and spends one
// token if there is one.
func (b *tokenBucket) take(now env.Time) bool {
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(b.burst, b.tokens+b.rate*elapsed.Seconds())
	}
	b.last = max(b.last, now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

package overlay

import "fmt"

// checkInvariants runs at the end of every input; it is O(peers). A
// violation is a bug in this package, so it panics.
func (o *Overlay) checkInvariants() { o.checkTables(false) }

// checkTables checks the session tables and every session, and with
// queueBytes also each send queue's byte count (O(queued frames)). One pass
// serves both: the node runs CheckInvariants after every step of every
// service, and a second walk over the sessions cost a map lookup per peer
// per step for nothing.
func (o *Overlay) checkTables(queueBytes bool) {
	if len(o.sessions) > PeersMax || len(o.order) != len(o.sessions) || len(o.bySlot) != len(o.sessions) {
		panic(fmt.Sprintf("overlay: table sizes: %d sessions, %d ordered, %d slots (max %d)",
			len(o.sessions), len(o.order), len(o.bySlot), PeersMax))
	}
	for i, id := range o.order {
		if i > 0 && o.order[i-1].Compare(id) >= 0 {
			panic("overlay: session order not strictly ascending")
		}
		s := o.sessions[id]
		if s == nil || s.peer != id || o.bySlot[s.slot] != s {
			panic("overlay: session tables disagree for " + id.Short())
		}
		o.checkSession(s)
		if queueBytes {
			s.checkQueueBytes()
		}
	}
}

// checkSession checks one session's O(1) invariants (see session).
func (o *Overlay) checkSession(s *session) {
	want := [timerKinds]bool{}
	switch s.state {
	case StateHandshake:
		want[timerHandshake] = true
	case StateBackoff:
		want[timerBackoff] = true
	case StateActive:
		want[timerHeartbeat], want[timerLiveness] = true, true
	case StateIdle, StateClosed:
	default:
		panic(fmt.Sprintf("overlay: session %s in %v", s.peer.Short(), s.state))
	}
	for k := timerKind(0); k < timerKinds; k++ {
		if (s.timers[k] != 0) != want[k] {
			panic(fmt.Sprintf("overlay: session %s in %v with timer %d armed=%v", s.peer.Short(), s.state, k, s.timers[k] != 0))
		}
	}
	if (s.helloCorr != 0) != (s.state == StateHandshake) {
		panic(fmt.Sprintf("overlay: session %s in %v with hello corr %d", s.peer.Short(), s.state, s.helloCorr))
	}
	if s.state == StateActive && (len(s.sendQueue) != 0 || len(s.recvQueue) != 0) {
		panic("overlay: active session " + s.peer.Short() + " with queued frames")
	}
	if len(s.sendQueue) > PeerQueueDepthMax || s.sendBytes > PeerQueueBytesMax || len(s.recvQueue) > RecvQueueDepthMax {
		panic(fmt.Sprintf("overlay: session %s queues over limits: %d frames, %d bytes, %d parked",
			s.peer.Short(), len(s.sendQueue), s.sendBytes, len(s.recvQueue)))
	}
	if s.enqueued != s.sent+s.droppedSend+uint64(len(s.sendQueue)) {
		panic(fmt.Sprintf("overlay: session %s accounting: enqueued %d != sent %d + dropped %d + queued %d",
			s.peer.Short(), s.enqueued, s.sent, s.droppedSend, len(s.sendQueue)))
	}
	if s.bucket.tokens < 0 || s.bucket.tokens > s.bucket.burst {
		panic(fmt.Sprintf("overlay: session %s token bucket at %v of %v", s.peer.Short(), s.bucket.tokens, s.bucket.burst))
	}
	if s.dynamic && s.attempts >= DynamicAttemptsMax {
		panic("overlay: dynamic session " + s.peer.Short() + " kept past DynamicAttemptsMax")
	}
}

// checkQueueBytes verifies the running byte count of the send queue: O(queued).
func (s *session) checkQueueBytes() {
	total := 0
	for _, f := range s.sendQueue {
		total += len(f)
	}
	if total != s.sendBytes {
		panic(fmt.Sprintf("overlay: session %s queues %d bytes, counted %d", s.peer.Short(), total, s.sendBytes))
	}
}

package overlay

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/env/envtest"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
)

func TestHandshakeToActive(t *testing.T) {
	c := newCluster(t, 3, 1, nil)
	c.start()
	// Two handshakes per pair over links of at most 15ms one way.
	if !c.runUntil(100*time.Millisecond, c.allActive) {
		t.Fatalf("sessions not active after 100ms: %+v", c.nodes[0].ov.Sessions())
	}
	for i, n := range c.nodes {
		var ups []proto.NodeID
		for _, ev := range n.probe.events {
			if !ev.Up {
				t.Errorf("%s: unexpected down event for %s", n.name, ev.Peer.Short())
			}
			ups = append(ups, ev.Peer)
		}
		slices.SortFunc(ups, proto.NodeID.Compare)
		var want []proto.NodeID
		for j, m := range c.nodes {
			if j != i {
				want = append(want, m.id)
			}
		}
		slices.SortFunc(want, proto.NodeID.Compare)
		if !slices.Equal(ups, want) {
			t.Errorf("%s: up events for %v, want one per peer", n.name, ups)
		}
		if got := c.metric(i, MetricSessions, "active"); got != 2 {
			t.Errorf("%s: overlay_sessions{active} = %v, want 2", n.name, got)
		}
		for _, reason := range []string{FailTimeout, FailIDMismatch, FailBadSignature} {
			if got := c.metric(i, MetricHandshakeFails, reason); got != 0 {
				t.Errorf("%s: handshake fails{%s} = %v on a clean network", n.name, reason, got)
			}
		}
	}
}

// TestIdentityCheckOnReply plays a peer that answers a's HELLO with replies
// that each break one rule of the identity check.
func TestIdentityCheckOnReply(t *testing.T) {
	impostor := keyFor("impostor")
	cases := []struct {
		name   string
		reason string
		reply  func(s *solo, nonce []byte) []byte
	}{
		{"claims the peer's id with another key", FailIDMismatch, func(s *solo, nonce []byte) []byte {
			return craftHello(impostor, s.peer, s.o.Self(), []byte("0123456789abcdef"), nonce)
		}},
		{"honest id of another node", FailIDMismatch, func(s *solo, nonce []byte) []byte {
			return craftHello(impostor, idOf(impostor), s.o.Self(), []byte("0123456789abcdef"), nonce)
		}},
		{"addressed to someone else", FailWrongTarget, func(s *solo, nonce []byte) []byte {
			return craftHello(s.peerKey, s.peer, idOf(impostor), []byte("0123456789abcdef"), nonce)
		}},
		{"does not echo our nonce", FailBadNonce, func(s *solo, nonce []byte) []byte {
			return craftHello(s.peerKey, s.peer, s.o.Self(), []byte("0123456789abcdef"), []byte("fedcba9876543210"))
		}},
		{"signature by another key", FailBadSignature, func(s *solo, nonce []byte) []byte {
			n := []byte("0123456789abcdef")
			sig := ed25519.Sign(impostor, helloSigInput(s.peer, s.o.Self(), n, nonce))
			return craftHelloSig(s.peerKey.Public().(ed25519.PublicKey), s.peer, s.o.Self(), n, nonce, sig)
		}},
		{"not JSON", FailMalformed, func(*solo, []byte) []byte { return []byte("hello?") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSolo(t, nil)
			s.handle(env.Start{})
			f, h := s.lastHelloRequest()
			s.from(frame(oap.ProtoHello, oap.FlagRESP, f.CorrID, tc.reply(s, h.nonce[:])))
			if got := s.value(MetricHandshakeFails, tc.reason); got != 1 {
				t.Errorf("transport_handshake_fail_total{%s} = %v, want 1", tc.reason, got)
			}
			if st := s.o.State(s.peer); st != StateBackoff {
				t.Errorf("state %v, want backoff", st)
			}
			if len(s.e.Events) != 0 {
				t.Errorf("bus events %v for a failed handshake", s.e.Events)
			}
		})
	}
}

// TestIdentityCheckOnRequest: a HELLO request claiming another node's id is
// counted and neither answered nor admitted; a valid one is.
func TestIdentityCheckOnRequest(t *testing.T) {
	s := newSolo(t, nil)
	s.handle(env.Start{})
	stranger, victim := keyFor("stranger"), keyFor("victim")
	nonce := []byte("0123456789abcdef")
	forged := frame(oap.ProtoHello, oap.FlagREQ, 5, craftHello(stranger, idOf(victim), s.o.Self(), nonce, nil))
	sentBefore := len(s.e.Sent)
	s.handle(env.Message{From: idOf(stranger), Frame: forged})
	if got := s.value(MetricHandshakeFails, FailIDMismatch); got != 1 {
		t.Fatalf("id_mismatch = %v, want 1", got)
	}
	if len(s.e.Sent) != sentBefore || len(s.o.Sessions()) != 1 {
		t.Fatalf("forged HELLO was answered or admitted: %d frames sent, %d sessions", len(s.e.Sent)-sentBefore, len(s.o.Sessions()))
	}
	// The same node, honest: admitted as a dynamic peer, answered, and
	// our own handshake towards it starts.
	honest := frame(oap.ProtoHello, oap.FlagREQ, 6, craftHello(stranger, idOf(stranger), s.o.Self(), nonce, nil))
	s.handle(env.Message{From: idOf(stranger), Frame: honest})
	if st := s.o.State(idOf(stranger)); st != StateHandshake {
		t.Fatalf("honest stranger's session is %v, want handshake", st)
	}
	var reply, request bool
	for _, x := range s.e.Sent[sentBefore:] {
		f, _ := oap.Decode(x.Frame)
		h, err := decodeHello(f.Payload)
		if x.To != idOf(stranger) || err != nil {
			t.Fatalf("unexpected frame to %s: %v", x.To.Short(), err)
		}
		if f.Flags&oap.FlagRESP != 0 {
			reply = f.CorrID == 6 && verifyHello(nil, &h, s.o.Self(), idOf(stranger), nonce) == nil
		} else {
			request = true
		}
	}
	if !reply || !request {
		t.Fatalf("want a verifiable reply (got %v) and a request (got %v)", reply, request)
	}
	if !s.o.Sessions()[slices.IndexFunc(s.o.Sessions(), func(i SessionInfo) bool { return i.Peer == idOf(stranger) })].Dynamic {
		t.Fatal("admitted stranger not marked dynamic")
	}
}

// TestHeartbeatRTT: with a fixed one-way latency L every heartbeat RTT is 2L.
func TestHeartbeatRTT(t *testing.T) {
	c := newCluster(t, 2, 3, nil)
	c.latencyMin, c.latencyMax = 10*time.Millisecond, 10*time.Millisecond
	c.start()
	c.run(5*time.Second, nil)
	for i, n := range c.nodes {
		obs := n.env.Recorder.Observations[MetricRPCLatency]
		// A first ping on Active, then one per second.
		if len(obs) < 5 {
			t.Fatalf("%s: %d RTT observations in 5s, want >= 5", n.name, len(obs))
		}
		for _, v := range obs {
			if v != 0.020 {
				t.Fatalf("%s: RTT observation %v, want 0.020", n.name, v)
			}
		}
		if rtt := c.session(i, 1-i).RTT; rtt != 20*time.Millisecond {
			t.Fatalf("%s: smoothed RTT %v, want 20ms", n.name, rtt)
		}
	}
}

// nominalBackoff is the spec of the n-th backoff delay before jitter.
func nominalBackoff(n int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < n; i++ {
		d *= 2
		if d >= hi {
			return hi
		}
	}
	return min(d, hi)
}

// checkBackoffs verifies the delays chosen after 1, 2, ... consecutive
// failures: within [lo, hi], within ±20% of the nominal delay, and strictly
// growing while the nominal delay is below the cap.
func checkBackoffs(delays []time.Duration, lo, hi time.Duration) error {
	for i, d := range delays {
		nom := nominalBackoff(i+1, lo, hi)
		jlo, jhi := time.Duration(float64(nom)*0.8), time.Duration(float64(nom)*1.2)
		if d < lo || d > hi || d < min(jlo, hi) || d > max(jhi, lo) {
			return fmt.Errorf("delay %d = %v outside [%v,%v] or nominal %v ±20%%", i+1, d, lo, hi, nom)
		}
		if i > 0 && nominalBackoff(i+1, lo, hi) < hi && d <= delays[i-1] {
			return fmt.Errorf("delay %d = %v does not grow from %v", i+1, d, delays[i-1])
		}
	}
	return nil
}

// backoffRecorder samples a session each step and records the delay chosen
// on each new entry to Backoff.
type backoffRecorder struct {
	delays   []time.Duration
	attempts int
}

func (r *backoffRecorder) sample(s SessionInfo) {
	if s.State == StateBackoff && s.Attempts != r.attempts {
		r.delays = append(r.delays, s.Backoff)
	}
	r.attempts = s.Attempts
}

func TestPartitionBackoffHeal(t *testing.T) {
	c := newCluster(t, 2, 4, nil)
	c.start()
	if !c.runUntil(time.Second, c.allActive) {
		t.Fatal("no initial session")
	}
	c.partition(0)
	var rec backoffRecorder
	c.run(70*time.Second, func() { rec.sample(c.session(0, 1)) })
	if len(rec.delays) < 9 {
		t.Fatalf("%d backoffs in 70s of partition, want >= 9: %v", len(rec.delays), rec.delays)
	}
	if err := checkBackoffs(rec.delays, BackoffMinDefault, BackoffMaxDefault); err != nil {
		t.Fatal(err)
	}
	// k entries to Backoff: the first from the session timeout, the others
	// from handshake timeouts; each but possibly the last was followed by
	// a reconnect.
	s, k := c.session(0, 1), len(rec.delays)
	wantReconnects := uint64(k)
	if s.State == StateBackoff {
		wantReconnects--
	}
	if s.Reconnects != wantReconnects {
		t.Fatalf("%d reconnects for %d backoffs ending in %v", s.Reconnects, k, s.State)
	}
	if got := c.metric(0, MetricReconnects, ""); got != float64(s.Reconnects) {
		t.Fatalf("overlay_reconnects_total = %v, session says %d", got, s.Reconnects)
	}
	if got := c.metric(0, MetricHandshakeFails, FailTimeout); got != float64(k-1) {
		t.Fatalf("handshake timeouts = %v, want %d", got, k-1)
	}
	c.heal()
	// The next attempt of either side, at most BackoffMax away, succeeds.
	if !c.runUntil(BackoffMaxDefault+time.Second, c.allActive) {
		t.Fatalf("not active 11s after heal: %+v", c.nodes[0].ov.Sessions())
	}
	for _, n := range c.nodes {
		var got []bool
		for _, ev := range n.probe.events {
			got = append(got, ev.Up)
		}
		if !slices.Equal(got, []bool{true, false, true}) {
			t.Errorf("%s: bus events up=%v, want up, down, up", n.name, got)
		}
	}
}

func TestBackoffDelayBoundsAcrossConfigs(t *testing.T) {
	for _, b := range []struct{ lo, hi time.Duration }{
		{100 * time.Millisecond, 10 * time.Second}, {time.Second, time.Second}, {50 * time.Millisecond, 70 * time.Millisecond},
	} {
		o := New(Config{Key: keyFor("a"), BackoffMin: b.lo, BackoffMax: b.hi})
		o.Init(envtest.New(o.Self(), 11))
		var delays []time.Duration
		for n := 1; n <= 20; n++ {
			delays = append(delays, o.backoffDelay(n))
		}
		if err := checkBackoffs(delays, b.lo, b.hi); err != nil {
			t.Errorf("[%v,%v]: %v", b.lo, b.hi, err)
		}
	}
}

// TestQueueBoundedDropOldest: frames enqueued for a peer that is not Active
// are bounded; the oldest go first and are counted; the survivors leave in
// order, after the first heartbeat, once the session is Active.
func TestQueueBoundedDropOldest(t *testing.T) {
	s := newSolo(t, nil)
	s.handle(env.Start{})
	const extra = 10
	for i := uint64(0); i < PeerQueueDepthMax+extra; i++ {
		if !s.o.Enqueue(s.peer, appFrame(i)) {
			t.Fatalf("Enqueue %d refused", i)
		}
		s.o.CheckInvariants()
	}
	info := s.o.Sessions()[0]
	if info.QueueDepth != PeerQueueDepthMax || info.DroppedSend != extra {
		t.Fatalf("depth %d dropped %d, want %d and %d", info.QueueDepth, info.DroppedSend, PeerQueueDepthMax, extra)
	}
	if got := s.value(MetricDropped, DropQueueFull); got != extra {
		t.Fatalf("dropped{queue_full} = %v, want %d", got, extra)
	}
	if got := s.value(MetricQueueDepth, DirSend); got != PeerQueueDepthMax {
		t.Fatalf("queue depth gauge %v, want %d", got, PeerQueueDepthMax)
	}
	reply := s.validReply()
	s.e.Sent = nil
	s.from(reply)
	fs := s.sentFrames()
	if len(fs) != 1+PeerQueueDepthMax || fs[0].AppProto != oap.ProtoOverlay {
		t.Fatalf("on Active sent %d frames starting with proto %d, want a ping then %d frames", len(fs), fs[0].AppProto, PeerQueueDepthMax)
	}
	for i, f := range fs[1:] {
		if want := uint64(extra + i); f.AppProto != oap.ProtoDHT || f.CorrID != want {
			t.Fatalf("flushed frame %d is seq %d, want %d", i, f.CorrID, want)
		}
	}
	if info := s.o.Sessions()[0]; info.Sent != PeerQueueDepthMax || info.QueueDepth != 0 {
		t.Fatalf("after flush %+v", info)
	}
	// Active: sent at once.
	s.e.Sent = nil
	s.o.Enqueue(s.peer, appFrame(999))
	if len(s.e.Sent) != 1 || !bytes.Equal(s.e.Sent[0].Frame, appFrame(999)) {
		t.Fatalf("Active Enqueue sent %d frames", len(s.e.Sent))
	}
	if s.o.Enqueue(idOf(keyFor("nobody")), appFrame(1)) {
		t.Fatal("Enqueue to an unknown peer accepted")
	}
}

func TestQueueBytesBound(t *testing.T) {
	s := newSolo(t, nil)
	big := make([]byte, oap.FrameBytesMax)
	perQueue := PeerQueueBytesMax / oap.FrameBytesMax
	for i := 0; i < perQueue+2; i++ {
		big[0] = byte(i)
		s.o.Enqueue(s.peer, bytes.Clone(big))
	}
	info := s.o.Sessions()[0]
	if info.QueueDepth != perQueue || info.DroppedSend != 2 {
		t.Fatalf("depth %d dropped %d, want %d and 2", info.QueueDepth, info.DroppedSend, perQueue)
	}
	if s.o.Enqueue(s.peer, make([]byte, oap.FrameBytesMax+1)) {
		t.Fatal("oversize frame accepted")
	}
}

// TestFlushInOrderAcrossNetwork: frames enqueued before any session exists
// reach the peer's service in order once the session is up.
func TestFlushInOrderAcrossNetwork(t *testing.T) {
	c := newCluster(t, 2, 5, nil)
	c.latencyMin, c.latencyMax = 10*time.Millisecond, 10*time.Millisecond
	for i := uint64(0); i < 20; i++ {
		if !c.nodes[0].ov.Enqueue(c.nodes[1].id, appFrame(i)) {
			t.Fatal("Enqueue refused")
		}
	}
	c.start()
	c.run(200*time.Millisecond, nil)
	got := c.nodes[1].probe.received
	if len(got) != 20 {
		t.Fatalf("received %d frames, want 20", len(got))
	}
	for i, m := range got {
		f, _ := oap.Decode(m.Frame)
		if f.CorrID != uint64(i) || m.From != c.nodes[0].id {
			t.Fatalf("frame %d is seq %d from %s", i, f.CorrID, m.From.Short())
		}
	}
}

// TestChattyPeerShed: a peer's inbound frames pass a token bucket of rate r
// and burst 2r; the rest are dropped before decoding and counted.
func TestChattyPeerShed(t *testing.T) {
	const rate = 10
	s := newSolo(t, func(c *Config) {
		c.InboundFramesPerSecond = rate
		c.HeartbeatInterval, c.SessionTimeout = time.Hour, time.Hour
	})
	s.activate()
	s.advance(10 * time.Second) // refill to the burst
	s.e.Sent = nil
	for i := uint64(1); i <= 50; i++ {
		s.from(pingFrame(i, i))
	}
	burst := InboundBurstFactor * rate
	if pongs := s.countKind(oap.ProtoOverlay, oap.FlagRESP); pongs != burst {
		t.Fatalf("answered %d pings, want the burst %d", pongs, burst)
	}
	if got := s.value(MetricDropped, DropShed); got != 50-float64(burst) {
		t.Fatalf("shed %v, want %d", got, 50-burst)
	}
	// Half a second refills rate/2 tokens.
	s.advance(500 * time.Millisecond)
	s.e.Sent = nil
	for i := uint64(100); i < 110; i++ {
		s.from(pingFrame(i, i))
	}
	if pongs := s.countKind(oap.ProtoOverlay, oap.FlagRESP); pongs != rate/2 {
		t.Fatalf("after 0.5s answered %d, want %d", pongs, rate/2)
	}
	if got := s.o.Sessions()[0].DroppedRecv; got != 50-uint64(burst)+rate/2 {
		t.Fatalf("DroppedRecv %d", got)
	}
}

// TestDuplicateAndStaleReplies: replies that answer nothing outstanding are
// counted stale and change nothing.
func TestDuplicateAndStaleReplies(t *testing.T) {
	s := newSolo(t, nil)
	s.handle(env.Start{})
	first, firstHello := s.lastHelloRequest()
	goodFirst := s.validReply()
	// A reply with an unknown corr id.
	s.from(frame(oap.ProtoHello, oap.FlagRESP, first.CorrID+1, craftHello(s.peerKey, s.peer, s.o.Self(), []byte("0123456789abcdef"), firstHello.nonce[:])))
	if st := s.o.State(s.peer); st != StateHandshake || s.value(MetricDropped, DropStale) != 1 {
		t.Fatalf("after a wrong-corr reply: %v, stale %v", st, s.value(MetricDropped, DropStale))
	}
	// Let the attempt time out and retry: the first attempt's reply is stale.
	s.advance(HandshakeTimeoutDefault)
	s.advance(2 * BackoffMinDefault)
	if st := s.o.State(s.peer); st != StateHandshake {
		t.Fatalf("no retry: %v", st)
	}
	second, _ := s.lastHelloRequest()
	if second.CorrID == first.CorrID {
		t.Fatal("retry reused the corr id")
	}
	s.from(goodFirst)
	if st := s.o.State(s.peer); st != StateHandshake || s.value(MetricDropped, DropStale) != 2 {
		t.Fatalf("after the previous attempt's reply: %v, stale %v", st, s.value(MetricDropped, DropStale))
	}
	// The valid reply, then its duplicate.
	good := s.validReply()
	s.from(good)
	s.from(good)
	if st := s.o.State(s.peer); st != StateActive || s.value(MetricDropped, DropStale) != 3 || len(s.e.Events) != 1 {
		t.Fatalf("after reply+duplicate: %v, stale %v, events %d", st, s.value(MetricDropped, DropStale), len(s.e.Events))
	}
	// The ping sent on Active: its pong, the duplicate, a pong for nothing.
	var pingCorr uint64
	for _, f := range s.sentFrames() {
		if f.AppProto == oap.ProtoOverlay && f.Flags&oap.FlagREQ != 0 {
			pingCorr = f.CorrID
		}
	}
	s.advance(3 * time.Millisecond)
	s.from(pongFrame(pingCorr))
	s.from(pongFrame(pingCorr))
	s.from(pongFrame(pingCorr ^ 1))
	if obs := s.e.Recorder.Observations[MetricRPCLatency]; len(obs) != 1 || obs[0] != 0.003 {
		t.Fatalf("RTT observations %v, want one of 3ms", obs)
	}
	if got := s.value(MetricDropped, DropStale); got != 5 {
		t.Fatalf("stale %v, want 5", got)
	}
}

// TestReplayedReplyWithFreshCorr: a reply signed over an old nonce fails the
// identity check even with the current corr id.
func TestReplayedReplyWithFreshCorr(t *testing.T) {
	s := newSolo(t, nil)
	s.handle(env.Start{})
	_, oldHello := s.lastHelloRequest()
	s.advance(HandshakeTimeoutDefault)
	s.advance(2 * BackoffMinDefault)
	cur, _ := s.lastHelloRequest()
	s.from(frame(oap.ProtoHello, oap.FlagRESP, cur.CorrID, craftHello(s.peerKey, s.peer, s.o.Self(), []byte("0123456789abcdef"), oldHello.nonce[:])))
	if st := s.o.State(s.peer); st != StateBackoff || s.value(MetricHandshakeFails, FailBadNonce) != 1 {
		t.Fatalf("replayed reply: %v, bad_nonce %v", st, s.value(MetricHandshakeFails, FailBadNonce))
	}
}

// TestPingsParkedUntilActive: a peer's pings before our side is verified are
// answered in order on Active; the parking queue is bounded.
func TestPingsParkedUntilActive(t *testing.T) {
	s := newSolo(t, nil)
	s.handle(env.Start{})
	for i := uint64(1); i <= RecvQueueDepthMax+3; i++ {
		s.from(pingFrame(i, i))
	}
	if n := s.countKind(oap.ProtoOverlay, oap.FlagRESP); n != 0 {
		t.Fatalf("%d pongs before Active", n)
	}
	if got := s.value(MetricDropped, DropQueueFull); got != 3 {
		t.Fatalf("recv queue_full %v, want 3", got)
	}
	if got := s.value(MetricQueueDepth, DirRecv); got != RecvQueueDepthMax {
		t.Fatalf("recv depth gauge %v", got)
	}
	reply := s.validReply()
	s.e.Sent = nil
	s.from(reply)
	var corrs []uint64
	for _, f := range s.sentFrames() {
		if f.Flags&oap.FlagRESP != 0 {
			corrs = append(corrs, f.CorrID)
		}
	}
	if len(corrs) != RecvQueueDepthMax || corrs[0] != 4 || !slices.IsSorted(corrs) {
		t.Fatalf("pongs on Active for %v", corrs)
	}
}

// TestPingFromPeerInBackoffRetriesAtOnce: evidence that the peer is back
// cuts the backoff short.
func TestPingFromPeerInBackoffRetriesAtOnce(t *testing.T) {
	s := newSolo(t, func(c *Config) { c.BackoffMin = time.Minute })
	s.handle(env.Start{})
	s.advance(HandshakeTimeoutDefault)
	if st := s.o.State(s.peer); st != StateBackoff {
		t.Fatalf("state %v", st)
	}
	s.from(pingFrame(1, 1))
	if st := s.o.State(s.peer); st != StateHandshake || s.o.Sessions()[0].Reconnects != 1 {
		t.Fatalf("after a ping in backoff: %v", s.o.Sessions()[0])
	}
}

func TestSessionTimeoutAndBusEvents(t *testing.T) {
	s := newSolo(t, nil)
	s.activate()
	// No pongs: down after SessionTimeout, not before.
	s.advance(3*HeartbeatIntervalDefault - time.Millisecond)
	if st := s.o.State(s.peer); st != StateActive {
		t.Fatalf("down early: %v", st)
	}
	s.advance(time.Millisecond)
	if st := s.o.State(s.peer); st != StateBackoff {
		t.Fatalf("still %v after SessionTimeout", st)
	}
	want := []env.BusEvent{{Topic: TopicPeer, Event: PeerEvent{Peer: s.peer, Up: true}}, {Topic: TopicPeer, Event: PeerEvent{Peer: s.peer, Up: false}}}
	if !slices.Equal(s.e.Events, want) {
		t.Fatalf("events %v", s.e.Events)
	}
}

func TestPongsKeepSessionAlive(t *testing.T) {
	s := newSolo(t, nil)
	s.activate()
	answered := 0
	for range 10 * 1000 / 5 { // 10s in 5ms steps, answering every ping at once
		s.advance(5 * time.Millisecond)
		for _, f := range s.sentFrames() {
			if f.AppProto == oap.ProtoOverlay && f.Flags&oap.FlagREQ != 0 {
				s.from(pongFrame(f.CorrID))
				answered++
			}
		}
		s.e.Sent = nil
	}
	if st := s.o.State(s.peer); st != StateActive || answered < 10 {
		t.Fatalf("state %v after %d answered pings", st, answered)
	}
}

func TestClose(t *testing.T) {
	s := newSolo(t, nil)
	s.activate()
	s.o.Close(s.peer)
	s.o.CheckInvariants()
	if st := s.o.State(s.peer); st != StateClosed || s.e.Armed() != 0 {
		t.Fatalf("after Close: %v with %d timers", st, s.e.Armed())
	}
	if s.o.Enqueue(s.peer, appFrame(1)) {
		t.Fatal("Enqueue to a closed peer accepted")
	}
	if last := s.e.Events[len(s.e.Events)-1].Event.(PeerEvent); last.Up {
		t.Fatal("no down event on Close")
	}
	s.e.Sent = nil
	nonce := []byte("0123456789abcdef")
	s.from(frame(oap.ProtoHello, oap.FlagREQ, 1, craftHello(s.peerKey, s.peer, s.o.Self(), nonce, nil)))
	if len(s.e.Sent) != 0 || s.value(MetricDropped, DropClosed) != 1 {
		t.Fatalf("closed session answered a HELLO (%d frames) or did not count it", len(s.e.Sent))
	}
}

func TestStrangerFrames(t *testing.T) {
	s := newSolo(t, nil)
	s.handle(env.Start{})
	s.handle(env.Message{From: idOf(keyFor("x")), Frame: pingFrame(1, 1)})
	if got := s.value(MetricDropped, DropUnknownPeer); got != 1 {
		t.Fatalf("unknown_peer %v", got)
	}
	s.handle(env.Message{From: s.peer, Frame: []byte{1, 2, 3}})
	if got := s.value(MetricDropped, DropMalformed); got != 1 {
		t.Fatalf("malformed %v", got)
	}
}

func TestPeersMaxBoundsDynamicPeers(t *testing.T) {
	var peers []proto.NodeID
	for i := range PeersMax {
		peers = append(peers, idOf(keyFor(fmt.Sprint("p", i))))
	}
	o := New(Config{Key: keyFor("a"), Peers: peers})
	e := envtest.New(o.Self(), 1)
	o.Init(e)
	k := keyFor("late")
	envtest.Step(o, env.Message{From: idOf(k), Frame: frame(oap.ProtoHello, oap.FlagREQ, 1, craftHello(k, idOf(k), o.Self(), []byte("0123456789abcdef"), nil))})
	if got := e.Recorder.Values[envtest.Key(MetricDropped, DropPeersFull)]; got != 1 || len(o.Sessions()) != PeersMax {
		t.Fatalf("peers_full %v, %d sessions", got, len(o.Sessions()))
	}
}

func TestDynamicPeerForgotten(t *testing.T) {
	s := newSolo(t, nil)
	s.handle(env.Start{})
	k := keyFor("visitor")
	s.handle(env.Message{From: idOf(k), Frame: frame(oap.ProtoHello, oap.FlagREQ, 1, craftHello(k, idOf(k), s.o.Self(), []byte("0123456789abcdef"), nil))})
	s.o.Enqueue(idOf(k), appFrame(1))
	if s.o.State(idOf(k)) != StateHandshake {
		t.Fatal("visitor not admitted")
	}
	for range 2 * 60 * 10 { // 2 minutes: more than DynamicAttemptsMax attempts
		s.advance(100 * time.Millisecond)
	}
	if st := s.o.State(idOf(k)); st != StateClosed || len(s.o.Sessions()) != 1 {
		t.Fatalf("visitor %v, %d sessions", st, len(s.o.Sessions()))
	}
	if got := s.value(MetricDropped, DropClosed); got != 1 {
		t.Fatalf("queued frame of the forgotten peer not counted: %v", got)
	}
	// The static peer is still retried.
	if st := s.o.State(s.peer); st != StateBackoff && st != StateHandshake {
		t.Fatalf("static peer %v", st)
	}
}

func TestNewNormalisesConfig(t *testing.T) {
	a, b := idOf(keyFor("b")), idOf(keyFor("c"))
	o := New(Config{Key: keyFor("a"), Peers: []proto.NodeID{b, a, idOf(keyFor("a")), b, {}}})
	if len(o.order) != 2 || o.order[0].Compare(o.order[1]) >= 0 {
		t.Fatalf("peers %v", o.order)
	}
	if o.cfg.SessionTimeout != 3*time.Second || o.cfg.BackoffMax != 10*time.Second || o.cfg.InboundFramesPerSecond != 1000 {
		t.Fatalf("defaults %+v", o.cfg)
	}
	o = New(Config{Key: keyFor("a"), BackoffMin: time.Minute, BackoffMax: time.Second})
	if o.cfg.BackoffMax != time.Minute {
		t.Fatalf("max below min not raised: %v", o.cfg.BackoffMax)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("nil key accepted")
		}
	}()
	New(Config{})
}

func TestStateStringAndRequest(t *testing.T) {
	want := []string{"idle", "handshake", "active", "backoff", "closed"}
	for i, w := range want {
		if State(i).String() != w {
			t.Errorf("State(%d) = %q, want %q", i, State(i), w)
		}
	}
	s := newSolo(t, nil)
	s.handle(env.Request{ID: 1, Service: Name, Body: SessionsRequest{}})
	s.handle(env.Request{ID: 2, Service: Name, Body: 42})
	if len(s.e.Replies) != 2 || len(s.e.Replies[0].Resp.([]SessionInfo)) != 1 {
		t.Fatalf("replies %+v", s.e.Replies)
	}
	if err, _ := s.e.Replies[1].Resp.(error); !errors.Is(err, ErrUnknownRequest) {
		t.Fatalf("reply to an unknown request: %v", s.e.Replies[1].Resp)
	}
}

func TestLimitRelations(t *testing.T) {
	if PeerQueueBytesMax < oap.FrameBytesMax {
		t.Error("a whole frame must fit the send queue")
	}
	if RecvQueueDepthMax > PeerQueueDepthMax || PingsInflightMax < 1 {
		t.Error("queue limits out of proportion")
	}
	if BackoffMaxDefault < BackoffMinDefault || SessionTimeoutHeartbeats < 2 {
		t.Error("defaults out of proportion")
	}
	// The largest HELLO we send fits HelloBytesMax with room for a longer ua.
	var n [NonceBytes]byte
	if b := signHello(nil, keyFor("a"), idOf(keyFor("a")), idOf(keyFor("b")), n, n[:]); len(b)+UABytesMax > HelloBytesMax {
		t.Errorf("reply of %d bytes leaves too little room", len(b))
	}
	if uint64(PeersMax)*DynamicAttemptsMax > slotMax {
		t.Error("slot space too small")
	}
}

// TestClosedMembershipRefusesStrangerHello: with Config.Members set, a
// validly signed HELLO request from a node outside it admits no session
// and is not answered (not_member, before any signature check), while a
// member not configured as a static peer is admitted as before. Before,
// any validly signed HELLO took a place in the table and was answered
// and redialed (the red team's F4: 300 stranger keys filled 254 of
// PeersMax).
func TestClosedMembershipRefusesStrangerHello(t *testing.T) {
	member, stranger := keyFor("member"), keyFor("stranger")
	s := newSolo(t, func(c *Config) {
		c.Members = []proto.NodeID{idOf(keyFor("a")), idOf(keyFor("b")), idOf(member)}
	})
	s.handle(env.Start{})
	s.e.Sent = nil
	nonce := []byte("0123456789abcdef")
	hello := func(k ed25519.PrivateKey) env.Message {
		return env.Message{From: idOf(k), Frame: frame(oap.ProtoHello, oap.FlagREQ, 1, craftHello(k, idOf(k), s.o.Self(), nonce, nil))}
	}
	s.handle(hello(stranger))
	if got := s.value(MetricDropped, DropNotMember); got != 1 {
		t.Fatalf("not_member %v, want 1", got)
	}
	if len(s.o.Sessions()) != 1 || len(s.e.Sent) != 0 {
		t.Fatalf("a stranger's HELLO: %d sessions (want the static peer only), %d frames sent (want none)", len(s.o.Sessions()), len(s.e.Sent))
	}
	s.handle(hello(member))
	if len(s.o.Sessions()) != 2 || s.countKind(oap.ProtoHello, oap.FlagRESP) != 1 {
		t.Fatalf("a member's HELLO: %d sessions (want 2), %d replies (want 1)", len(s.o.Sessions()), s.countKind(oap.ProtoHello, oap.FlagRESP))
	}
}

// TestOpenMembershipAdmitsStrangerHello: without Config.Members any valid
// HELLO admits a dynamic peer, as before.
func TestOpenMembershipAdmitsStrangerHello(t *testing.T) {
	s := newSolo(t, nil)
	s.handle(env.Start{})
	k := keyFor("stranger")
	s.handle(env.Message{From: idOf(k), Frame: frame(oap.ProtoHello, oap.FlagREQ, 1, craftHello(k, idOf(k), s.o.Self(), []byte("0123456789abcdef"), nil))})
	if len(s.o.Sessions()) != 2 || s.value(MetricDropped, DropNotMember) != 0 {
		t.Fatalf("%d sessions, not_member %v: want the stranger admitted", len(s.o.Sessions()), s.value(MetricDropped, DropNotMember))
	}
}

// TestSetMembersAdmitsAddedMember: a SetMembers request replaces the
// closed membership of a running overlay: a node whose HELLO was dropped
// as not_member is admitted once it is listed, and a node dropped from
// the list is refused from then on. The old overlay kept the membership
// it was built with (a member added by rond's reload was refused).
func TestSetMembersAdmitsAddedMember(t *testing.T) {
	added, dropped := keyFor("added"), keyFor("dropped")
	s := newSolo(t, func(c *Config) {
		c.Members = []proto.NodeID{idOf(keyFor("a")), idOf(keyFor("b")), idOf(dropped)}
	})
	s.handle(env.Start{})
	nonce := []byte("0123456789abcdef")
	hello := func(k ed25519.PrivateKey) env.Message {
		return env.Message{From: idOf(k), Frame: frame(oap.ProtoHello, oap.FlagREQ, 1, craftHello(k, idOf(k), s.o.Self(), nonce, nil))}
	}
	s.handle(hello(added))
	if got := s.value(MetricDropped, DropNotMember); got != 1 || len(s.o.Sessions()) != 1 {
		t.Fatalf("before SetMembers: not_member %v (want 1), %d sessions (want 1)", got, len(s.o.Sessions()))
	}
	s.handle(env.Request{ID: 7, Service: Name, Body: SetMembers{Members: []proto.NodeID{idOf(keyFor("a")), idOf(keyFor("b")), idOf(added)}}})
	if n := len(s.e.Replies); n != 1 {
		t.Fatalf("%d replies to SetMembers, want 1", n)
	}
	if _, ok := s.e.Replies[0].Resp.(SetMembers); !ok {
		t.Fatalf("reply to SetMembers: %v, want the request", s.e.Replies[0].Resp)
	}
	s.handle(hello(added))
	if len(s.o.Sessions()) != 2 || s.value(MetricDropped, DropNotMember) != 1 {
		t.Fatalf("an added member's HELLO: %d sessions (want 2), not_member %v (want 1)", len(s.o.Sessions()), s.value(MetricDropped, DropNotMember))
	}
	s.handle(hello(dropped))
	if len(s.o.Sessions()) != 2 || s.value(MetricDropped, DropNotMember) != 2 {
		t.Fatalf("a dropped member's HELLO: %d sessions (want 2), not_member %v (want 2)", len(s.o.Sessions()), s.value(MetricDropped, DropNotMember))
	}
	s.handle(env.Request{ID: 8, Service: Name, Body: SetMembers{}})
	s.handle(hello(dropped))
	if len(s.o.Sessions()) != 3 || s.value(MetricDropped, DropNotMember) != 2 {
		t.Fatalf("an empty membership (open): %d sessions (want 3), not_member %v (want 2)", len(s.o.Sessions()), s.value(MetricDropped, DropNotMember))
	}
}

package quicnet

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/ron-network/ron/core/proto"
)

// peer is one entry of the address book.
//
// Invariants (under Transport.mu): conn, when set, is counted in live;
// live <= ConnsPerPeerMax; a peer with dialing set has exactly one dial
// goroutine running for it.
type peer struct {
	id         proto.NodeID
	addr       string       // "" until configured or learned
	configured bool         // set by AddPeer; such a peer is never evicted
	sources    []netip.Addr // addr's IP addresses, when configured and resolved (SourceGuard.SetEntitledSources)
	seen       []netip.Addr // where a configured peer was last seen, oldest first (Transport.sawPeerAt)
	queue      frameQueue
	conn       *peerConn // the kept connection, nil when there is none
	live       int       // connections whose reader still runs, conn included
	dialing    bool
}

// peerConn is one established, authenticated connection to a peer.
type peerConn struct {
	conn   *quic.Conn
	peer   *peer
	dialer proto.NodeID  // the node that dialed it
	since  time.Time     // when it was adopted
	wake   chan struct{} // capacity 1: frames are waiting in peer.queue
}

// signal wakes the connection's writer without blocking; a pending wake
// already covers every frame queued since.
func (pc *peerConn) signal() {
	select {
	case pc.wake <- struct{}{}:
	default:
	}
}

// peerLocked returns the entry for id, creating it if the address book has
// room (evicting an idle learned peer if it must). It returns nil when the
// book is full of peers that are configured or busy.
func (t *Transport) peerLocked(id proto.NodeID) *peer {
	if p := t.peers[id]; p != nil {
		return p
	}
	if len(t.peers) >= PeersMax && !t.evictLocked() {
		return nil
	}
	p := &peer{id: id, queue: newFrameQueue(t.cfg.SendQueueDepthMax, t.cfg.SendQueueBytesMax)}
	t.peers[id] = p
	return p
}

// evictLocked forgets the idle learned peer with the smallest id (a stable
// choice, so tests and logs are reproducible). Idle means no connection,
// no dial and nothing queued: forgetting it loses only a learned address.
func (t *Transport) evictLocked() bool {
	var victim *peer
	for _, p := range t.peers { // map order ok: the smallest id wins whatever the order
		idle := !p.configured && p.live == 0 && !p.dialing && p.queue.len() == 0
		if idle && (victim == nil || p.id.Compare(victim.id) < 0) {
			victim = p
		}
	}
	if victim == nil {
		return false
	}
	delete(t.peers, victim.id)
	return true
}

// adopt takes an established connection to id, dialed by dialer. If the
// peer already has one, both sides keep the same connection: the newer
// one if both were dialed by the same node (the dialer only dials when it
// has no connection, so the older one is stale), otherwise the one dialed
// by the lower NodeID. learnedAddr ("" for our own dials) becomes the
// peer's address if none is known, so a node that dialed us can be dialed
// back after the connection drops.
//
// A node outside a closed membership (SetMembers) is refused here, under
// t.mu, whichever side dialed, unless AddPeer configured it: SetMembers
// stores the membership before it takes t.mu to close the connections of
// those it dropped, so a connection adopted by a dial, or an accept that
// checked the membership before it changed, is either refused here or
// closed by SetMembers.
func (t *Transport) adopt(conn *quic.Conn, id, dialer proto.NodeID, learnedAddr string) {
	t.mu.Lock()
	if p := t.peers[id]; !t.closed && (p == nil || !p.configured) {
		if !t.memberSet().Admits(id) {
			t.mu.Unlock()
			if dialer == id {
				t.refuseNonMember(conn, id)
				return
			}
			t.log.Info("quicnet: closing a dialed connection: the peer is no longer a member", "peer", id.String())
			_ = conn.CloseWithError(codeNotMember, "not a member")
			return
		}
	}
	reason, refused := t.refuseLocked(id)
	if refused {
		t.mu.Unlock()
		_ = conn.CloseWithError(codeRefused, reason)
		return
	}
	p := t.peerLocked(id)
	if p.addr == "" {
		p.addr = learnedAddr
	}
	pc := &peerConn{conn: conn, peer: p, dialer: dialer, since: time.Now(), wake: make(chan struct{}, 1)}
	loser := p.conn
	if loser != nil && t.keepsExisting(loser, pc) {
		t.mu.Unlock()
		t.log.Debug("quicnet: closing duplicate connection", "peer", id.Short(), "dialer", dialer.Short())
		_ = conn.CloseWithError(codeDuplicate, "duplicate connection")
		return
	}
	p.conn = pc
	p.live++
	if loser == nil {
		t.connected++
		t.metrics.Set(MetricConnections, "", float64(t.connected))
	}
	stale := 0
	if loser != nil && dialer == id && (loser.dialer == id || loser.dialer == t.id && time.Since(loser.since) > SimultaneousOpenWindow) {
		// The peer dialed although we held a connection to it: it lost
		// that one, most often by restarting. What we queued meanwhile
		// (heartbeats and appends of seconds ago, hundreds when the old
		// connection's writes were blocked) was meant for the process
		// that is gone; delivered first, it kept a restarted replica
		// busy rejecting stale appends for seconds before the fresh ones
		// arrived (BENCHMARKS.md, "Cross-check, refreshed"). Drop it and
		// report the peer lost, so raft probes it afresh.
		stale = len(p.queue.drain())
		t.drop(DropPeerRedialed, stale)
	}
	t.wg.Add(3)
	go t.readLoop(pc)
	go t.writeLoop(pc)
	go t.watchLoop(pc)
	if p.queue.len() > 0 {
		pc.signal()
	}
	t.checkPeerLocked(p)
	t.mu.Unlock()
	t.log.Debug("quicnet: connection established", "peer", id.Short(), "dialer", dialer.Short(), "remote", conn.RemoteAddr().String())
	if loser != nil {
		_ = loser.conn.CloseWithError(codeDuplicate, "duplicate connection")
	}
	if stale > 0 {
		t.log.Debug("quicnet: the peer redialed; dropped the frames queued for its old connection", "peer", id.Short(), "frames", stale)
		t.cfg.Lost(id)
	}
}

// refuseLocked decides whether a new connection to id must be closed
// before the duplicate rule runs, and counts the reason.
func (t *Transport) refuseLocked(id proto.NodeID) (string, bool) {
	switch p := t.peers[id]; {
	case t.closed:
		return "shutdown", true
	case id == t.id:
		t.drop(DropSelf, 1)
		return "connection to self", true
	case p == nil && len(t.peers) >= PeersMax && !t.evictLocked():
		t.drop(DropPeersFull, 1)
		return "peers full", true
	case p != nil && p.live >= t.cfg.ConnsPerPeerMax:
		t.drop(DropConnsFull, 1)
		return "connections per peer full", true
	}
	return "", false
}

// keepsExisting applies the duplicate rule; both ends reach the same
// verdict because it depends only on the two dialers' ids, except for a
// stale connection: the peer dials only when it holds no connection, so
// its dial arriving more than SimultaneousOpenWindow after we adopted one
// we dialed means it lost ours (it restarted, or closed it as stalled
// with a CONNECTION_CLOSE that did not arrive). Keeping ours would refuse
// the restarted peer until a stateless reset answers a probe that QUIC's
// backed-off timer may send seconds later.
func (t *Transport) keepsExisting(existing, fresh *peerConn) bool {
	if existing.dialer == fresh.dialer {
		return false
	}
	if existing.dialer == t.id && time.Since(existing.since) > SimultaneousOpenWindow {
		return false
	}
	lower := t.id
	if existing.peer.id.Compare(t.id) < 0 {
		lower = existing.peer.id
	}
	return existing.dialer == lower
}

// connDone runs when a connection's reader ends (the connection is closed
// by then). If it was the kept one and frames are waiting, it redials.
// Frames written on it and not yet acknowledged may be lost, so the loss
// is reported (except at Close).
func (t *Transport) connDone(pc *peerConn) {
	t.mu.Lock()
	p := pc.peer
	p.live--
	kept := p.conn == pc
	if kept {
		p.conn = nil
		t.connected--
		t.metrics.Set(MetricConnections, "", float64(t.connected))
		if p.queue.len() > 0 {
			t.maybeDialLocked(p)
		}
	}
	t.checkPeerLocked(p)
	closed := t.closed
	t.mu.Unlock()
	if kept && !closed {
		t.cfg.Lost(p.id)
	}
}

func (t *Transport) checkPeerLocked(p *peer) {
	if p.live < 0 || p.live > t.cfg.ConnsPerPeerMax || (p.conn != nil && p.live == 0) {
		panic(fmt.Sprintf("quicnet: peer %s has %d live connections (kept %v), bound %d", p.id.Short(), p.live, p.conn != nil, t.cfg.ConnsPerPeerMax))
	}
	if t.connected < 0 || t.connected > len(t.peers) {
		panic(fmt.Sprintf("quicnet: %d connected peers out of %d", t.connected, len(t.peers)))
	}
}

package quicnet

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/ron-network/ron/core/proto"
)

// maybeDialLocked starts the peer's dial goroutine unless one runs, a
// connection exists, no address is known or the transport is closing.
func (t *Transport) maybeDialLocked(p *peer) {
	if p.dialing || p.conn != nil || p.addr == "" || t.closed {
		return
	}
	p.dialing = true
	t.wg.Add(1)
	go t.dialLoop(p)
}

// dialLoop dials until a connection is adopted, the queue empties (an
// inbound connection drained it, or it was dropped), or DialAttemptsMax
// attempts fail, pausing with doubling backoff between attempts. The
// machines above have their own reconnect policy; this loop only gives a
// queue that is waiting a fair chance.
func (t *Transport) dialLoop(p *peer) {
	defer t.wg.Done()
	backoff := DialBackoffMin
	for attempt := 1; ; attempt++ {
		addr, ok := t.dialAddr(p)
		if !ok {
			return
		}
		conn, err := t.dialOnce(p.id, addr)
		if err == nil {
			t.sawPeerAt(p.id, sourceOf(conn.RemoteAddr()))
			t.adopt(conn, p.id, t.id, "")
			t.endDial(p)
			return
		}
		t.log.Debug("quicnet: dial failed", "peer", p.id.Short(), "addr", addr, "attempt", attempt, "err", err)
		t.noteRefusedAsNonMember(p.id, err) // closed as soon as its handshake ended
		if retry, lost := t.retryDial(p, attempt); !retry {
			if lost {
				t.cfg.Lost(p.id)
			}
			return
		}
		timer := time.NewTimer(backoff)
		select {
		case <-t.ctx.Done():
			timer.Stop()
			t.endDial(p)
			return
		case <-timer.C:
		}
		backoff = min(2*backoff, DialBackoffMax)
	}
}

// dialAddr returns the address to dial, or false (ending the dial) when
// there is no longer a reason to.
func (t *Transport) dialAddr(p *peer) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || p.conn != nil || p.queue.len() == 0 {
		p.dialing = false
		return "", false
	}
	return p.addr, true
}

// retryDial decides after a failed attempt; after the last one it drops
// the queue so frames do not wait forever for a peer that is gone.
// It reports whether to retry, and whether frames were dropped.
func (t *Transport) retryDial(p *peer, attempt int) (retry, lost bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || p.conn != nil || p.queue.len() == 0 {
		p.dialing = false
		return false, false
	}
	if attempt >= DialAttemptsMax {
		lost := len(p.queue.drain())
		t.drop(DropUnreachable, lost)
		t.log.Info("quicnet: peer unreachable, dropped its queue", "peer", p.id.Short(), "addr", p.addr, "frames", lost)
		p.dialing = false
		return false, true
	}
	return true, false
}

func (t *Transport) endDial(p *peer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	// Frames queued while a refused or short-lived connection was being
	// adopted wait for the next Send to dial: redialing here could spin
	// without backoff against a peer that keeps closing us.
	p.dialing = false
}

// dialOnce makes one attempt and counts a failed handshake by its reason.
func (t *Transport) dialOnce(id proto.NodeID, addr string) (*quic.Conn, error) {
	udpAddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(t.ctx, t.cfg.HandshakeTimeout)
	defer cancel()
	var outcome dialOutcome
	conn, err := t.qt.Dial(ctx, udpAddr, clientTLS(t.cert, id, &outcome), t.qconf)
	if err != nil {
		if t.ctx.Err() == nil {
			t.countHandshakeFail(dialFailReason(outcome.get(), err))
		}
		return nil, err
	}
	return conn, nil
}

// dialFailReason prefers the reason our own certificate check recorded:
// quic-go reports that failure as a generic TLS alert.
func dialFailReason(checked string, err error) string {
	if checked != "" {
		return checked
	}
	var handshakeTimeout *quic.HandshakeTimeoutError
	var idleTimeout *quic.IdleTimeoutError
	if errors.As(err, &handshakeTimeout) || errors.As(err, &idleTimeout) || errors.Is(err, context.DeadlineExceeded) {
		return FailTimeout
	}
	return FailTLS
}

package quicnet

import (
	"bufio"
	"errors"
	"io"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
)

// readLoop reads the peer's frame stream until it ends, delivering each
// frame, then closes the connection: a connection whose peer stopped
// sending is half dead and the peer will open a new one.
func (t *Transport) readLoop(pc *peerConn) {
	defer t.wg.Done()
	defer t.connDone(pc)
	code, reason := t.readFrames(pc)
	_ = pc.conn.CloseWithError(code, reason)
}

// readFrames returns the close code and description for the connection.
// Each frame gets its own buffer, handed to deliver without a copy;
// oap.ReadFrame validates the header (at most FrameBytesMax) and grows
// the buffer to 64 KiB, then to the frame's length once 64 KiB arrived.
func (t *Transport) readFrames(pc *peerConn) (quic.ApplicationErrorCode, string) {
	stream, err := pc.conn.AcceptUniStream(t.ctx)
	if err != nil {
		t.noteRefusedAsNonMember(pc.peer.id, err)
		return codeShutdown, "closed"
	}
	r := bufio.NewReaderSize(stream, ReadBufferBytes)
	for {
		frame, buf, err := oap.ReadFrame(r, nil)
		if err != nil {
			return t.readFailed(pc, err)
		}
		t.metrics.Add(MetricFrames, DirRecv, 1)
		if injectedDrop(FailpointReceive) {
			t.drop(DropInjected, 1)
			continue
		}
		t.deliver(pc.peer.id, buf[:frame.Len])
	}
}

// readFailed classifies the end of a frame stream. A malformed frame is
// counted under its OAP reject reason and closes the connection: the
// length field is the only delimiter, so nothing after it can be trusted.
func (t *Transport) readFailed(pc *peerConn, err error) (quic.ApplicationErrorCode, string) {
	if reason := oap.ReasonOf(err); reason != "" {
		t.metrics.Add(MetricOAPRejects, string(reason), 1)
		// Paced (logpace.go): a peer with fresh keys, where the
		// membership is open, could otherwise write a line per connection.
		if ok, suppressed := t.malformedLog.due(pc.peer.id, time.Now()); ok {
			if suppressed > 0 {
				t.log.Warn("quicnet: more malformed frames not logged", "suppressed", suppressed, "window", logWindow)
			}
			t.log.Warn("quicnet: malformed frame from peer, closing the connection",
				"peer", pc.peer.id.Short(), "reason", string(reason), "err", err)
		}
		return codeProtocol, string(reason)
	}
	if errors.Is(err, io.EOF) {
		return codeStreamEnd, "send stream ended"
	}
	t.noteRefusedAsNonMember(pc.peer.id, err)
	return codeShutdown, "closed" // the connection or stream failed; nothing to tell
}

// noteRefusedAsNonMember logs, paced per peer, that peer closed a
// connection (or our dial) because this node is not in its closed
// membership (codeNotMember): the operator of a node left out of a
// cluster's member lists learns which node refuses it, and what to list
// where.
func (t *Transport) noteRefusedAsNonMember(peer proto.NodeID, err error) {
	var appErr *quic.ApplicationError
	if !errors.As(err, &appErr) || !appErr.Remote || appErr.ErrorCode != codeNotMember {
		return
	}
	if ok, suppressed := t.refusedByLog.due(peer, time.Now()); ok {
		if suppressed > 0 {
			t.log.Warn("quicnet: more refusals by peers not logged", "suppressed", suppressed, "window", logWindow)
		}
		t.log.Warn("quicnet: peer "+peer.String()+" refused this node: not a member of its cluster; list this node ("+
			t.id.String()+") in members on that node if it belongs to the cluster", "peer", peer.String())
	}
}

// writeLoop writes the peer's queued frames on one unidirectional stream,
// opened with the first batch. It ends when the connection closes or stops
// being the peer's kept connection; frames still queued then wait for the
// next one.
func (t *Transport) writeLoop(pc *peerConn) {
	defer t.wg.Done()
	done := pc.conn.Context().Done()
	var stream *quic.SendStream
	var joined []byte // the frames of one write, reused
	for {
		select {
		case <-done:
			return
		case <-pc.wake:
		}
		batch, current := t.takeBatch(pc)
		if !current {
			return
		}
		if stream == nil {
			var err error
			if stream, err = pc.conn.OpenUniStreamSync(pc.conn.Context()); err != nil {
				t.writeFailed(pc, len(batch), err)
				return
			}
		}
		for len(batch) > 0 {
			var out []byte
			var n int
			out, n, joined = coalesce(batch, joined)
			if _, err := stream.Write(out); err != nil {
				t.writeFailed(pc, len(batch), err)
				return
			}
			t.metrics.Add(MetricFrames, DirSend, float64(n))
			batch = batch[n:]
		}
		if cap(joined) > 2*coalesceBytesMax {
			joined = nil
		}
	}
}

// coalesceBytesMax bounds the frames writeLoop joins into one stream
// write. A frame is length-prefixed, so the bytes on the stream are the
// same; one write instead of one per frame lets quic-go pack a batch (a
// Ready's raft messages, a few forwarded writes and their answers) into
// as few packets as its size needs, where a write per frame blocks until
// the connection's send loop took the previous one and usually leaves in
// a packet of its own (a sendmsg and a wake-up of each side per frame).
const coalesceBytesMax = 64 << 10

// coalesce returns the bytes of one stream write and how many of batch's
// leading frames (at least one) they hold: the first frame itself, or the
// leading frames that fit in coalesceBytesMax joined into buf (returned
// for reuse).
func coalesce(batch [][]byte, buf []byte) (out []byte, n int, reuse []byte) {
	if len(batch) < 2 || len(batch[0])+len(batch[1]) > coalesceBytesMax {
		return batch[0], 1, buf
	}
	buf = buf[:0]
	for n < len(batch) && len(buf)+len(batch[n]) <= coalesceBytesMax {
		buf = append(buf, batch[n]...)
		n++
	}
	return buf, n, buf
}

// takeBatch takes the oldest of the peer's queued frames, up to
// WriteBatchBytesMax (at least one), if pc is still its kept connection,
// and wakes the writer again when frames remain. Draining the whole queue
// was rejected: a write blocked by a peer that stopped reading then held a
// full queue's worth of frames outside the queue's bounds while the queue
// filled again behind it.
func (t *Transport) takeBatch(pc *peerConn) ([][]byte, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if pc.peer.conn != pc {
		return nil, false
	}
	batch := pc.peer.queue.take(WriteBatchBytesMax)
	if pc.peer.queue.len() > 0 {
		pc.signal()
	}
	return batch, true
}

func (t *Transport) writeFailed(pc *peerConn, lost int, err error) {
	t.drop(DropConnLost, lost)
	t.log.Debug("quicnet: write failed, closing the connection", "peer", pc.peer.id.Short(), "lost_frames", lost, "err", err)
	_ = pc.conn.CloseWithError(codeShutdown, "write failed")
	t.cfg.Lost(pc.peer.id)
}

// watchLoop closes the connection when it received no packet for
// StallTimeout (see Config.StallTimeout). A healthy connection always
// receives something: the peer's frames, or the ACK of the keep-alive PING
// quic-go sends after KeepAlive of silence.
func (t *Transport) watchLoop(pc *peerConn) {
	defer t.wg.Done()
	tick := time.NewTicker(t.cfg.StallTimeout / stallChecks)
	defer tick.Stop()
	done := pc.conn.Context().Done()
	last, quiet := pc.conn.ConnectionStats().PacketsReceived, 0
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		if n := pc.conn.ConnectionStats().PacketsReceived; n != last {
			last, quiet = n, 0
			continue
		}
		if quiet++; quiet < stallChecks {
			continue
		}
		t.drop(DropStalled, 1)
		t.log.Info("quicnet: nothing received from the peer, closing the connection to redial",
			"peer", pc.peer.id.Short(), "stall_timeout", t.cfg.StallTimeout)
		_ = pc.conn.CloseWithError(codeStalled, "nothing received")
		return
	}
}

package oapgate

import (
	"cmp"
	"errors"
	"fmt"

	"github.com/quic-go/quic-go"

	"github.com/ron-network/ron/core/proto/oap"
)

// Connection close codes (CONNECTION_CLOSE); the reason phrase says more.
const (
	codeShutdown  quic.ApplicationErrorCode = 0 // the server is closing
	codeBadHello  quic.ApplicationErrorCode = 1 // no valid HELLO; the phrase is the oap error
	codeRefused   quic.ApplicationErrorCode = 2 // ConnsMax connections are open
	codeHelloLost quic.ApplicationErrorCode = 3 // the HELLO exchange broke off (the client reset its stream)
	// codeHelloEvicted: the connection was still in its HELLO, the oldest
	// of more than HelloPendingPerSourceMax from its source.
	codeHelloEvicted quic.ApplicationErrorCode = 4
	// codeEvicted: ConnsMax connections were open and this one, with no
	// request in flight, was idle longest: a new one took its place. No
	// request of it ran after that choice (one started since was reset
	// with StreamCodeBusy).
	codeEvicted quic.ApplicationErrorCode = 5
	// codeIdle: the connection had no request stream for
	// ConnIdleTimeout. No request of it ran after that choice (one whose
	// START completed since was reset with StreamCodeBusy).
	codeIdle quic.ApplicationErrorCode = 6
)

// Stream error codes (RESET_STREAM and STOP_SENDING). A stream rejected
// for a protocol violation is reset both ways with its reason's code
// (RejectCode), so the client can name the reason.
const (
	// StreamCodeDone: the reader needs nothing more (a body the response
	// did not need, or the rest of a finished stream).
	StreamCodeDone quic.StreamErrorCode = 0
	// StreamCodeAborted: the response was cut after it started (the
	// handler aborted, e.g. a stored object failed verification), so the
	// client sees a failed body, never a complete wrong one.
	StreamCodeAborted quic.StreamErrorCode = 1
	// StreamCodeCancelled: one side gave up (the client's context, a
	// frame timeout, the server closing).
	StreamCodeCancelled quic.StreamErrorCode = 2
	// StreamCodeBusy: the node refused the request before serving it,
	// because the START frames being received on the connection, from
	// its source or in all were at their bound
	// (oapgate_streams_refused_total{reason}), or because the connection
	// was chosen for eviction at ConnsMax or for its idle close (its
	// close, code 5 or 6, follows;
	// oapgate_streams_refused_total{reason="conn_closing"}).
	// Nothing was served: the client may retry (on a new connection
	// after an eviction) once its other requests are under way.
	StreamCodeBusy quic.StreamErrorCode = 3
)

// rejectCodes gives each stream-level reject reason a stable code. Never
// renumber one: clients map codes back to reasons. bad_hello is missing on
// purpose: it closes the connection, not a stream.
var rejectCodes = []struct {
	reason oap.Reason
	code   quic.StreamErrorCode
}{
	{oap.ReasonFrameOversize, 0x101},
	{oap.ReasonHeaderMalformed, 0x102},
	{oap.ReasonTruncated, 0x103},
	{oap.ReasonBadFlags, 0x104},
	{oap.ReasonCapOnNonStart, 0x105},
	{oap.ReasonDecompressBound, 0x106},
	{oap.ReasonDecompressFailed, 0x107},
	{oap.ReasonUnknownApp, 0x108},
	{ReasonBadHead, 0x109},
	{oap.ReasonDecompressWindow, 0x10a},
}

// RejectCode is the stream error code of a reject reason (StreamCodeAborted
// for a reason without one, which would be a bug).
func RejectCode(reason oap.Reason) quic.StreamErrorCode {
	for _, rc := range rejectCodes {
		if rc.reason == reason {
			return rc.code
		}
	}
	return StreamCodeAborted
}

func reasonOfCode(code quic.StreamErrorCode) oap.Reason {
	for _, rc := range rejectCodes {
		if rc.code == code {
			return rc.reason
		}
	}
	return ""
}

// RemoteError is how a client sees the node end a request: a reset
// stream or a closed connection. When the node rejected a protocol
// violation, Reason names it and errors.Is(err, oap.ErrBadFlags) and
// friends hold (oap.ReasonOf works too).
type RemoteError struct {
	Reason oap.Reason // "" when the code names no reject
	// Connection is true when the whole connection was closed.
	Connection bool
	Code       uint64
	Detail     string // the CONNECTION_CLOSE reason phrase
}

func (e *RemoteError) Error() string {
	what := "reset the request stream"
	if e.Connection {
		what = "closed the connection"
	}
	switch {
	case e.Busy() && e.Connection:
		return fmt.Sprintf("oapgate: the node closed the idle connection (code %d: %s) before serving the request; retry on a new connection", e.Code, cmp.Or(e.Detail, "no request stream for its idle timeout"))
	case e.Busy():
		return "oapgate: the node refused the request stream unserved: too many START frames pending (per connection, source or node), or its connection is being closed (evicted or idle); retry later"
	case e.Detail != "":
		return fmt.Sprintf("oapgate: the node %s: %s", what, e.Detail)
	case e.Reason != "":
		return fmt.Sprintf("oapgate: the node %s: %s", what, e.Reason)
	}
	return fmt.Sprintf("oapgate: the node %s (code %d)", what, e.Code)
}

// ErrBusy is what errors.Is finds in a RemoteError for a request the
// node refused before serving any of it, so that sending the same
// request again, a little later, is safe, a PUT too: its stream was
// reset with StreamCodeBusy (its START frame was not read whole, or its
// connection was being evicted or closed as idle; the handler never
// ran), or its connection was closed as idle (code 6), which the node
// does only to a connection with no request stream: the request raced
// the close and was never served. The client dials a new connection for
// the next request. Not a connection evicted at ConnsMax (code 5): the
// node evicts one with no request in flight, but a response it wrote
// whole may still be on its way, unacknowledged.
var ErrBusy = errors.New("oapgate: the node refused the request unserved (busy, or closing the connection); retry later")

// Is reports whether e is ErrBusy.
func (e *RemoteError) Is(target error) bool {
	return target == ErrBusy && e.Busy()
}

// Busy reports whether the node refused the request before serving any
// of it (ErrBusy): the request may be retried.
func (e *RemoteError) Busy() bool {
	if e.Connection {
		return e.Code == uint64(codeIdle)
	}
	return e.Code == uint64(StreamCodeBusy)
}

// Unwrap exposes the reject, when there is one, as an *oap.Error.
func (e *RemoteError) Unwrap() error {
	if e.Reason == "" {
		return nil
	}
	return &oap.Error{Reason: e.Reason}
}

// remoteError turns a quic-go stream or connection error caused by the
// node into a RemoteError; other errors pass unchanged.
func remoteError(err error) error {
	var se *quic.StreamError
	if errors.As(err, &se) && se.Remote {
		return &RemoteError{Reason: reasonOfCode(se.ErrorCode), Code: uint64(se.ErrorCode)}
	}
	var ae *quic.ApplicationError
	if errors.As(err, &ae) && ae.Remote {
		e := &RemoteError{Connection: true, Code: uint64(ae.ErrorCode), Detail: ae.ErrorMessage}
		if quic.ApplicationErrorCode(ae.ErrorCode) == codeBadHello {
			e.Reason = oap.ReasonBadHello
		}
		return e
	}
	return err
}

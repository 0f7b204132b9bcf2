// Package oapgate is a node's OAP/1 client endpoint (ARCHITECTURE 5.1 and 5.8):
// the gateway's client API, with the same enforcement, over QUIC instead
// of HTTP. It adapts each OAP/1 request onto the node's http.Handler (the
// io/gateway Gateway) in process, so admission, tokens, policy, audit,
// streaming bodies and the error envelope are the gateway's own, not a
// second implementation that could drift from it.
//
// # Transport and identity
//
// QUIC with ALPN "oap/1" on its own UDP address (rond --oap-addr), apart
// from the peers' "ron/1" socket. The server presents the node's
// self-signed certificate (quicnet.SelfSignedCertificate: the node key is
// the certificate key) and asks for no client certificate: a client is
// authorised per request by its token, not by who it is. A client either
// pins the node (ClientConfig.NodeID: BLAKE3 of the certificate key must
// be that id, else the handshake fails with ErrPinMismatch) or sets
// InsecureSkipVerify explicitly; it must choose one.
//
// # Session
//
// A connection's first stream carries the HELLO exchange (app_proto_id 0,
// core/proto/oap's HELLO codec): the client's {"ua"} request, the node's
// reply with max_frame (oap.FrameBytesMax), max_inflight
// (StreamsPerConnMax, enforced by QUIC's stream limit), flags_supported
// (FlagsSupported: REQ RESP START END COMP) and versions. Anything else
// first, or nothing within HelloTimeout, is bad_hello: counted, and the
// connection closed with that reason.
//
// # One stream per request
//
// Every later stream is one request, app_proto_id oap.ProtoClient (6):
//
//	client: REQ|START  cap = the token, payload = RequestHead  (+END when no body)
//	        REQ ...    body bytes, at most max_frame per frame
//	        REQ|END    the last body bytes (possibly none)
//	node:   RESP|START code = HTTP status, payload = ResponseHead (+END when no body)
//	        RESP ...   body bytes, BodyFrameBytes per frame
//	        RESP|END   the last body bytes
//
// Having read the END frame, the client stops reading the stream
// (STOP_SENDING with StreamCodeDone): that is the acknowledgement the node
// waits for before it lets the stream go, the only sign QUIC gives that
// the response arrived, so Shutdown can drain without cutting answers
// short. The node sends no FIN before it (after FrameTimeout without one
// it sends a FIN and moves on).
//
// corr_id is the client's, the same on every frame of the stream and
// echoed on the response, like tenant_id (which is not otherwise used: the
// tenant is the token's). COMP is accepted on request frames (zstd);
// responses are not compressed. A compressed payload may inflate only to
// what the same payload could be uncompressed, far below
// oap.InflatedBytesMax: a head to HeadBytesMax (past it, bad_head), a body
// frame to one frame's payload, oap.FrameBytesMax less the header (past
// it, decompress_bound). The inflation stops at the first byte past the
// bound. Each zstd frame of the payload must be single-segment (content
// size declared, as oap.Compress and EncodeAll write it) or declare a
// window of at most 64 KiB in a head and 2 MiB in a body frame (past it,
// decompress_window, whatever it holds, head or body): the decoder sizes
// its history from the declared window. 2 MiB is libzstd's window for a
// stream of unknown size (the zstd CLI reading a pipe); klauspost's
// NewWriter declares 8 MiB unless given WithWindowSize(2<<20) or less.
//
// Heads use core/proto/wire's deterministic encoding (head.go): a request
// is method, target (path and query) and header fields; a response is its
// fields. Fields are sorted by canonical name and only the canonical form
// decodes, so a head has one encoding. Content-Length, when present, is
// enforced on the body both ways.
//
// The capability bytes become the handler's "Authorization: Bearer"
// header, so the gateway verifies them exactly as it verifies an HTTP
// token (401 with the deny reason when missing or invalid, 403 when the
// token does not cover the request, then the policy). An Authorization
// field inside the head is refused with 400 BAD_REQUEST, not stripped: a
// client that put its token there would otherwise be served as anonymous
// and be puzzled by the 401 that follows.
//
// # Protocol violations
//
// A frame the codec rejects (frame_oversize, header_malformed, bad_flags,
// cap_on_non_start), a START frame declaring more than StartFrameBytesMax
// (frame_oversize: the header, a token of at most oap.CapBytesMax, a
// head of at most HeadBytesMax and 256 bytes for zstd's framing of a
// compressed head, 69,926 bytes; refused from its header,
// before any of its payload is read), a frame of another app_proto_id (unknown_app), a
// request frame without REQ, a first frame without START or a later one
// with it (bad_flags), a stream that ends before END (truncated), a COMP
// payload past the bound, declaring too large a window or not zstd
// (decompress_bound, decompress_window, decompress_failed) and a START payload that is not a canonical head
// (bad_head, this package's ReasonBadHead) each count
// oap_rejects_total{reason} and reset that stream, both ways, with the
// reason's stable code (RejectCode); the client maps it back into a
// RemoteError naming the reason. The connection and its other requests
// go on. Nothing a client sends makes the server panic; a handler panic
// is recovered and resets its stream.
//
// # Memory
//
// Bodies stream both ways. The server holds, per request, the frame being
// received (at most oap.FrameBytesMax; its buffer grows only as the
// frame's bytes arrive: a header declaring a MiB costs 64 KiB until 64
// KiB arrived, not a MiB) and one response frame being built (BodyFrameBytes) plus the
// body bytes waiting for it, about 1.5 MiB; the gateway reads and writes
// storage chunks. A compressed body frame adds its inflated payload (up
// to a frame's) and, while it inflates, zstd's history (twice the
// window, at most 2 MiB) and the output buffer's doublings: up to about
// 7.5 MiB for that moment, 2.5 MiB after.
// Before the handler has the request, a stream holds its goroutine and
// quic-go's stream state (about 9 KiB together) and what its client sent
// of the START frame (at most StartFrameBytesMax, 69,926 bytes; a header
// declaring more is frame_oversize at once) and, for a compressed head,
// at most HeadBytesMax inflated plus twice that of history. The whole
// START must arrive within StartTimeout (5 s) of the stream's accept,
// header included, else the stream is cancelled (StreamCodeCancelled):
// a stream that sends nothing, or a START sent more slowly than about 14
// KB/s, holds those for at most 5 s. (With FrameTimeout, 30 s, a red
// team's streams that sent no header held about 4,000 goroutines from
// one address, 600 MB from 17.) The deadline alone does not bound a
// client that re-opens each stream as soon as it is cancelled (a red
// team's kept 3,840 waiting from one address, churning 15,000 in 20 s),
// so at most StartStreamsPerSourceMax (256) streams per source may wait
// for their START; one more is reset with StreamCodeBusy as it is
// accepted, before a goroutine is started for it
// (oapgate_streams_refused_total{reason="start_streams_source"}). So
// streams waiting for their START hold at most about 2.3 MB per source,
// and 600 MB only with ConnsMax connections' StreamsPerConnMax streams
// from 256 sources or more.
//
// Those STARTs are bounded before any token is checked, by what they
// buffer, not by what they declare. A START's first StartFreeBytes (8
// KiB, header included: a token and an ordinary head) are charged to
// nothing, so no number of STARTs pending elsewhere refuses an ordinary
// request; those free parts cost at most 512 KiB per connection, 2 MiB
// per source (StartStreamsPerSourceMax streams, below) and 512 MiB for
// ConnsMax connections from 256 sources or more, each for at most
// StartTimeout, and only once their bytes have arrived (the buffer
// starts at 512 bytes and doubles as they do, so a header declaring a
// long START costs little until its bytes come). Past it the
// START's buffer grows StartChunkBytes (8 KiB) at a time, each chunk
// charged before it is allocated and everything given back when the
// frame is whole or the stream fails: at most StartPendingConnBytesMax
// (1 MiB) per connection, StartPendingSourceBytesMax (4 MiB) per source
// (keyed as the per-source connection quota keys it: the address, an
// IPv6 /64) and StartPendingBytesMax (64 MiB) for the endpoint, past
// which only a source holding less than its fair share (the bytes
// charged over the sources holding some; a source holding nothing
// always is) is charged, up to StartPendingCeilingBytes (80 MiB). A
// stream whose next chunk would pass one is reset with StreamCodeBusy,
// counted in oapgate_streams_refused_total{reason} (start_pending_conn,
// start_pending_source, start_pending_node); the connection serves on.
// The handler never saw that request, so a client may send it again: the
// client's error is a RemoteError that errors.Is finds ErrBusy in.
// A START is charged at most StartChunkBytes more than what arrived of
// it, so holding the bound costs the bytes themselves: the largest START
// less its free part (StartChargedBytesMax) sent all but its last byte,
// 16 per connection and 67 per source, each for at most StartTimeout.
// Charging the length a header declares let 16 sources sending headers
// alone (38 bytes each) hold the node's 64 MiB for as long as they kept
// re-opening streams, and every other START was refused.
// Reading the START with oap.FrameBytesMax and no such bound let one
// address without a token hold 64 connections x 64 streams x a MiB, 4
// GiB, each for FrameTimeout. The price now: sources together holding
// the ceiling (at least twenty, at their 4 MiB, each sending it every 5
// s) make a START larger than StartFreeBytes from a source that has
// nothing charged wait for a retry; smaller STARTs are not affected.
//
// After the handler has the request, a body frame's buffer (up to
// oap.FrameBytesMax) exists only while the handler reads the body, which
// the gateway does only for a request it authenticated and admitted:
// the gateway's RequestsPerSource (64 by default) and its admission
// in-flight cap bound those per source and in all. Once the handler
// returns, the stream lets go of its frame buffers before it waits (up
// to FrameTimeout) for the client's acknowledgement, which no gateway
// count covers. The client holds one frame each
// way. QUIC flow control bounds what is in flight per stream and
// connection: the client's receive windows start at 2 and 4 MiB (per
// stream and connection), the node's at 512 KiB and 1 MiB, and quic-go
// grows them, as the receiver reads, to at most 6 and 15 MiB (64 MiB
// PUTs over loopback, ronctl to rond on a shared 2-core machine, ran at
// 94-184 MB/s with the node's smaller start and 97-207 MB/s with 2 and 4
// MiB, back to back: no difference past the noise). quic-go
// buffers what a client sends on streams the node has not accepted yet,
// up to the connection's window, and the node accepts request streams
// only after the HELLO: a source may have at most
// HelloPendingPerSourceMax (8) connections in their HELLO (one more
// closes the oldest of them, code 4, counted as hello_pending: an honest
// client says HELLO within a round trip, so silent connections held by
// someone behind the same NAT or /64 cannot lock it out, as closing the
// newest did), so that costs at most 8 MiB per source and, with every
// connection in its HELLO, 1 GiB for ConnsMax (1024), each for at most
// HelloTimeout (a red team measured about 1 MiB per such connection).
// (With 4 MiB windows and no such bound, 60 connections from one
// address took a node from 62 to 663 MB of RSS; with a cap of 4, from 25
// to 78 MB.) So a request costs about 1.5 MiB beyond the
// gateway's own bound whatever the object's size (7.5 MiB at most with
// compressed body frames), and a connection at most StreamsPerConnMax of
// them; ConnsMax bounds the established connections (see Connections),
// ConnsMax plus a quarter the connections handshakes included
// (handshakes_full, before quic-go allocates anything), and
// quicnet.SourceGuard the connections per source; a connection without a
// HELLO after HelloTimeout (3 s) is closed, and a HELLO frame may declare
// at most oap.HelloFrameBytesMax (frame_oversize, refused from its
// header). The client endpoint has no reserved room: clients are
// authorised per request, after the handshake, so an attacker holding
// that bound with pending handshakes (each up to twice HandshakeTimeout)
// refuses new clients until they expire.
//
// # Connections
//
// At most ConnsMax connections (ConnsDefault, 1024) are counted open
// (oapgate_connections), HELLO or not. QUIC's idle timeout (IdleTimeout,
// 30 s; quic-go's MaxIdleTimeout, the smaller of both sides') closes only
// a connection that receives no packet at all for that long, and any
// ack-eliciting packet resets it, PINGs included: this package's Client
// sends one every KeepAliveDefault (10 s; quic-go's KeepAlivePeriod,
// capped at half the idle timeout), and any client may. So QUIC alone
// never closes a connection whose client keeps pinging without doing any
// work: the gap is not connections nobody pings, which QUIC does close,
// but those. The server therefore closes a connection that has had no
// request stream for ConnIdleTimeout (ConnIdleTimeoutDefault, 2 min, the
// HTTP listener's keep-alive timeout), since its accept or its last
// stream's end, with code 6 and the reason "idle: no request for 2m0s",
// counted in oapgate_conns_idle_closed_total; a client dials again for
// its next request (this package's Client does so by itself). A stream
// waiting for its START or for the acknowledgement of its response
// keeps the connection (StartTimeout and FrameTimeout bound those), and
// so does a request in flight, however long. As with an eviction (below),
// the connection is forgotten before the close, so a request whose START
// completes after that choice is refused unserved (StreamCodeBusy) rather
// than cut. A request that raced the close fails either so or with the
// close (code 6) itself, and errors.Is finds ErrBusy in both: it was
// never served, so it may be sent again (on a new connection). Below ConnsMax nothing else closed such connections: they
// held their memory and goroutines for as long as their clients pinged.
// Within ConnIdleTimeout, connections that said HELLO and then sent
// nothing else can still fill the table (before it, for ever): 16 sources at their
// 64 connections (quicnet.ConnsPerSourceDefault) filled the 1024 and
// every new client was refused, at about 200 KiB and three goroutines a
// connection. So at ConnsMax a new connection takes the place of the
// one idle longest: no request in flight (from its whole START frame
// until its response is written; a stream waiting for its START or for
// the acknowledgement of its response does not count), and the longest
// since its accept or since a request of it began or ended, chosen
// first among the quiet ones (no request stream at all: closing one
// whose response awaits its acknowledgement would lose that response,
// and the client could not tell whether its write was applied), and
// only when none is quiet among the others with no request in flight,
// so that streams held open cannot lock new clients out. That one is
// closed (code 5, "evicted"), counted in oapgate_conns_evicted_total and
// logged at info with its address, why it was chosen (reason "quiet":
// no request stream; "no_request_in_flight": streams, none of them a
// request in flight) and how long since its last request began or
// ended; the lines are paced as the transport's are
// (quicnet.LogPacer: at most 10 a minute, then one line saying how many
// were suppressed), since an attacker churning connections causes one
// eviction per connection. A client whose connection is evicted dials
// again. A request of it whose START completes after that choice is
// refused unserved (StreamCodeBusy, ErrBusy), counted in
// oapgate_streams_refused_total{reason="conn_closing"}, rather than run
// and cut by the close, so code 5 means that no request of the
// connection ran after the choice: none was in flight then, and none
// started since. Only when every open
// connection has a request in flight, which the gateway's admission
// bounds per source and in all, is the new one refused (code 2,
// oapgate_conns_refused_total and
// transport_handshake_fail_total{reason="conns_full"}). This is the HTTP
// listener's policy (io/gateway's ConnLimits); as there, an attacker
// churning connections closes idle clients' connections, not clients
// with requests in flight, and a per-source cap below
// quicnet.ConnsPerSourceDefault would add nothing that eviction does not
// give, while it would refuse clients behind one NAT. Eviction protects
// against that lockout only while ConnsMax exceeds the requests the
// gateway's admission lets be in flight (by default 256, plus queues,
// under 1024 in all): with a smaller ConnsMax, clients are refused again
// under load. ConnsMax is at most ConnsMaxLimit (65536): the choice
// scans the connections under the lock every request start and end
// takes.
//
// A connection is forgotten once it has ended, whichever way it ended,
// and its place taken by no other: quic-go fails a closing connection's
// streams before its context ends, so the accept of its next stream may
// fail while the context still looks alive, and the server then waits
// for the context. (Forgetting it only if the context had already ended
// left about one in forty connections closed right after their HELLO
// counted for ever; a red team's churn of them reached ConnsMax in four
// minutes, and every client was refused until a restart.) So
// oapgate_connections and transport_inbound_connections{endpoint="oap"}
// (which counts handshakes too) both come back to 0 once every client
// has closed.
//
// A frame that arrives more slowly than FrameTimeout, and a client that
// stops taking the response for as long, cancel the stream, so a stalled
// client cannot hold a gateway admission slot for ever.
//
// # Shutdown
//
// Shutdown stops taking connections and streams, cancels the streams
// whose START frame has not arrived whole (StreamCodeCancelled: nothing
// was served), waits for the requests in flight to be answered and
// acknowledged (or for its context), then
// closes every connection. A response cut by that close is seen by the
// client as a failed body, never a short one taken for whole (the END
// frame and the Content-Length check catch it).
//
// # Goroutines
//
// One accept loop; per connection one goroutine (HELLO, then accepting
// its streams); per request one goroutine running the handler; per
// connection evicted at ConnsMax or closed as idle one goroutine while
// it closes, and per connection one timer (ConnIdleTimeout). The
// client starts one goroutine per request with a body, to send it while
// the response is read.
package oapgate

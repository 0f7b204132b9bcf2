package oapgate

// No testing/synctest tests here, on purpose. The per-stream handling
// (exchange: serveStream, requestBody, responseWriter.send, awaitAck) reads
// and writes a concrete *quic.Stream and reports on a *quic.Conn, and
// Shutdown/Close close a *quic.Listener, *quic.Transport and *net.UDPConn:
// there is no seam to put a channel- or timer-driven fake behind without
// changing non-test code. quic-go over a real UDP socket cannot run inside a
// synctest bubble (socket I/O is not durably blocking, so the bubble's
// clock and Wait never settle, and quic-go's own timers would belong to the
// bubble). The streams are therefore covered by the loopback socket tests:
// oapgate_test.go, reject_test.go and guard_test.go (per-stream resets,
// silent connections, bounded memory, streams released, Shutdown draining
// requests in flight).

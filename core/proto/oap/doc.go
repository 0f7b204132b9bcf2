// Package oap implements OAP/1, RON's frame format for peer-to-peer and
// client traffic (ARCHITECTURE 5.1).
//
// A frame is a 38-byte big-endian header
//
//	offset  0  len          u32  whole frame, header included
//	offset  4  ver          u16  = 1
//	offset  6  flags        u16  REQ 0x01 RESP 0x02 EVENT 0x04 START 0x08
//	                             END 0x10 ACK_REQ 0x20 COMP 0x40 APP_E2E 0x80
//	offset  8  code         u16
//	offset 10  app_proto_id u16  0 = HELLO
//	offset 12  tenant_id    u128 (TenantHi then TenantLo)
//	offset 28  cap_len      u16
//	offset 30  corr_id      u64
//
// followed by cap_len capability bytes and the payload.
//
// # Invariants
//
// Every frame this package produces or accepts satisfies: len is at most
// FrameBytesMax and at least HeaderBytes+cap_len; ver is Version; no flag bit
// above APP_E2E is set; cap_len is 0 unless START is set, and at most
// CapBytesMax. A COMP payload never inflates past InflatedBytesMax. Decoding
// never panics on untrusted bytes; every rejection is an *Error whose Reason
// is one of the stable labels of oap_rejects_total (ReasonOf extracts it,
// and errors.Is(err, ErrTruncated) and friends compare on the reason alone).
//
// # Streams
//
// Decoder turns a byte stream cut at arbitrary points into frames. It holds
// at most one partial frame plus the chunk being fed, so a peer cannot make
// it buffer more than FrameBytesMax plus one read. ReadFrame, for readers
// of one frame at a time, sizes its buffer from the bytes that arrived
// rather than the declared length: at most 64 KiB until 64 KiB arrived,
// then exactly the declared length (a peer pins a MiB by sending 64 KiB,
// 16 times, accepted: finer steps cost the hot path copies and overshoot);
// ReadFrameLimit refuses frames past a smaller
// bound (a HELLO's, HelloFrameBytesMax) from the header. A header error is sticky:
// the len field is the only frame delimiter, so once a header is malformed
// the start of the next frame is unknown. Resynchronising by scanning for
// something that looks like a header was rejected: it would let a peer
// smuggle a frame inside another frame's payload, and different
// implementations would resynchronise differently. The connection must be
// closed instead.
//
// # HELLO
//
// app_proto_id 0 carries JSON (encoding/json, which encodes struct fields in
// declaration order, so the bytes are deterministic). Decoding is strict:
// the payload is bounded by HelloBytesMax, keys must match exactly (the
// standard decoder would otherwise accept "UA" for "ua"), unknown or
// duplicated keys and trailing data are rejected, all with bad_hello.
//
// # Compression
//
// COMP payloads are zstd (github.com/klauspost/compress/zstd). The encoder
// and decoder are used only through EncodeAll and a synchronous decoder
// with concurrency 1; in that mode the library runs on the caller's
// goroutine and starts none (checked by a test). Inflate takes the most its
// caller's payload may legally be (at most InflatedBytesMax), streams the
// output into a buffer capped there and refuses the first byte past it
// (decompress_bound). Callers pass their own bound, not InflatedBytesMax,
// which is only Inflate's ceiling: inflating up to 8 MiB before a 64 KiB
// head check let a few hundred bytes cost megabytes.
//
// The window is part of the contract: every zstd frame of a COMP payload
// must be single-segment (its content size declared, as Compress and
// EncodeAll write it) or declare a window of at most the reader's,
// which InflateWindow takes (Inflate: the limit rounded up to a power of
// two). A frame past it is decompress_window, checked on every frame's
// header before anything is decoded, whatever the frame holds: the
// decoder sizes its history from the declared window, not from the
// output, so without the check a few bytes could cost twice whatever
// window they declare.
// Streaming encoders declare their window from their settings (the zstd
// CLI reading a pipe 2 MiB, klauspost's NewWriter 8 MiB), so readers
// that want them pass that window (io/oapgate: 2 MiB for body frames) and
// such senders must set theirs; a bomb costs about the output bound plus
// twice the window.
// DecodeAll with WithDecoderMaxMemory alone was rejected: it checks the
// bound per zstd frame, so a payload of several frames could allocate about
// twice the bound before being refused.
package oap

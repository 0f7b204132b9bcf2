// Package oaptest builds OAP/1 payloads that only tests need: frames as
// other encoders write them, which the oap package's own encoder never
// does.
//
// It is test support only (core/proto/oap's and io/oapgate's tests); it
// stays pure like the rest of core/: no I/O, no clock, no randomness.
package oaptest

import (
	"bytes"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// Streamed compresses content as a pipe-fed streaming encoder does
// (klauspost's writer, flushed before Close): the frame declares the
// writer's window (8 MiB unless opts say otherwise) and no content size,
// however small the content. Such a frame is refused only while it is
// inflated, which is what the decompression-bound tests need.
func Streamed(t testing.TB, content []byte, opts ...zstd.EOption) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := zstd.NewWriter(&out, append([]zstd.EOption{zstd.WithEncoderConcurrency(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(content); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

package oap

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/bits"

	"github.com/klauspost/compress/zstd"
)

// inflateChunkBytes is the first output allocation of Inflate; it doubles
// from there up to the caller's limit, so small payloads stay cheap.
const inflateChunkBytes = 4 << 10

// zstdEncoder is shared by every caller. EncodeAll is safe for concurrent
// use and, with concurrency 1, runs on the caller's goroutine; concurrent
// callers (several nodes in one rond process) take turns on its single
// internal encoder. It keeps no state between calls, so the output depends
// only on the input.
var zstdEncoder = mustEncoder()

func mustEncoder() *zstd.Encoder {
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderLevel(zstd.SpeedDefault),
		zstd.WithEncoderCRC(true),
		zstd.WithZeroFrames(true),
		zstd.WithWindowSize(1<<20),
	)
	if err != nil {
		panic(fmt.Sprintf("oap: zstd encoder options: %v", err))
	}
	return enc
}

// Compress returns payload as one zstd frame, for a frame with FlagCOMP.
// The same input always yields the same bytes. A payload larger than
// InflatedBytesMax could never be inflated by a peer; passing one is a
// programmer error and panics.
func Compress(payload []byte) []byte {
	if len(payload) > InflatedBytesMax {
		panic(fmt.Sprintf("oap: Compress of %d bytes exceeds InflatedBytesMax %d", len(payload), InflatedBytesMax))
	}
	return zstdEncoder.EncodeAll(payload, nil)
}

// Inflate decompresses a COMP payload that may legally be at most limit
// bytes once inflated: a caller passes what its payload may be (a head's
// bound, one body frame), not InflatedBytesMax, so that a few hundred
// compressed bytes cannot make it allocate megabytes before its own size
// checks run. Output beyond limit is rejected with decompress_bound as
// soon as the first excess byte is produced, and the decoder refuses
// windows and declared sizes past limit rounded up to a power of two, so
// a zstd bomb costs about twice that in output and history buffers.
// Anything that is not valid zstd is rejected with decompress_failed.
// limit outside [1, InflatedBytesMax] is a programmer error and panics.
func Inflate(payload []byte, limit int) ([]byte, error) {
	if limit < 1 || limit > InflatedBytesMax {
		panic(fmt.Sprintf("oap: Inflate limit %d outside [1, %d]", limit, InflatedBytesMax))
	}
	dec, err := zstd.NewReader(bytes.NewReader(payload), inflateOptions(limit)...)
	if err != nil {
		return nil, reject(ReasonDecompressFailed, "%v", err)
	}
	defer dec.Close()
	out, err := inflateBounded(dec, limit)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// inflateOptions make the decoder synchronous (concurrency 1: no
// goroutines) and refuse windows and declared sizes past inflateWindow.
func inflateOptions(limit int) []zstd.DOption {
	window := uint64(inflateWindow(limit))
	return []zstd.DOption{
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxMemory(window),
		zstd.WithDecoderMaxWindow(window),
		zstd.WithDecoderLowmem(true),
	}
}

// inflateWindow is the largest zstd window Inflate accepts for limit: the
// decoder allocates its history from the window a frame declares, not from
// what the frame then produces, so a window far past limit would cost
// memory the output bound never sees. Encoders declare power-of-two
// windows (the content size for a single-segment frame, which is at most
// limit), so limit rounded up to one accepts every honest frame; zstd's
// minimum window is 1 KiB.
func inflateWindow(limit int) int {
	return max(zstd.MinWindowSize, 1<<bits.Len(uint(limit-1)))
}

// inflateBounded reads r to its end into a buffer that doubles up to
// exactly limit; once it is full, one probe byte tells a payload of
// exactly the bound from a bomb.
func inflateBounded(r io.Reader, limit int) ([]byte, error) {
	out := make([]byte, 0, min(inflateChunkBytes, limit))
	for {
		if len(out) == cap(out) {
			if len(out) == limit {
				return out, probeEnd(r, limit)
			}
			grown := make([]byte, len(out), min(2*cap(out), limit))
			copy(grown, out)
			out = grown
		}
		n, err := r.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, inflateError(err)
		}
	}
}

// probeEnd succeeds only if r has nothing left to produce.
func probeEnd(r io.Reader, limit int) error {
	var probe [1]byte
	for {
		n, err := r.Read(probe[:])
		switch {
		case n > 0:
			return reject(ReasonDecompressBound, "payload inflates past %d bytes", limit)
		case err == io.EOF:
			return nil
		case err != nil:
			return inflateError(err)
		}
	}
}

func inflateError(err error) error {
	if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) {
		return reject(ReasonDecompressBound, "%v", err)
	}
	return reject(ReasonDecompressFailed, "%v", err)
}

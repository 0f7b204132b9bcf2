package oap

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

// inflateChunkBytes is the first output allocation of Inflate; it doubles
// from there up to InflatedBytesMax, so small payloads stay cheap.
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

// Inflate decompresses a COMP payload. Output beyond InflatedBytesMax is
// rejected with decompress_bound as soon as the first excess byte is
// produced, so a zstd bomb costs at most InflatedBytesMax bytes of output
// (plus the decoder's window, itself capped at InflatedBytesMax). Anything
// that is not valid zstd is rejected with decompress_failed.
func Inflate(payload []byte) ([]byte, error) {
	dec, err := zstd.NewReader(bytes.NewReader(payload), inflateOptions()...)
	if err != nil {
		return nil, reject(ReasonDecompressFailed, "%v", err)
	}
	defer dec.Close()
	out, err := inflateBounded(dec)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// inflateOptions make the decoder synchronous (concurrency 1: no
// goroutines) and refuse windows and declared sizes past the bound.
func inflateOptions() []zstd.DOption {
	return []zstd.DOption{
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxMemory(InflatedBytesMax),
		zstd.WithDecoderMaxWindow(InflatedBytesMax),
		zstd.WithDecoderLowmem(true),
	}
}

// inflateBounded reads r to its end into a buffer that doubles up to
// exactly InflatedBytesMax; once it is full, one probe byte tells a payload
// of exactly the bound from a bomb.
func inflateBounded(r io.Reader) ([]byte, error) {
	out := make([]byte, 0, inflateChunkBytes)
	for {
		if len(out) == cap(out) {
			if len(out) == InflatedBytesMax {
				return out, probeEnd(r)
			}
			grown := make([]byte, len(out), min(2*cap(out), InflatedBytesMax))
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
func probeEnd(r io.Reader) error {
	var probe [1]byte
	for {
		n, err := r.Read(probe[:])
		switch {
		case n > 0:
			return reject(ReasonDecompressBound, "payload inflates past %d bytes", InflatedBytesMax)
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

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
// bytes once inflated, with the smallest window that admits every honest
// payload of that size (InflateWindow with inflateWindow(limit)).
func Inflate(payload []byte, limit int) ([]byte, error) {
	return InflateWindow(payload, limit, inflateWindow(limit))
}

// InflateWindow decompresses a COMP payload that may legally be at most
// limit bytes once inflated: a caller passes what its payload may be (a
// head's bound, one body frame), not InflatedBytesMax, so that a few
// hundred compressed bytes cannot make it allocate megabytes before its
// own size checks run. Output beyond limit, or a declared content size
// past window, is rejected with decompress_bound as soon as it is known.
//
// Each zstd frame must be single-segment (content size declared, as
// Compress writes it) or declare a window of at most window bytes; one
// declaring more is decompress_window, whatever it then produces: the
// decoder sizes its history from the declared window, not from the
// output, so a larger window would cost memory the output bound never
// sees. Streaming encoders declare their window from their settings, not
// the content (the zstd CLI reading stdin 2 MiB, klauspost's NewWriter 8
// MiB), so a caller that wants their payloads passes a window that large;
// a bomb then costs about the output bound plus twice the window.
// Anything that is not valid zstd is rejected with decompress_failed.
// limit outside [1, InflatedBytesMax], or window below inflateWindow(limit)
// or above InflatedBytesMax, is a programmer error and panics.
func InflateWindow(payload []byte, limit, window int) ([]byte, error) {
	if limit < 1 || limit > InflatedBytesMax {
		panic(fmt.Sprintf("oap: Inflate limit %d outside [1, %d]", limit, InflatedBytesMax))
	}
	if window < inflateWindow(limit) || window > InflatedBytesMax {
		panic(fmt.Sprintf("oap: Inflate window %d outside [%d, %d]", window, inflateWindow(limit), InflatedBytesMax))
	}
	if err := checkWindow(payload, window); err != nil {
		return nil, err
	}
	dec, err := zstd.NewReader(bytes.NewReader(payload), inflateOptions(window)...)
	if err != nil {
		return nil, inflateError(err)
	}
	defer dec.Close()
	return inflateBounded(dec, limit)
}

// checkWindow refuses a payload any of whose zstd frames declares a
// window past window, naming both sizes, before anything is decoded. It
// walks the frames by their headers and block sizes; whatever it cannot
// walk is malformed and left to the decoder to refuse, so the decoder's
// own window errors (a block larger than its frame's window, once the
// declared windows passed) are decompress_failed.
func checkWindow(payload []byte, window int) error {
	for len(payload) > 0 {
		var h zstd.Header
		rest, err := h.DecodeAndStrip(payload)
		switch {
		case err != nil:
			return nil
		case h.Skippable:
			if uint64(len(rest)) < uint64(h.SkippableSize) {
				return nil
			}
			payload = rest[h.SkippableSize:]
			continue
		case !h.SingleSegment && h.WindowSize > uint64(window):
			return reject(ReasonDecompressWindow, "zstd window %d bytes > %d: a compressed payload must be single-segment or declare a window of at most %d bytes", h.WindowSize, window, window)
		}
		var ok bool
		if payload, ok = skipBlocks(rest, h.HasCheckSum); !ok {
			return nil
		}
	}
	return nil
}

// skipBlocks is what follows the frame whose blocks start at in (its
// checksum included), or false if in ends inside it or holds a reserved
// block type.
func skipBlocks(in []byte, checksum bool) ([]byte, bool) {
	for last := false; !last; {
		if len(in) < 3 {
			return nil, false
		}
		bh := int(in[0]) | int(in[1])<<8 | int(in[2])<<16
		last, in = bh&1 != 0, in[3:]
		size := bh >> 3
		switch (bh >> 1) & 3 {
		case 1: // RLE: one byte repeated size times
			size = 1
		case 3: // reserved
			return nil, false
		}
		if len(in) < size {
			return nil, false
		}
		in = in[size:]
	}
	if checksum {
		if len(in) < 4 {
			return nil, false
		}
		in = in[4:]
	}
	return in, true
}

// inflateOptions make the decoder synchronous (concurrency 1: no
// goroutines) and refuse windows and declared sizes past window.
func inflateOptions(window int) []zstd.DOption {
	return []zstd.DOption{
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxMemory(uint64(window)),
		zstd.WithDecoderMaxWindow(uint64(window)),
		zstd.WithDecoderLowmem(true),
	}
}

// inflateWindow is the smallest window InflateWindow accepts for limit:
// encoders declare power-of-two windows (the content size for a
// single-segment frame, which is at most limit), so limit rounded up to
// one accepts every frame whose window is sized from its content; zstd's
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

// inflateError labels a decoder error. Declared windows were checked
// before decoding (checkWindow), so a window error here is a block larger
// than its frame's window: malformed, decompress_failed.
func inflateError(err error) error {
	if errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		return reject(ReasonDecompressBound, "%v", err)
	}
	return reject(ReasonDecompressFailed, "%v", err)
}

package oap

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"testing"
	"testing/iotest"

	"pgregory.net/rapid"
)

// copyFrame detaches a frame from the decoder's buffer.
func copyFrame(f Frame) Frame {
	f.Cap = slices.Clone(f.Cap)
	f.Payload = slices.Clone(f.Payload)
	return f
}

// feedAll feeds stream cut at the given offsets, draining after each chunk,
// and returns the frames and the first error.
func feedAll(t fataler, d *Decoder, stream []byte, cuts []int) ([]Frame, error) {
	var frames []Frame
	start := 0
	for _, end := range append(cuts, len(stream)) {
		d.Feed(stream[start:end])
		if limit := d.maxFrame + (end - start); d.Buffered() >= limit && d.Err() == nil {
			t.Fatalf("decoder buffers %d bytes, bound %d", d.Buffered(), limit)
		}
		start = end
		for {
			f, ok, err := d.Next()
			if err != nil {
				return frames, err
			}
			if !ok {
				break
			}
			frames = append(frames, copyFrame(f))
		}
	}
	return frames, nil
}

func drawCuts(t *rapid.T, n int) []int {
	cuts := rapid.SliceOfN(rapid.IntRange(0, n), 0, 12).Draw(t, "cuts")
	slices.Sort(cuts)
	return cuts
}

func encodeAll(t fataler, frames []Frame) []byte {
	var stream []byte
	for i := range frames {
		var err error
		if stream, err = Append(stream, &frames[i]); err != nil {
			t.Fatalf("Append: %v", err)
		}
		frames[i].Len = uint32(HeaderBytes + len(frames[i].Cap) + len(frames[i].Payload))
		frames[i].Version, frames[i].CapLen = Version, uint16(len(frames[i].Cap))
	}
	return stream
}

// Any valid frame sequence, cut at any points, decodes to itself.
func TestDecoderSplitsAnywhere(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		frames := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) Frame { return genFrame(t, 200) }), 0, 6).Draw(t, "frames")
		stream := encodeAll(t, frames)
		d := NewDecoder(FrameBytesMax)
		got, err := feedAll(t, d, stream, drawCuts(t, len(stream)))
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if len(got) != len(frames) {
			t.Fatalf("%d frames, want %d", len(got), len(frames))
		}
		for i := range got {
			assertFrameEqual(t, got[i], frames[i])
		}
		if err := d.Finish(); err != nil {
			t.Fatalf("Finish on a frame boundary: %v", err)
		}
	})
}

// A malformed header after k good frames yields exactly those k frames,
// then an error that sticks whatever is fed afterwards.
func TestDecoderErrorIsSticky(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		frames := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) Frame { return genFrame(t, 50) }), 0, 4).Draw(t, "frames")
		stream := encodeAll(t, frames)
		stream = append(stream, header(HeaderBytes, 2, 0, 0)...) // version 2
		good := Frame{Payload: []byte("after")}
		stream = append(stream, MustEncode(&good)...)
		d := NewDecoder(FrameBytesMax)
		got, err := feedAll(t, d, stream, drawCuts(t, len(stream)))
		if ReasonOf(err) != ReasonHeaderMalformed || len(got) != len(frames) {
			t.Fatalf("%d frames then %v; want %d frames then header_malformed", len(got), err, len(frames))
		}
		d.Feed(MustEncode(&good))
		if _, ok, err2 := d.Next(); ok || err2 != err || d.Finish() != err {
			t.Fatalf("after the error: ok=%v err=%v, want the sticky %v", ok, err2, err)
		}
	})
}

func TestDecoderNegotiatedMax(t *testing.T) {
	d := NewDecoder(100)
	small := Frame{Payload: make([]byte, 100-HeaderBytes)}
	big := Frame{Payload: make([]byte, 101-HeaderBytes)}
	stream := append(MustEncode(&small), MustEncode(&big)...)
	got, err := feedAll(t, d, stream, nil)
	if len(got) != 1 || ReasonOf(err) != ReasonFrameOversize {
		t.Fatalf("%d frames, %v; want 1 frame then frame_oversize", len(got), err)
	}
}

func TestDecoderFinishTruncated(t *testing.T) {
	f := Frame{Payload: []byte("payload")}
	b := MustEncode(&f)
	for cut := 1; cut < len(b); cut++ {
		d := NewDecoder(FrameBytesMax)
		d.Feed(b[:cut])
		if _, ok, err := d.Next(); ok || err != nil {
			t.Fatalf("cut %d: ok=%v err=%v on a partial frame", cut, ok, err)
		}
		if err := d.Finish(); ReasonOf(err) != ReasonTruncated {
			t.Fatalf("cut %d: Finish: %v", cut, err)
		}
	}
}

func TestDecoderFeedWithoutDrainPanics(t *testing.T) {
	d := NewDecoder(100)
	f := Frame{Payload: make([]byte, 100-HeaderBytes)}
	d.Feed(MustEncode(&f))
	defer func() {
		if recover() == nil {
			t.Fatal("Feed with a whole frame pending did not panic")
		}
	}()
	d.Feed([]byte{0})
}

func TestNewDecoderBounds(t *testing.T) {
	for _, n := range []int{0, HeaderBytes - 1, FrameBytesMax + 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewDecoder(%d) did not panic", n)
				}
			}()
			NewDecoder(n)
		}()
	}
}

// The decoder copies what it is fed: the caller may reuse its read buffer.
func TestDecoderCopiesInput(t *testing.T) {
	f := Frame{Payload: []byte("stable")}
	chunk := MustEncode(&f)
	d := NewDecoder(FrameBytesMax)
	d.Feed(chunk[:10])
	clear(chunk[:10])
	d.Feed(chunk[10:])
	got, ok, err := d.Next()
	if !ok || err != nil || string(got.Payload) != "stable" {
		t.Fatalf("ok=%v err=%v payload %q", ok, err, got.Payload)
	}
}

func TestReadFrame(t *testing.T) {
	frames := []Frame{{Payload: []byte("one")}, {Header: Header{Flags: FlagSTART}, Cap: []byte("c"), Payload: nil}, {Payload: make([]byte, 5000)}}
	stream := encodeAll(t, frames)
	for name, r := range map[string]io.Reader{
		"whole":    bytes.NewReader(stream),
		"one byte": iotest.OneByteReader(bytes.NewReader(stream)),
		"half":     iotest.HalfReader(bytes.NewReader(stream)),
	} {
		var buf []byte
		for i := range frames {
			var f Frame
			var err error
			f, buf, err = ReadFrame(r, buf)
			if err != nil {
				t.Fatalf("%s: frame %d: %v", name, i, err)
			}
			assertFrameEqual(t, f, frames[i])
		}
		if _, _, err := ReadFrame(r, buf); err != io.EOF {
			t.Fatalf("%s: at the end: %v, want io.EOF", name, err)
		}
	}
	for _, cut := range []int{1, HeaderBytes - 1, HeaderBytes, HeaderBytes + 2} {
		if _, _, err := ReadFrame(bytes.NewReader(stream[:cut]), nil); ReasonOf(err) != ReasonTruncated {
			t.Fatalf("cut at %d: %v, want truncated", cut, err)
		}
	}
	boom := errors.New("boom")
	if _, _, err := ReadFrame(iotest.ErrReader(boom), nil); !errors.Is(err, boom) || ReasonOf(err) != "" {
		t.Fatalf("read error: %v", err)
	}
	if _, _, err := ReadFrame(bytes.NewReader(header(38, 1, 0x200, 0)), nil); ReasonOf(err) != ReasonBadFlags {
		t.Fatalf("bad header: %v", err)
	}
}

// stallingReader hands out its bytes, then fails with errStalled, as a
// stream whose peer stopped sending does when its read deadline passes.
type stallingReader struct{ rest []byte }

var errStalled = errors.New("stalled")

func (r *stallingReader) Read(p []byte) (int, error) {
	if len(r.rest) == 0 {
		return 0, errStalled
	}
	n := copy(p, r.rest)
	r.rest = r.rest[n:]
	return n, nil
}

// A header declaring a whole frame costs memory only as its body
// arrives: allocating FrameBytesMax from the header let a peer pin a MiB
// per stream with 38 bytes sent (red team, OAP client endpoint). Until
// frameReadFirstBytes arrived the buffer stays within that; past it, it
// is exactly the declared length (a 16-fold amplification, documented).
func TestReadFrameMemoryFollowsTheBody(t *testing.T) {
	first := frameReadFirstBytes - HeaderBytes
	for _, sent := range []int{0, 100, first - 1, first, 100 << 10} {
		stream := pad(header(FrameBytesMax, Version, FlagREQ|FlagSTART, 0), HeaderBytes+sent)
		_, buf, err := ReadFrame(&stallingReader{rest: stream}, nil)
		if !errors.Is(err, errStalled) {
			t.Fatalf("%d body bytes then a stall: %v", sent, err)
		}
		bound := frameReadFirstBytes
		if sent >= first {
			bound = FrameBytesMax
		}
		if cap(buf) > bound {
			t.Fatalf("%d body bytes of a declared %d: buffer of %d bytes, bound %d", sent, FrameBytesMax, cap(buf), bound)
		}
	}
}

// quicnet reads each frame (256 KiB replication chunks) into a fresh
// buffer: growing it by doubling took 7 allocations and 537 KB for such
// a frame and left a MiB frame's buffer past FrameBytesMax. Two exact
// steps take the header's, the first step's and the frame's.
func TestReadFrameFreshBufferAllocations(t *testing.T) {
	for _, size := range []int{256 << 10, FrameBytesMax} {
		stream := encodeAll(t, []Frame{{Payload: make([]byte, size-HeaderBytes)}})
		r := bytes.NewReader(stream)
		var buf []byte
		allocs := testing.AllocsPerRun(20, func() {
			r.Reset(stream)
			var err error
			if _, buf, err = ReadFrame(r, nil); err != nil {
				t.Fatalf("frame of %d bytes: %v", size, err)
			}
		})
		if allocs > 3 || cap(buf) != size {
			t.Fatalf("frame of %d bytes read into a nil buffer: %.0f allocations (want at most 3), buffer of %d bytes (want exactly %d)", size, allocs, cap(buf), size)
		}
	}
}

// A reused buffer keeps its capacity, and a whole frame of the largest
// size still arrives intact through small reads.
func TestReadFrameLargestFrame(t *testing.T) {
	payload := make([]byte, FrameBytesMax-HeaderBytes)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	frames := []Frame{{Payload: payload}, {Payload: []byte("small")}, {Payload: payload[:frameReadFirstBytes+5]}}
	r := iotest.HalfReader(bytes.NewReader(encodeAll(t, frames)))
	var buf []byte
	for i, want := range frames {
		f, next, err := ReadFrame(r, buf)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		assertFrameEqual(t, f, want)
		if i > 0 && cap(next) < cap(buf) {
			t.Fatalf("frame %d: the reused buffer shrank from %d to %d", i, cap(buf), cap(next))
		}
		buf = next
	}
}

// ReadFrameLimit refuses a header declaring more than its limit before
// reading any body byte.
func TestReadFrameLimit(t *testing.T) {
	hello := HelloFrameBytesMax
	over := header(uint32(hello+1), Version, FlagREQ, 0)
	if _, buf, err := ReadFrameLimit(&stallingReader{rest: over}, nil, hello); ReasonOf(err) != ReasonFrameOversize || cap(buf) > 2*HeaderBytes {
		t.Fatalf("a header declaring %d under a limit of %d: %v, buffer of %d bytes", hello+1, hello, err, cap(buf))
	}
	at := pad(header(uint32(hello), Version, FlagREQ, 0), hello)
	if f, _, err := ReadFrameLimit(bytes.NewReader(at), nil, hello); err != nil || len(f.Payload) != HelloBytesMax {
		t.Fatalf("a frame of exactly the limit: %v", err)
	}
	for _, limit := range []int{HeaderBytes - 1, FrameBytesMax + 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Fatalf("ReadFrameLimit(%d) did not panic", limit)
				}
			}()
			_, _, _ = ReadFrameLimit(bytes.NewReader(at), nil, limit)
		}()
	}
}

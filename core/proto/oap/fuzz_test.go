package oap

import (
	"bytes"
	"io"
	"reflect"
	"testing"
	"testing/iotest"
)

// Seed corpora live in testdata/fuzz/<Name>/; `go test` replays them.

// FuzzDecode: Decode never panics, every rejection carries a reason, and
// every accepted frame is canonical (re-encodes to the same bytes) and is
// also what the stream Decoder makes of the same bytes.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		frame, err := Decode(data)
		if err != nil {
			if ReasonOf(err) == "" {
				t.Fatalf("rejection without a reason: %v", err)
			}
			return
		}
		again, err := Encode(&frame)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("accepted frame re-encodes to %x, %v; input %x", again, err, data)
		}
		d := NewDecoder(FrameBytesMax)
		d.Feed(data)
		streamed, ok, err := d.Next()
		if !ok || err != nil || d.Finish() != nil {
			t.Fatalf("Decoder disagrees with Decode: ok=%v err=%v finish=%v", ok, err, d.Finish())
		}
		assertFrameEqual(t, streamed, frame)
	})
}

// referenceFrames decodes a whole stream in one buffer, the simple way.
func referenceFrames(stream []byte) ([]Frame, Reason) {
	var frames []Frame
	for off := 0; off < len(stream); {
		if len(stream)-off < HeaderBytes {
			return frames, ReasonTruncated
		}
		h, err := ParseHeader(stream[off:])
		if err != nil {
			return frames, ReasonOf(err)
		}
		if len(stream)-off < int(h.Len) {
			return frames, ReasonTruncated
		}
		f, err := Decode(stream[off : off+int(h.Len)])
		if err != nil {
			return frames, ReasonOf(err)
		}
		frames = append(frames, f)
		off += int(h.Len)
	}
	return frames, ""
}

// FuzzDecoderStream: whatever the chunking (each byte of split is the size
// of one chunk, 1 to 256 bytes, the last chunk takes the rest), the Decoder
// yields the same frames and the same final verdict as referenceFrames.
func FuzzDecoderStream(f *testing.F) {
	f.Fuzz(func(t *testing.T, stream, split []byte) {
		want, wantReason := referenceFrames(stream)
		d := NewDecoder(FrameBytesMax)
		var got []Frame
		var err error
		for off := 0; off < len(stream) && err == nil; {
			n := len(stream) - off
			if len(split) > 0 {
				n = min(n, int(split[0])+1)
				split = split[1:]
			}
			d.Feed(stream[off : off+n])
			off += n
			got, err = drain(d, got)
		}
		if len(got) != len(want) {
			t.Fatalf("%d frames, reference %d", len(got), len(want))
		}
		for i := range got {
			assertFrameEqual(t, got[i], want[i])
		}
		if gotReason := ReasonOf(d.Finish()); gotReason != wantReason {
			t.Fatalf("verdict %q, reference %q", gotReason, wantReason)
		}
	})
}

// FuzzReadFrame: ReadFrame, reading one frame at a time through a reader
// that returns one byte or half of what is asked (mode's low bit) into a
// reused buffer, yields the same frames and the same verdict as the
// Decoder fed the whole stream, and its buffer never grows past the
// larger of frameReadFirstBytes and the frame (doubling once left a MiB
// frame's at 1,130,496 bytes).
func FuzzReadFrame(f *testing.F) {
	small := MustEncode(&Frame{Header: Header{Flags: FlagREQ | FlagSTART, CorrID: 3}, Cap: []byte("cap"), Payload: []byte("payload")})
	big := MustEncode(&Frame{Header: Header{Flags: FlagREQ}, Payload: make([]byte, frameReadFirstBytes+100)})
	f.Add(append(bytes.Clone(small), big...), byte(0))
	f.Add(append(bytes.Clone(big), small[:len(small)-3]...), byte(1))
	f.Add(header(FrameBytesMax+1, Version, FlagREQ, 0), byte(0))
	f.Fuzz(func(t *testing.T, stream []byte, mode byte) {
		d := NewDecoder(FrameBytesMax)
		d.Feed(stream)
		want, _ := drain(d, nil)
		wantReason := ReasonOf(d.Finish())
		r := iotest.OneByteReader(bytes.NewReader(stream))
		if mode&1 != 0 {
			r = iotest.HalfReader(bytes.NewReader(stream))
		}
		var buf []byte
		var got []Frame
		var err error
		consumed := 0 // the stream's bytes of the frames read so far
		for err == nil {
			var frame Frame
			prev := cap(buf)
			// The frame's declared length, which a frame cut short (an
			// error, no frame) may also grow to once frameReadFirstBytes
			// of it arrived.
			declared := 0
			if h, herr := ParseHeader(stream[consumed:]); herr == nil {
				declared = int(h.Len)
			}
			frame, buf, err = ReadFrame(r, buf)
			if bound := max(prev, frameReadFirstBytes, int(frame.Len), declared); cap(buf) > bound {
				t.Fatalf("frame %d: buffer of %d bytes, bound %d", len(got), cap(buf), bound)
			}
			if err == nil {
				got = append(got, copyFrame(frame))
				consumed += int(frame.Len)
			}
		}
		if err != io.EOF && ReasonOf(err) == "" {
			t.Fatalf("after %d frames: an error without a reason: %v", len(got), err)
		}
		if ReasonOf(err) != wantReason {
			t.Fatalf("verdict %v after %d frames, Decoder %q", err, len(got), wantReason)
		}
		if len(got) != len(want) {
			t.Fatalf("%d frames, Decoder %d", len(got), len(want))
		}
		for i := range got {
			assertFrameEqual(t, got[i], want[i])
		}
	})
}

func drain(d *Decoder, frames []Frame) ([]Frame, error) {
	for {
		f, ok, err := d.Next()
		if !ok {
			return frames, err
		}
		frames = append(frames, copyFrame(f))
	}
}

// FuzzHello: strict decoding never panics, rejects only with bad_hello,
// and whatever it accepts survives a marshal/unmarshal round trip.
func FuzzHello(f *testing.F) {
	f.Fuzz(func(t *testing.T, payload []byte) {
		req, err := UnmarshalHelloRequest(payload)
		if err != nil && ReasonOf(err) != ReasonBadHello {
			t.Fatalf("request rejected without bad_hello: %v", err)
		}
		if err == nil {
			b, err := MarshalHelloRequest(req)
			if err != nil {
				t.Fatalf("accepted request does not marshal: %v", err)
			}
			if back, err := UnmarshalHelloRequest(b); err != nil || back != req {
				t.Fatalf("request round trip: %+v -> %s -> %+v %v", req, b, back, err)
			}
		}
		rep, err := UnmarshalHelloReply(payload)
		if err != nil && ReasonOf(err) != ReasonBadHello {
			t.Fatalf("reply rejected without bad_hello: %v", err)
		}
		if err == nil {
			b, err := MarshalHelloReply(rep)
			if err != nil {
				t.Fatalf("accepted reply does not marshal: %v", err)
			}
			if back, err := UnmarshalHelloReply(b); err != nil || !reflect.DeepEqual(back, rep) {
				t.Fatalf("reply round trip: %+v -> %s -> %+v %v", rep, b, back, err)
			}
		}
	})
}

// FuzzInflate: Inflate never panics, never returns more than the bound,
// rejects only with a decompression reason, and what it returns
// recompresses and inflates back to itself. Under a smaller limit (and
// so window) it returns the same bytes or refuses with decompress_bound
// or decompress_window, and always
// refuses output past that limit.
func FuzzInflate(f *testing.F) {
	const small = 4 << 10
	f.Fuzz(func(t *testing.T, payload []byte) {
		out, err := Inflate(payload, InflatedBytesMax)
		bounded, boundedErr := Inflate(payload, small)
		switch {
		case boundedErr == nil && len(bounded) > small:
			t.Fatalf("inflated to %d bytes under a limit of %d", len(bounded), small)
		case boundedErr == nil && (err != nil || !bytes.Equal(bounded, out)):
			t.Fatalf("limit %d accepted what InflatedBytesMax did not return alike: %v", small, err)
		case boundedErr != nil && err == nil && ReasonOf(boundedErr) != ReasonDecompressBound && ReasonOf(boundedErr) != ReasonDecompressWindow:
			t.Fatalf("%d valid bytes under InflatedBytesMax, %v under a limit of %d, want decompress_bound or decompress_window", len(out), boundedErr, small)
		}
		if err != nil {
			if r := ReasonOf(err); r != ReasonDecompressBound && r != ReasonDecompressFailed && r != ReasonDecompressWindow {
				t.Fatalf("unexpected reason: %v", err)
			}
			return
		}
		if len(out) > InflatedBytesMax {
			t.Fatalf("inflated to %d bytes", len(out))
		}
		back, err := Inflate(Compress(out), InflatedBytesMax)
		if err != nil || !bytes.Equal(back, out) {
			t.Fatalf("recompressed round trip failed: %v", err)
		}
		if len(out) <= small {
			if back, err := Inflate(Compress(out), small); err != nil || !bytes.Equal(back, out) {
				t.Fatalf("recompressed round trip under a limit of %d failed: %v", small, err)
			}
		}
	})
}

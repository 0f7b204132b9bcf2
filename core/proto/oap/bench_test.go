package oap

import (
	"bytes"
	"testing"
)

func benchFrame(payloadBytes int) Frame {
	return Frame{Header: Header{Flags: FlagREQ, AppProto: ProtoStorage, TenantLo: 0xAA, CorrID: 42},
		Payload: bytes.Repeat([]byte{0x5a}, payloadBytes)}
}

func BenchmarkEncodeHeader(b *testing.B) {
	f := benchFrame(0)
	buf := make([]byte, 0, HeaderBytes)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = Append(buf[:0], &f); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeFrame(b *testing.B) {
	f := benchFrame(1024)
	frame := MustEncode(&f)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(frame); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecoderStream feeds 64 frames of 1 KiB payload in 1500-byte
// chunks (a typical datagram-sized read), so most frames straddle chunks.
func BenchmarkDecoderStream(b *testing.B) {
	f := benchFrame(1024)
	var stream []byte
	for range 64 {
		stream = append(stream, MustEncode(&f)...)
	}
	const chunkBytes = 1500
	d := NewDecoder(FrameBytesMax)
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		frames := 0
		for off := 0; off < len(stream); off += chunkBytes {
			d.Feed(stream[off:min(off+chunkBytes, len(stream))])
			for {
				_, ok, err := d.Next()
				if err != nil {
					b.Fatal(err)
				}
				if !ok {
					break
				}
				frames++
			}
		}
		if frames != 64 {
			b.Fatalf("%d frames", frames)
		}
	}
}

func BenchmarkCompress64KiB(b *testing.B) {
	payload := bytes.Repeat([]byte("ron content-addressed payload "), (64<<10)/30)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		Compress(payload)
	}
}

func BenchmarkInflate64KiB(b *testing.B) {
	payload := bytes.Repeat([]byte("ron content-addressed payload "), (64<<10)/30)
	packed := Compress(payload)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Inflate(packed, InflatedBytesMax); err != nil {
			b.Fatal(err)
		}
	}
}

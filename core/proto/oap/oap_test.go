package oap

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// mustHex decodes hex written by hand in a test; spaces are for reading.
func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad test hex: %v", err)
	}
	return b
}

// The expected bytes below are written from the layout in doc.go, field by
// field, not produced by the encoder.
func TestGoldenHelloRequest(t *testing.T) {
	want := mustHex(t, "00000036"+ // len 54 = 38 + 16
		"0001"+ // ver 1
		"0001"+ // flags REQ
		"0000"+ // code
		"0000"+ // app_proto_id HELLO
		"0000000000000000 00000000000000aa"+ // tenant_id 0xAA (u128: hi, lo)
		"0000"+ // cap_len
		"000000000000002a") // corr_id 42
	want = append(want, `{"ua":"sdk/0.1"}`...)
	if len(want) != 54 {
		t.Fatalf("hand-written frame is %d bytes, want 54", len(want))
	}
	f, err := HelloRequestFrame(0, 0xAA, 42, HelloRequest{UA: "sdk/0.1"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Encode(&f)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("encoded\n%x\nwant\n%x", got, want)
	}
	back, err := Decode(want)
	if err != nil {
		t.Fatal(err)
	}
	req, err := ParseHelloRequestFrame(&back)
	if err != nil || req.UA != "sdk/0.1" || back.CorrID != 42 || back.TenantLo != 0xAA || back.TenantHi != 0 {
		t.Fatalf("decoded %+v %+v %v", back.Header, req, err)
	}
}

func TestGoldenStartFrameWithCapability(t *testing.T) {
	want := mustHex(t, "0000002b"+ // len 43 = 38 + 3 + 2
		"0001"+ // ver
		"0029"+ // flags REQ|START|ACK_REQ = 0x01|0x08|0x20
		"0102"+ // code
		"0003"+ // app_proto_id storage
		"0102030405060708 090a0b0c0d0e0f10"+ // tenant hi, lo
		"0003"+ // cap_len
		"deadbeefcafef00d"+ // corr_id
		"746f6b"+ // "tok"
		"6869") // "hi"
	f := Frame{Header: Header{Flags: FlagREQ | FlagSTART | FlagACKREQ, Code: 0x0102, AppProto: ProtoStorage,
		TenantHi: 0x0102030405060708, TenantLo: 0x090a0b0c0d0e0f10, CorrID: 0xdeadbeefcafef00d},
		Cap: []byte("tok"), Payload: []byte("hi")}
	got := MustEncode(&f)
	if !bytes.Equal(got, want) {
		t.Fatalf("encoded\n%x\nwant\n%x", got, want)
	}
	back, err := Decode(want)
	if err != nil {
		t.Fatal(err)
	}
	f.Len, f.Version, f.CapLen = 43, 1, 3
	assertFrameEqual(t, back, f)
}

// fataler is what *testing.T and *rapid.T share.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

func assertFrameEqual(t fataler, got, want Frame) {
	t.Helper()
	if got.Header != want.Header || !bytes.Equal(got.Cap, want.Cap) || !bytes.Equal(got.Payload, want.Payload) {
		t.Fatalf("frame\n got %+v cap %x payload %x\nwant %+v cap %x payload %x",
			got.Header, got.Cap, got.Payload, want.Header, want.Cap, want.Payload)
	}
}

// header builds a raw 38-byte header with the given fields, bypassing every
// check of the encoder, so that decode rejections can be provoked.
func header(length uint32, version, flags, capLen uint16) []byte {
	b := make([]byte, HeaderBytes)
	binary.BigEndian.PutUint32(b[0:], length)
	binary.BigEndian.PutUint16(b[4:], version)
	binary.BigEndian.PutUint16(b[6:], flags)
	binary.BigEndian.PutUint16(b[28:], capLen)
	return b
}

func pad(b []byte, total int) []byte { return append(b, make([]byte, total-len(b))...) }

func TestDecodeRejects(t *testing.T) {
	cases := []struct {
		name  string
		bytes []byte
		want  Reason
	}{
		{"empty", nil, ReasonTruncated},
		{"37 bytes", header(38, 1, 0, 0)[:37], ReasonTruncated},
		{"body missing", header(40, 1, 0, 0), ReasonTruncated},
		{"one byte past the cap", pad(header(FrameBytesMax+1, 1, 0, 0), 64), ReasonFrameOversize},
		{"len all ones", header(0xffffffff, 1, 0, 0), ReasonFrameOversize},
		{"version 0", header(38, 0, 0, 0), ReasonHeaderMalformed},
		{"version 2", header(38, 2, 0, 0), ReasonHeaderMalformed},
		{"len 0", header(0, 1, 0, 0), ReasonHeaderMalformed},
		{"len 37", header(37, 1, 0, 0), ReasonHeaderMalformed},
		{"len shorter than cap", pad(header(38, 1, FlagSTART, 1), 39), ReasonHeaderMalformed},
		{"trailing byte", pad(header(38, 1, 0, 0), 39), ReasonHeaderMalformed},
		{"flag bit 8", header(38, 1, 0x0100, 0), ReasonBadFlags},
		{"flag bit 15", header(38, 1, 0x8000, 0), ReasonBadFlags},
		{"cap without START", pad(header(39, 1, FlagREQ, 1), 39), ReasonCapOnNonStart},
		{"cap over CapBytesMax", pad(header(HeaderBytes+CapBytesMax+1, 1, FlagSTART, CapBytesMax+1), HeaderBytes+CapBytesMax+1), ReasonHeaderMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.bytes)
			if ReasonOf(err) != c.want {
				t.Fatalf("Decode: %v, want reason %s", err, c.want)
			}
			if !errors.Is(err, &Error{Reason: c.want}) {
				t.Fatalf("errors.Is(%v, %s) is false", err, c.want)
			}
		})
	}
}

func TestDecodeAcceptsLimits(t *testing.T) {
	biggest := pad(header(FrameBytesMax, 1, FlagSTART|FlagEND, CapBytesMax), FrameBytesMax)
	f, err := Decode(biggest)
	if err != nil || len(f.Cap) != CapBytesMax || len(f.Payload) != FrameBytesMax-HeaderBytes-CapBytesMax {
		t.Fatalf("largest legal frame: %v", err)
	}
	if _, err := Decode(header(38, 1, flagsKnown, 0)); err != nil {
		t.Fatalf("every known flag: %v", err)
	}
}

func TestEncodeRejects(t *testing.T) {
	cases := []struct {
		name  string
		frame Frame
		want  Reason
	}{
		{"oversize", Frame{Payload: make([]byte, FrameBytesMax-HeaderBytes+1)}, ReasonFrameOversize},
		{"unknown flag", Frame{Header: Header{Flags: 0x100}}, ReasonBadFlags},
		{"cap without START", Frame{Cap: []byte{1}}, ReasonCapOnNonStart},
		{"cap too long", Frame{Header: Header{Flags: FlagSTART}, Cap: make([]byte, CapBytesMax+1)}, ReasonHeaderMalformed},
	}
	for _, c := range cases {
		if _, err := Encode(&c.frame); ReasonOf(err) != c.want {
			t.Errorf("%s: Encode: %v, want reason %s", c.name, err, c.want)
		}
	}
	exact := Frame{Payload: make([]byte, FrameBytesMax-HeaderBytes)}
	if b, err := Encode(&exact); err != nil || len(b) != FrameBytesMax {
		t.Fatalf("frame of exactly FrameBytesMax: %d bytes, %v", len(b), err)
	}
}

func TestReasonsAndErrors(t *testing.T) {
	if ReasonOf(nil) != "" || ReasonOf(errors.New("x")) != "" {
		t.Fatal("ReasonOf of a non-OAP error must be empty")
	}
	seen := map[Reason]bool{}
	for _, r := range Reasons {
		if seen[r] || r == "" || strings.ToLower(string(r)) != string(r) {
			t.Fatalf("reason %q duplicated or not a lowercase label", r)
		}
		seen[r] = true
	}
	for _, r := range []Reason{ReasonBadHello, ReasonFrameOversize, ReasonHeaderMalformed, ReasonTruncated,
		ReasonBadFlags, ReasonCapOnNonStart, ReasonDecompressBound, ReasonUnknownApp} {
		if !seen[r] {
			t.Fatalf("ARCHITECTURE 5.1 reason %q missing from Reasons", r)
		}
	}
	wrapped := errors.Join(errors.New("context"), reject(ReasonTruncated, "detail"))
	if ReasonOf(wrapped) != ReasonTruncated || !errors.Is(wrapped, ErrTruncated) || errors.Is(wrapped, ErrBadFlags) {
		t.Fatal("reason not recovered through wrapping")
	}
	if ErrTruncated.Error() != "oap: truncated" {
		t.Fatalf("sentinel message %q", ErrTruncated.Error())
	}
}

// Relations between limits (STYLE 6).
func TestLimitRelations(t *testing.T) {
	if HeaderBytes+CapBytesMax >= FrameBytesMax {
		t.Fatal("a maximal capability must leave room for a payload")
	}
	if InflatedBytesMax != InflateRatioMax*FrameBytesMax || HelloBytesMax >= FrameBytesMax-HeaderBytes {
		t.Fatal("derived limits out of line")
	}
	if FrameBytesMax > 1<<32-1 || CapBytesMax > 1<<16-1 {
		t.Fatal("limits must fit their wire fields")
	}
}

// genFrame draws a valid frame: any known flags, a capability only on START.
func genFrame(t *rapid.T, payloadMax int) Frame {
	flags := uint16(rapid.IntRange(0, int(flagsKnown)).Draw(t, "flags"))
	f := Frame{Header: Header{
		Flags:    flags,
		Code:     rapid.Uint16().Draw(t, "code"),
		AppProto: rapid.Uint16().Draw(t, "app"),
		TenantHi: rapid.Uint64().Draw(t, "tenantHi"),
		TenantLo: rapid.Uint64().Draw(t, "tenantLo"),
		CorrID:   rapid.Uint64().Draw(t, "corr"),
	}}
	if flags&FlagSTART != 0 {
		f.Cap = rapid.SliceOfN(rapid.Byte(), 0, 64).Draw(t, "cap")
	}
	f.Payload = rapid.SliceOfN(rapid.Byte(), 0, payloadMax).Draw(t, "payload")
	return f
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		f := genFrame(t, 256)
		b, err := Encode(&f)
		if err != nil {
			t.Fatalf("Encode: %v", err)
		}
		if len(b) != HeaderBytes+len(f.Cap)+len(f.Payload) || binary.BigEndian.Uint32(b) != uint32(len(b)) {
			t.Fatalf("length field %d for %d bytes", binary.BigEndian.Uint32(b), len(b))
		}
		back, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		f.Len, f.Version, f.CapLen = uint32(len(b)), Version, uint16(len(f.Cap))
		assertFrameEqual(t, back, f)
		again := MustEncode(&back)
		if !bytes.Equal(again, b) {
			t.Fatal("re-encoding a decoded frame changed its bytes")
		}
	})
}

// Setting any bit above APP_E2E in a valid frame must be rejected.
func TestHighFlagBitsRejected(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		f := genFrame(t, 16)
		b := MustEncode(&f)
		bit := rapid.IntRange(8, 15).Draw(t, "bit")
		b[6] |= byte(1 << (bit - 8))
		if _, err := Decode(b); ReasonOf(err) != ReasonBadFlags {
			t.Fatalf("flag bit %d: %v", bit, err)
		}
	})
}

package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"testing"

	"pgregory.net/rapid"
)

// LEB128 encodings written by hand: 7 bits per byte, low group first, high
// bit set on every byte but the last.
func TestUvarintKnownEncodings(t *testing.T) {
	cases := []struct {
		value uint64
		hex   string
	}{
		{0, "00"},
		{1, "01"},
		{127, "7f"},
		{128, "8001"},
		{300, "ac02"}, // 300 = 0b10_0101100: 0x2c|0x80, 0x02
		{16383, "ff7f"},
		{16384, "808001"},
		{1<<63 - 1, "ffffffffffffffff7f"},
		{math.MaxUint64, "ffffffffffffffffff01"},
	}
	for _, c := range cases {
		want, _ := hex.DecodeString(c.hex)
		if got := AppendUvarint(nil, c.value); !bytes.Equal(got, want) {
			t.Errorf("AppendUvarint(%d) = %x, want %s", c.value, got, c.hex)
		}
		r := NewReader(want)
		if got := r.Uvarint(); got != c.value || r.Done() != nil {
			t.Errorf("Uvarint(%s) = %d, %v", c.hex, got, r.Done())
		}
	}
}

func TestUvarintRejects(t *testing.T) {
	for _, c := range []struct{ name, hex string }{
		{"empty", ""},
		{"truncated", "80"},
		{"truncated long", "ffffffff"},
		{"zero in two bytes", "8000"},
		{"127 in two bytes", "ff00"},
		{"one in three bytes", "818000"},
		{"zero in ten bytes", "80808080808080808000"},
		{"overflow in the tenth byte", "ffffffffffffffffff02"},
		{"eleven bytes", "8080808080808080808001"},
	} {
		b, _ := hex.DecodeString(c.hex)
		r := NewReader(b)
		if v := r.Uvarint(); r.Err() == nil || v != 0 || !errors.Is(r.Err(), ErrMalformed) {
			t.Errorf("%s (%s): value %d, err %v", c.name, c.hex, v, r.Err())
		}
	}
}

func TestReaderRejects(t *testing.T) {
	cases := []struct {
		name  string
		input []byte
		read  func(r *Reader)
	}{
		{"bool 2", []byte{2}, func(r *Reader) { r.Bool() }},
		{"bool 0xff", []byte{0xff}, func(r *Reader) { r.Bool() }},
		{"bool missing", nil, func(r *Reader) { r.Bool() }},
		{"uint over limit", AppendUvarint(nil, 11), func(r *Reader) { r.Uint(10) }},
		{"count over limit", AppendUvarint(nil, 5), func(r *Reader) { r.Count(4) }},
		{"bytes over max", AppendBytes(nil, []byte("12345")), func(r *Reader) { r.Bytes(4) }},
		{"bytes past the end", []byte{5, 'a', 'b'}, func(r *Reader) { r.Bytes(100) }},
		{"huge length", AppendUvarint(nil, math.MaxUint64), func(r *Reader) { r.Bytes(math.MaxInt) }},
		{"string over max", AppendString(nil, "abc"), func(r *Reader) { r.String(2) }},
		{"fixed short", []byte{1, 2, 3}, func(r *Reader) { r.Fixed(make([]byte, 4)) }},
		{"trailing byte", []byte{1, 0}, func(r *Reader) { r.Uvarint() }},
	}
	for _, c := range cases {
		r := NewReader(c.input)
		c.read(r)
		if err := r.Done(); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Done() = %v, want ErrMalformed", c.name, err)
		}
	}
}

// After the first error every read returns a zero value and the error
// stays the first one.
func TestReaderErrorSticks(t *testing.T) {
	payload := AppendBool(nil, true)
	payload = AppendString(payload, "ok")
	r := NewReader(append([]byte{7}, payload...)) // 7 is not a bool
	r.Bool()
	first := r.Err()
	fixed := []byte{9}
	if r.String(10) != "" || r.Uvarint() != 0 || r.Bool() || r.Bytes(10) != nil || r.Count(10) != 0 {
		t.Fatal("reads after an error returned data")
	}
	if r.Fixed(fixed); fixed[0] != 9 || r.Err() != first || r.Done() != first {
		t.Fatalf("error changed from %v to %v", first, r.Err())
	}
}

func TestRoundTripEachPair(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		u := rapid.Uint64().Draw(t, "u")
		limit := rapid.Uint64Min(u).Draw(t, "limit")
		flag := rapid.Bool().Draw(t, "flag")
		blob := rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, "blob")
		text := rapid.String().Draw(t, "text")
		digest := rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "digest")
		count := rapid.IntRange(0, 1000).Draw(t, "count")

		b := AppendUvarint(nil, u)
		b = AppendUvarint(b, u)
		b = AppendBool(b, flag)
		b = AppendBytes(b, blob)
		b = AppendString(b, text)
		b = AppendFixed(b, digest)
		b = AppendUvarint(b, uint64(count))

		r := NewReader(b)
		gotDigest := make([]byte, 32)
		gotU, gotLimited, gotFlag := r.Uvarint(), r.Uint(limit), r.Bool()
		gotBlob, gotText := r.Bytes(len(blob)), r.String(len(text))
		r.Fixed(gotDigest)
		gotCount := r.Count(count)
		if err := r.Done(); err != nil {
			t.Fatalf("decode: %v", err)
		}
		if gotU != u || gotLimited != u || gotFlag != flag || !bytes.Equal(gotBlob, blob) ||
			gotText != text || !bytes.Equal(gotDigest, digest) || gotCount != count {
			t.Fatal("a value changed in the round trip")
		}
	})
}

// op is one field of a random message schema.
type op struct {
	kind  int // 0 uvarint, 1 bool, 2 bytes, 3 string, 4 fixed
	u     uint64
	flag  bool
	bytes []byte
}

func genOp(t *rapid.T) op {
	o := op{kind: rapid.IntRange(0, 4).Draw(t, "kind")}
	switch o.kind {
	case 0:
		o.u = rapid.Uint64().Draw(t, "u")
	case 1:
		o.flag = rapid.Bool().Draw(t, "flag")
	default:
		o.bytes = rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, "bytes")
	}
	return o
}

func encodeOps(ops []op) []byte {
	var b []byte
	for _, o := range ops {
		switch o.kind {
		case 0:
			b = AppendUvarint(b, o.u)
		case 1:
			b = AppendBool(b, o.flag)
		case 2:
			b = AppendBytes(b, o.bytes)
		case 3:
			b = AppendString(b, string(o.bytes))
		case 4:
			b = AppendFixed(b, o.bytes)
		}
	}
	return b
}

// decodeOps reads b with the schema of ops and reports whether every value
// came back equal.
func decodeOps(b []byte, ops []op) (bool, error) {
	r := NewReader(b)
	same := true
	for _, o := range ops {
		switch o.kind {
		case 0:
			same = r.Uvarint() == o.u && same
		case 1:
			same = r.Bool() == o.flag && same
		case 2:
			same = bytes.Equal(r.Bytes(40), o.bytes) && same
		case 3:
			same = r.String(40) == string(o.bytes) && same
		case 4:
			got := make([]byte, len(o.bytes))
			r.Fixed(got)
			same = bytes.Equal(got, o.bytes) && same
		}
	}
	return same, r.Done()
}

// Any message round-trips, and every strict prefix of it is rejected: a
// truncated payload can never decode as a shorter valid one.
func TestMessagesRoundTripAndPrefixesFail(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ops := rapid.SliceOfN(rapid.Custom(genOp), 1, 12).Draw(t, "ops")
		b := encodeOps(ops)
		if same, err := decodeOps(b, ops); err != nil || !same {
			t.Fatalf("round trip: same=%v err=%v", same, err)
		}
		if len(b) == 0 {
			return
		}
		cut := rapid.IntRange(0, len(b)-1).Draw(t, "cut")
		if _, err := decodeOps(b[:cut], ops); !errors.Is(err, ErrMalformed) {
			t.Fatalf("prefix of %d/%d bytes accepted", cut, len(b))
		}
		if _, err := decodeOps(append(bytes.Clone(b), 0), ops); !errors.Is(err, ErrMalformed) {
			t.Fatal("trailing byte accepted")
		}
	})
}

// fuzzSchema is the message FuzzWireReader decodes: one of every read.
type fuzzSchema struct {
	id     uint64
	ok     bool
	blob   []byte
	name   string
	list   []uint64
	digest [4]byte
}

const (
	fuzzBlobMax  = 64
	fuzzListMax  = 8
	fuzzValueMax = 1000
)

func decodeFuzzSchema(b []byte) (fuzzSchema, error) {
	var m fuzzSchema
	r := NewReader(b)
	m.id = r.Uvarint()
	m.ok = r.Bool()
	m.blob = r.Bytes(fuzzBlobMax)
	m.name = r.String(fuzzBlobMax)
	for range r.Count(fuzzListMax) {
		m.list = append(m.list, r.Uint(fuzzValueMax))
	}
	r.Fixed(m.digest[:])
	return m, r.Done()
}

func encodeFuzzSchema(m fuzzSchema) []byte {
	b := AppendUvarint(nil, m.id)
	b = AppendBool(b, m.ok)
	b = AppendBytes(b, m.blob)
	b = AppendString(b, m.name)
	b = AppendUvarint(b, uint64(len(m.list)))
	for _, v := range m.list {
		b = AppendUvarint(b, v)
	}
	return AppendFixed(b, m.digest[:])
}

// FuzzWireReader: the Reader never panics, rejects only with ErrMalformed,
// and whatever it accepts is canonical: re-encoding gives the input back.
func FuzzWireReader(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeFuzzSchema(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error without ErrMalformed: %v", err)
			}
			return
		}
		if again := encodeFuzzSchema(m); !bytes.Equal(again, data) {
			t.Fatalf("accepted %x, re-encodes to %x", data, again)
		}
	})
}

func BenchmarkReaderMessage(b *testing.B) {
	payload := encodeFuzzSchema(fuzzSchema{id: 1 << 40, ok: true, blob: make([]byte, 32), name: "node-1", list: []uint64{1, 2, 3}})
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeFuzzSchema(payload); err != nil {
			b.Fatal(err)
		}
	}
}

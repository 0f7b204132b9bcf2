package oapgate_test

import (
	"bytes"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/ron-network/ron/core/proto/oap"
	"github.com/ron-network/ron/core/proto/wire"
	"github.com/ron-network/ron/io/oapgate"
)

// The limits fit together: a START frame holds a whole token and the
// largest head, and a body frame fits the frame cap.
func TestLimitsFit(t *testing.T) {
	if oap.HeaderBytes+oap.CapBytesMax+oapgate.HeadBytesMax > oap.FrameBytesMax {
		t.Fatal("a START frame with a full token and head exceeds the frame cap")
	}
	if oap.HeaderBytes+oapgate.BodyFrameBytes > oap.FrameBytesMax {
		t.Fatal("a body frame exceeds the frame cap")
	}
	if oapgate.StreamsPerConnMax > oap.HelloInflightMax {
		t.Fatal("StreamsPerConnMax cannot be advertised as max_inflight")
	}
	if oapgate.FlagsSupported&^oap.FlagsKnown != 0 {
		t.Fatal("FlagsSupported names unknown flags")
	}
}

func TestRequestHeadRoundTrip(t *testing.T) {
	h := http.Header{}
	h.Set("range", "bytes=0-1")
	h.Add("X-Multi", "b")
	h.Add("X-Multi", "a")
	h.Set("Content-Type", "application/json")
	fields := oapgate.FieldsOf(h)
	want := []oapgate.Field{{"Content-Type", "application/json"}, {"Range", "bytes=0-1"}, {"X-Multi", "b"}, {"X-Multi", "a"}}
	if !reflect.DeepEqual(fields, want) {
		t.Fatalf("FieldsOf = %v, want %v", fields, want)
	}
	head := oapgate.RequestHead{Method: "GET", Target: "/o/b3:00?x=1&y", Fields: fields}
	b, err := oapgate.AppendRequestHead(nil, head)
	if err != nil {
		t.Fatal(err)
	}
	got, err := oapgate.ParseRequestHead(b)
	if err != nil || !reflect.DeepEqual(got, head) {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	if !reflect.DeepEqual(oapgate.HeaderOf(got.Fields), http.Header{"Content-Type": {"application/json"}, "Range": {"bytes=0-1"}, "X-Multi": {"b", "a"}}) {
		t.Fatalf("HeaderOf = %v", oapgate.HeaderOf(got.Fields))
	}
	if _, err := oapgate.AppendRequestHead(nil, oapgate.RequestHead{Method: "GET", Target: "/"}); err != nil {
		t.Fatalf("a head without fields: %v", err)
	}
}

// encodeRaw writes a request head without validation, to feed the
// decoder what a broken client would.
func encodeRaw(method, target string, fields ...string) []byte {
	b := wire.AppendString(nil, method)
	b = wire.AppendString(b, target)
	b = wire.AppendUvarint(b, uint64(len(fields)/2))
	for _, s := range fields {
		b = wire.AppendString(b, s)
	}
	return b
}

func TestParseRequestHeadRejects(t *testing.T) {
	cases := map[string][]byte{
		"empty":               nil,
		"empty method":        encodeRaw("", "/"),
		"method not a token":  encodeRaw("GE T", "/"),
		"target relative":     encodeRaw("GET", "o/x"),
		"target authority":    encodeRaw("GET", "//evil/x"),
		"target with space":   encodeRaw("GET", "/a b"),
		"target fragment":     encodeRaw("GET", "/a#b"),
		"fields unsorted":     encodeRaw("GET", "/", "Range", "x", "Accept", "y"),
		"name not canonical":  encodeRaw("GET", "/", "content-type", "x"),
		"name not a token":    encodeRaw("GET", "/", "Bad Name", "x"),
		"value with newline":  encodeRaw("GET", "/", "X-A", "a\r\nX-B: b"),
		"value with NUL":      encodeRaw("GET", "/", "X-A", "a\x00"),
		"trailing byte":       append(encodeRaw("GET", "/"), 0),
		"non-minimal varint":  {0x83, 0x00, 'G', 'E', 'T', 1, '/', 0},
		"count past the data": {3, 'G', 'E', 'T', 1, '/', 1},
		"too many fields":     encodeRaw("GET", "/", strings.Split(strings.Repeat("X-A,v,", oapgate.FieldsMax+1), ",")[:2*(oapgate.FieldsMax+1)]...),
		"method too long":     encodeRaw(strings.Repeat("A", oapgate.MethodBytesMax+1), "/"),
		"target too long":     encodeRaw("GET", "/"+strings.Repeat("a", oapgate.TargetBytesMax)),
		"head too long":       append(encodeRaw("GET", "/"), make([]byte, oapgate.HeadBytesMax)...),
	}
	for name, b := range cases {
		_, err := oapgate.ParseRequestHead(b)
		if oap.ReasonOf(err) != oapgate.ReasonBadHead {
			t.Errorf("%s: %v, want bad_head", name, err)
		}
	}
}

func TestAppendRefusesInvalidHeads(t *testing.T) {
	bad := []oapgate.RequestHead{
		{Method: "GET", Target: "relative"},
		{Method: "GET", Target: "/", Fields: []oapgate.Field{{"X-B", "1"}, {"X-A", "2"}}},
		{Method: "GET", Target: "/", Fields: []oapgate.Field{{"X-A", "line\nbreak"}}},
	}
	for _, h := range bad {
		if _, err := oapgate.AppendRequestHead(nil, h); oap.ReasonOf(err) != oapgate.ReasonBadHead {
			t.Errorf("%+v: %v, want bad_head", h, err)
		}
	}
	if _, err := oapgate.AppendResponseHead(nil, oapgate.ResponseHead{Fields: []oapgate.Field{{"etag", "x"}}}); err == nil {
		t.Error("a non-canonical response field was encoded")
	}
}

// FuzzRequestHead: decoding never panics, every rejection is bad_head,
// an accepted head is canonical (re-encodes to the same bytes) and turns
// into an http.Header and back without change. Seeds are in
// testdata/fuzz/FuzzRequestHead.
func FuzzRequestHead(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := oapgate.ParseRequestHead(data)
		if err != nil {
			if oap.ReasonOf(err) != oapgate.ReasonBadHead {
				t.Fatalf("rejection without bad_head: %v", err)
			}
			return
		}
		again, err := oapgate.AppendRequestHead(nil, h)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("accepted head re-encodes to %x, %v; input %x", again, err, data)
		}
		if fields := oapgate.FieldsOf(oapgate.HeaderOf(h.Fields)); !reflect.DeepEqual(fields, h.Fields) && len(h.Fields) > 0 {
			t.Fatalf("fields %v do not survive an http.Header: %v", h.Fields, fields)
		}
	})
}

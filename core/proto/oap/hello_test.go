package oap

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

func TestHelloReplyGolden(t *testing.T) {
	// Written from the struct's keys and LocalHelloReply's documented values.
	want := `{"max_frame":1048576,"max_inflight":64,"flags_supported":255,"versions":[1],"ua":"rond/0.1"}`
	got, err := MarshalHelloReply(LocalHelloReply("rond/0.1"))
	if err != nil || string(got) != want {
		t.Fatalf("got %s, %v\nwant %s", got, err, want)
	}
	rep, err := UnmarshalHelloReply([]byte(want))
	if err != nil || !reflect.DeepEqual(rep, LocalHelloReply("rond/0.1")) || !rep.Supports(Version) || rep.Supports(2) {
		t.Fatalf("decoded %+v, %v", rep, err)
	}
	noUA := `{"max_frame":38,"max_inflight":1,"flags_supported":0,"versions":[1,3]}`
	if rep, err := UnmarshalHelloReply([]byte(noUA)); err != nil || rep.UA != "" || !rep.Supports(3) {
		t.Fatalf("reply without ua: %+v %v", rep, err)
	}
}

func TestHelloRequestRejects(t *testing.T) {
	for _, payload := range []string{
		``, `null`, `[]`, `"ua"`, `{}`, `{"ua":""}`, `{"ua":null}`,
		`{"UA":"x"}`, `{"Ua":"x"}`, // keys are case-sensitive
		`{"ua":"x","ua":"y"}`, // duplicate key
		`{"ua":"x","extra":1}`, `{"ua":"x"}{}`, `{"ua":"x"} x`, `{"ua":1}`,
		`{"ua":"caf\u00e9"}`, `{"ua":"tab\there"}`, `{"ua":"` + "\xff" + `"}`,
		`{"ua":"` + strings.Repeat("a", HelloUABytesMax+1) + `"}`,
		`{"ua":"x"` + strings.Repeat(" ", HelloBytesMax) + `}`,
		`{"ua":"x"`,
	} {
		if _, err := UnmarshalHelloRequest([]byte(payload)); ReasonOf(err) != ReasonBadHello {
			t.Errorf("%.60q: %v, want bad_hello", payload, err)
		}
	}
	long := `{"ua":"` + strings.Repeat("a", HelloUABytesMax) + `"}`
	if _, err := UnmarshalHelloRequest([]byte(long)); err != nil {
		t.Fatalf("ua of exactly HelloUABytesMax: %v", err)
	}
	if _, err := MarshalHelloRequest(HelloRequest{}); ReasonOf(err) != ReasonBadHello {
		t.Fatalf("marshal empty ua: %v", err)
	}
}

func TestHelloReplyRejects(t *testing.T) {
	ok := LocalHelloReply("x")
	mutations := map[string]func(*HelloReply){
		"max_frame 0":         func(r *HelloReply) { r.MaxFrame = 0 },
		"max_frame 37":        func(r *HelloReply) { r.MaxFrame = HeaderBytes - 1 },
		"max_frame over":      func(r *HelloReply) { r.MaxFrame = FrameBytesMax + 1 },
		"max_inflight 0":      func(r *HelloReply) { r.MaxInflight = 0 },
		"max_inflight over":   func(r *HelloReply) { r.MaxInflight = HelloInflightMax + 1 },
		"unknown flag":        func(r *HelloReply) { r.FlagsSupported = 0x100 },
		"no versions":         func(r *HelloReply) { r.Versions = nil },
		"version 0":           func(r *HelloReply) { r.Versions = []uint16{0, 1} },
		"duplicate version":   func(r *HelloReply) { r.Versions = []uint16{1, 1} },
		"descending versions": func(r *HelloReply) { r.Versions = []uint16{2, 1} },
		"too many versions":   func(r *HelloReply) { r.Versions = make([]uint16, HelloVersionsMax+1) },
		"ua not printable":    func(r *HelloReply) { r.UA = "a\nb" },
	}
	for name, mutate := range mutations {
		rep := ok
		rep.Versions = []uint16{1}
		mutate(&rep)
		if _, err := MarshalHelloReply(rep); ReasonOf(err) != ReasonBadHello {
			t.Errorf("%s: marshal: %v", name, err)
		}
	}
	for _, payload := range []string{
		`{"max_frame":1048576,"max_inflight":64,"flags_supported":255}`,                         // versions missing
		`{"max_frame":-1,"max_inflight":64,"flags_supported":255,"versions":[1]}`,               // negative
		`{"max_frame":4294967296,"max_inflight":64,"flags_supported":255,"versions":[1]}`,       // overflows u32
		`{"max_frame":1.5,"max_inflight":64,"flags_supported":255,"versions":[1]}`,              // not an integer
		`{"max_frame":1048576,"Max_Inflight":64,"flags_supported":255,"versions":[1]}`,          // key case
		`{"max_frame":1048576,"max_inflight":64,"flags_supported":255,"versions":[1],"x":true}`, // unknown key
	} {
		if _, err := UnmarshalHelloReply([]byte(payload)); ReasonOf(err) != ReasonBadHello {
			t.Errorf("%s: %v, want bad_hello", payload, err)
		}
	}
}

func TestHelloFrames(t *testing.T) {
	reqFrame, err := HelloRequestFrame(1, 2, 7, HelloRequest{UA: "sdk/0.1"})
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := Decode(MustEncode(&reqFrame))
	if err != nil {
		t.Fatal(err)
	}
	repFrame, err := HelloReplyFrame(&decoded, LocalHelloReply("rond"))
	if err != nil {
		t.Fatal(err)
	}
	if repFrame.Flags != FlagRESP || repFrame.CorrID != 7 || repFrame.TenantHi != 1 || repFrame.TenantLo != 2 || repFrame.AppProto != ProtoHello {
		t.Fatalf("reply header %+v", repFrame.Header)
	}
	if _, err := ParseHelloReplyFrame(&repFrame); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseHelloRequestFrame(&repFrame); ReasonOf(err) != ReasonBadHello {
		t.Fatalf("reply parsed as request: %v", err)
	}
	bad := map[string]func(*Frame){
		"other app":  func(f *Frame) { f.AppProto = ProtoDHT },
		"REQ|RESP":   func(f *Frame) { f.Flags |= FlagRESP },
		"no REQ":     func(f *Frame) { f.Flags = FlagEVENT },
		"compressed": func(f *Frame) { f.Flags |= FlagCOMP },
		"capability": func(f *Frame) { f.Flags |= FlagSTART; f.Cap = []byte("t") },
	}
	for name, mutate := range bad {
		f := decoded
		mutate(&f)
		if _, err := ParseHelloRequestFrame(&f); ReasonOf(err) != ReasonBadHello {
			t.Errorf("%s: %v, want bad_hello", name, err)
		}
	}
}

func genHelloReply(t *rapid.T) HelloReply {
	versions := rapid.SliceOfNDistinct(rapid.Uint16Range(1, 1000), 1, HelloVersionsMax, rapid.ID[uint16]).Draw(t, "versions")
	return HelloReply{
		MaxFrame:       rapid.Uint32Range(HeaderBytes, FrameBytesMax).Draw(t, "maxFrame"),
		MaxInflight:    rapid.Uint32Range(1, HelloInflightMax).Draw(t, "maxInflight"),
		FlagsSupported: rapid.Uint16Range(0, FlagsKnown).Draw(t, "flags"),
		Versions:       slices.Sorted(slices.Values(versions)),
		UA:             rapid.StringMatching(`[ -~]{0,40}`).Draw(t, "ua"),
	}
}

func TestHelloRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		req := HelloRequest{UA: rapid.StringMatching(`[ -~]{1,256}`).Draw(t, "ua")}
		b, err := MarshalHelloRequest(req)
		if err != nil {
			t.Fatal(err)
		}
		back, err := UnmarshalHelloRequest(b)
		if err != nil || back != req {
			t.Fatalf("request %+v -> %s -> %+v %v", req, b, back, err)
		}
		rep := genHelloReply(t)
		b, err = MarshalHelloReply(rep)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > HelloBytesMax {
			t.Fatalf("a valid reply of %d bytes exceeds HelloBytesMax", len(b))
		}
		repBack, err := UnmarshalHelloReply(b)
		if err != nil || !reflect.DeepEqual(repBack, rep) {
			t.Fatalf("reply %+v -> %s -> %+v %v", rep, b, repBack, err)
		}
	})
}

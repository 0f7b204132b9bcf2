package proto

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"runtime/metrics"
	"strings"
	"testing"

	"lukechampine.com/blake3"
	"pgregory.net/rapid"
)

// blake3Vectors are the first 32 bytes of "hash" from the official
// test_vectors.json of github.com/BLAKE3-team/BLAKE3 (test_vectors/), whose
// input of length n is the bytes i%251 for i in [0, n). Transcribed by hand
// from that file; they are not produced by the code under test.
var blake3Vectors = []struct {
	inputBytes int
	hash       string
}{
	{0, "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"},
	{1, "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213"},
	{1023, "10108970eeda3eb932baac1428c7a2163b0e924c9a9e25b35bba72b28f70bd11"},
	{1024, "42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7"},
	{1025, "d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444"},
	{2048, "e776b6028c7cd22a4d0ba182a8bf62205d2ef576467e838ed6f2529b85fba24a"},
	{2049, "5f4d72f40d7a5f82b15ca2b2e44b1de3c2ef86c426c95c1af0b6879522563030"},
	{3072, "b98cb0ff3623be03326b373de6b9095218513e64f1ee2edd2525c7ad1e5cffd2"},
	{3073, "7124b49501012f81cc7f11ca069ec9226cecb8a2c850cfe644e327d22d3e1cd3"},
	{4096, "015094013f57a5277b59d8475c0501042c0b642e531b0a1c8f58d2163229e969"},
	{4097, "9b4052b38f1c5fc8b1f9ff7ac7b27cd242487b3d890d15c96a1c25b8aa0fb995"},
	{5120, "9cadc15fed8b5d854562b26a9536d9707cadeda9b143978f319ab34230535833"},
	{8192, "aae792484c8efe4f19e2ca7d371d8c467ffb10748d8a5a1ae579948f718a2a63"},
	{8193, "bab6c09cb8ce8cf459261398d2e7aef35700bf488116ceb94a36d0f5f1b7bc3b"},
	{16384, "f875d6646de28985646f34ee13be9a576fd515f76b5b0a26bb324735041ddde4"},
	{31744, "62b6960e1a44bcc1eb1a611a8d6235b6b4b78f32e7abc4fb4c6cdcce94895c47"},
	{102400, "bc3e3d41a1146b069abffad3c0d44860cf664390afce4d9661f7902e7943e085"},
}

func vectorInput(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

func TestAddrOfOfficialVectors(t *testing.T) {
	for _, v := range blake3Vectors {
		a := AddrOf(vectorInput(v.inputBytes))
		if got := a.String(); got != AddrPrefix+v.hash {
			t.Errorf("len %d: %s, want b3:%s", v.inputBytes, got, v.hash)
		}
		parsed, err := ParseAddr(AddrPrefix + v.hash)
		if err != nil || parsed != a {
			t.Errorf("len %d: ParseAddr: %v", v.inputBytes, err)
		}
	}
}

func TestParseAddrRejects(t *testing.T) {
	valid := AddrOf(nil).String()
	hexDigits := valid[len(AddrPrefix):]
	cases := []struct {
		name, input, mention string
	}{
		{"empty", "", "missing"},
		{"no prefix", hexDigits, "missing"},
		{"other prefix", "sha256:" + hexDigits, `unknown prefix "sha256:"`},
		{"uppercase prefix", "B3:" + hexDigits, `unknown prefix "B3:"`},
		{"prefix only", AddrPrefix, "0 hex digits"},
		{"one digit short", valid[:len(valid)-1], "63 hex digits"},
		{"one digit long", valid + "0", "65 hex digits"},
		{"uppercase digit", AddrPrefix + "A" + hexDigits[1:], "uppercase"},
		{"all uppercase", AddrPrefix + strings.ToUpper(hexDigits), "uppercase"},
		{"non-hex", AddrPrefix + "g" + hexDigits[1:], "non-hex"},
		{"space", AddrPrefix + " " + hexDigits[1:], "non-hex"},
		{"multibyte", AddrPrefix + "é" + hexDigits[2:], "non-hex"},
		{"leading space", " " + valid, `unknown prefix " b3:"`},
	}
	for _, c := range cases {
		_, err := ParseAddr(c.input)
		if !errors.Is(err, ErrBadAddr) || !strings.Contains(err.Error(), c.mention) {
			t.Errorf("%s: ParseAddr(%q) = %v, want ErrBadAddr mentioning %q", c.name, c.input, err, c.mention)
		}
	}
}

func TestAddrTextRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var a Addr
		copy(a[:], rapid.SliceOfN(rapid.Byte(), IDBytes, IDBytes).Draw(t, "digest"))
		s := a.String()
		if len(s) != AddrTextBytes || s != strings.ToLower(s) || !strings.HasPrefix(s, AddrPrefix) {
			t.Fatalf("format %q", s)
		}
		back, err := ParseAddr(s)
		if err != nil || back != a {
			t.Fatalf("ParseAddr(%q) = %v, %v", s, back, err)
		}
		if a.Short() != s[:len(AddrPrefix)+8] || a.Key() != NodeID(a) {
			t.Fatalf("Short %q / Key disagree with %q", a.Short(), s)
		}
		js, err := json.Marshal(map[string]Addr{"addr": a})
		if err != nil || string(js) != `{"addr":"`+s+`"}` {
			t.Fatalf("JSON %s %v", js, err)
		}
		var decoded map[string]Addr
		if err := json.Unmarshal(js, &decoded); err != nil || decoded["addr"] != a {
			t.Fatalf("JSON back %v %v", decoded, err)
		}
	})
}

func TestAddrUnmarshalTextRejects(t *testing.T) {
	var a Addr
	if err := json.Unmarshal([]byte(`"b3:XYZ"`), &a); !errors.Is(err, ErrBadAddr) {
		t.Fatalf("json of a bad address: %v", err)
	}
	if AddrOf([]byte("x")).IsZero() || !(Addr{}).IsZero() {
		t.Fatal("IsZero")
	}
}

// An address never depends on how the bytes are split: hashing in pieces
// through the streaming API equals AddrOf of the whole.
func TestAddrIndependentOfChunking(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		data := rapid.SliceOfN(rapid.Byte(), 0, 5000).Draw(t, "data")
		h := blake3.New(IDBytes, nil)
		for rest := data; len(rest) > 0; {
			n := rapid.IntRange(1, len(rest)).Draw(t, "piece")
			h.Write(rest[:n])
			rest = rest[n:]
		}
		if got := Addr(h.Sum(nil)); got != AddrOf(data) {
			t.Fatalf("streamed %s, whole %s", got, AddrOf(data))
		}
	})
}

func TestNodeID(t *testing.T) {
	pub := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public().(ed25519.PublicKey)
	id := NodeIDFromPublicKey(pub)
	if id != NodeID(blake3.Sum256(pub)) || id.IsZero() || !(NodeID{}).IsZero() {
		t.Fatal("NodeID is not BLAKE3 of the public key")
	}
	back, err := ParseNodeID(id.String())
	if err != nil || back != id || id.Short() != id.String()[:8] {
		t.Fatalf("ParseNodeID round trip: %v", err)
	}
	for _, bad := range []string{"", id.String()[1:], strings.ToUpper(id.String()), "zz" + id.String()[2:]} {
		if _, err := ParseNodeID(bad); !errors.Is(err, ErrBadNodeID) {
			t.Errorf("ParseNodeID(%q): %v", bad, err)
		}
	}
	var low, high NodeID
	high[IDBytes-1] = 1
	if low.Compare(high) != -1 || high.Compare(low) != 1 || high.Compare(high) != 0 {
		t.Fatal("Compare order")
	}
}

// FuzzParseAddr: ParseAddr never panics; it accepts exactly the strings
// String produces (b3: plus 64 lowercase hex digits), and an accepted
// string formats back to itself.
func FuzzParseAddr(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddr(s)
		canonical := len(s) == AddrTextBytes && strings.HasPrefix(s, AddrPrefix) && isLowerHex(s[len(AddrPrefix):])
		if (err == nil) != canonical {
			t.Fatalf("ParseAddr(%q) err=%v, canonical=%v", s, err, canonical)
		}
		if err != nil {
			if !errors.Is(err, ErrBadAddr) {
				t.Fatalf("error does not wrap ErrBadAddr: %v", err)
			}
			return
		}
		if a.String() != s {
			t.Fatalf("ParseAddr(%q).String() = %q", s, a.String())
		}
	})
}

// isLowerHex is the test's own, independent definition of a valid digit run.
func isLowerHex(s string) bool {
	if _, err := hex.DecodeString(s); err != nil {
		return false
	}
	return strings.ToLower(s) == s
}

func benchAddrOf(b *testing.B, n int) {
	data := vectorInput(n)
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		AddrOf(data)
	}
}

func benchRawBLAKE3(b *testing.B, n int) {
	data := vectorInput(n)
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		blake3.Sum256(data)
	}
}

func BenchmarkAddrOf4KiB(b *testing.B)      { benchAddrOf(b, 4<<10) }
func BenchmarkAddrOf1MiB(b *testing.B)      { benchAddrOf(b, 1<<20) }
func BenchmarkAddrOf64MiB(b *testing.B)     { benchAddrOf(b, 64<<20) }
func BenchmarkRawBLAKE3_4KiB(b *testing.B)  { benchRawBLAKE3(b, 4<<10) }
func BenchmarkRawBLAKE3_1MiB(b *testing.B)  { benchRawBLAKE3(b, 1<<20) }
func BenchmarkRawBLAKE3_64MiB(b *testing.B) { benchRawBLAKE3(b, 64<<20) }
func BenchmarkAddrString(b *testing.B) {
	a := AddrOf(nil)
	b.ReportAllocs()
	for b.Loop() {
		_ = a.String()
	}
}
func BenchmarkParseAddr(b *testing.B) {
	s := AddrOf(nil).String()
	b.ReportAllocs()
	for b.Loop() {
		_, _ = ParseAddr(s)
	}
}

// sum256 must equal the library's own (goroutine-using) BLAKE3 on every
// length, especially around chunk (1 KiB) and SIMD batch (16 KiB) edges.
func TestSum256MatchesLibrary(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		edge := rapid.SampledFrom([]int{0, 1 << 10, 16 << 10, 32 << 10, 17 << 10, 100 << 10}).Draw(t, "edge")
		n := max(0, edge+rapid.IntRange(-70, 70).Draw(t, "offset"))
		data := rapid.SliceOfN(rapid.Byte(), n, n).Draw(t, "data")
		if got, want := sum256(data), blake3.Sum256(data); got != want {
			t.Fatalf("len %d: %x, library %x", n, got, want)
		}
	})
	for _, n := range []int{1<<20 + 3, 3<<20 - 1} {
		data := vectorInput(n)
		if sum256(data) != blake3.Sum256(data) {
			t.Fatalf("len %d differs from the library", n)
		}
	}
}

// goroutinesCreated is the process's cumulative count of goroutines started.
func goroutinesCreated() uint64 {
	sample := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(sample)
	return sample[0].Value.Uint64()
}

// AddrOf must hash on the caller's goroutine (core/ starts none). The
// library's Sum256 starts several for the same input, which shows that the
// check can fail.
func TestAddrOfStartsNoGoroutines(t *testing.T) {
	data := vectorInput(4 << 20)
	before := goroutinesCreated()
	AddrOf(data)
	if created := goroutinesCreated() - before; created != 0 {
		t.Fatalf("AddrOf started %d goroutines", created)
	}
	before = goroutinesCreated()
	blake3.Sum256(data)
	if goroutinesCreated() == before {
		t.Fatal("blake3.Sum256 started no goroutine: the check above proves nothing")
	}
}

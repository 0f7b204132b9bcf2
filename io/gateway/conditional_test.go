package gateway_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/io/gateway"
)

// pointName claims name (on the first call) and sets it to addr at seq.
func (f *fixture) pointName(name, addr string, seq uint64) {
	f.t.Helper()
	owner := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32))
	ownerHex := hex.EncodeToString(owner.Public().(ed25519.PublicKey))
	if seq == 1 {
		if r := f.do("POST", "/names/"+name, []byte(fmt.Sprintf(`{"owner":%q}`, ownerHex)), f.bearer()); r.StatusCode != 201 {
			f.t.Fatalf("claim %s: %d %s", name, r.StatusCode, r.body)
		}
	}
	target, err := proto.ParseAddr(addr)
	if err != nil {
		f.t.Fatal(err)
	}
	sig := ed25519.Sign(owner, registry.SetSigningBytes(name, target, seq))
	body := fmt.Sprintf(`{"target":%q,"seq":%d,"owner":%q,"sig":%q}`, addr, seq, ownerHex, hex.EncodeToString(sig))
	if r := f.do("PUT", "/names/"+name, []byte(body), f.bearer()); r.StatusCode != 200 {
		f.t.Fatalf("set %s seq %d: %d %s", name, seq, r.StatusCode, r.body)
	}
}

// A name moves, so /n/{name} must be revalidated: no-cache with the
// target's ETag (a 304 while the name stays, the new object once it moved);
// /o/{addr} stays immutable.
func TestNameIsRevalidatedObjectIsImmutable(t *testing.T) {
	f := newFixture(t, gateway.AdmissionConfig{}, 0)
	v1, v2 := []byte("release 1"), []byte("release 2, longer")
	a1, a2 := f.put(v1), f.put(v2)
	f.pointName("app.example", a1, 1)

	for _, method := range []string{"GET", "HEAD"} {
		r := f.do(method, "/n/app.example", nil, nil)
		cc := r.Header.Get("Cache-Control")
		if r.StatusCode != 200 || cc != "no-cache" || strings.Contains(cc, "immutable") || r.Header.Get("ETag") != `"`+a1+`"` {
			t.Fatalf("%s /n: %d Cache-Control %q ETag %q", method, r.StatusCode, cc, r.Header.Get("ETag"))
		}
		o := f.do(method, "/o/"+a1, nil, nil)
		if o.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Fatalf("%s /o: Cache-Control %q", method, o.Header.Get("Cache-Control"))
		}
	}
	same := f.do("GET", "/n/app.example", nil, map[string]string{"If-None-Match": `"` + a1 + `"`})
	if same.StatusCode != 304 || len(same.body) != 0 || same.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("revalidation of an unmoved name: %d Cache-Control %q", same.StatusCode, same.Header.Get("Cache-Control"))
	}
	f.pointName("app.example", a2, 2)
	moved := f.do("GET", "/n/app.example", nil, map[string]string{"If-None-Match": `"` + a1 + `"`})
	if moved.StatusCode != 200 || !bytes.Equal(moved.body, v2) || moved.Header.Get("ETag") != `"`+a2+`"` {
		t.Fatalf("revalidation of a moved name: %d %q ETag %q", moved.StatusCode, moved.body, moved.Header.Get("ETag"))
	}
}

// RFC 9110 13.1.5: a Range is honoured only when If-Range strongly matches
// the ETag; otherwise (another tag, a weak tag, a date: objects have no
// Last-Modified) the whole object comes back with 200.
func TestIfRange(t *testing.T) {
	f := newFixture(t, gateway.AdmissionConfig{}, 0)
	data := bytes.Repeat([]byte("0123456789abcdefghij"), 200) // ranges far apart stay apart
	addr := f.put(data)
	other := `"b3:` + strings.Repeat("0", 64) + `"`
	multi := "bytes=0-1, 2000-2009"
	parts := fmt.Sprint([][2]string{{"bytes 0-1/4000", "01"}, {"bytes 2000-2009/4000", string(data[2000:2010])}})
	cases := []struct {
		ifRange, rng string
		status       int
		body         string // "" = the multipart parts of multi
	}{
		{`"` + addr + `"`, "bytes=2-5", 206, "2345"},
		{other, "bytes=2-5", 200, string(data)},
		{`W/"` + addr + `"`, "bytes=2-5", 200, string(data)},
		{"Fri, 04 Dec 2026 10:00:00 GMT", "bytes=2-5", 200, string(data)},
		{other, multi, 200, string(data)},
		{`"` + addr + `"`, multi, 206, ""},
		{other, "", 200, string(data)},
	}
	for _, c := range cases {
		hdr := map[string]string{"If-Range": c.ifRange}
		if c.rng != "" {
			hdr["Range"] = c.rng
		}
		r := f.do("GET", "/o/"+addr, nil, hdr)
		if c.body == "" {
			if got := fmt.Sprint(multipartParts(t, r)); got != parts {
				t.Fatalf("If-Range %s Range %s: parts %v, want %v", c.ifRange, c.rng, got, parts)
			}
			continue
		}
		if r.StatusCode != c.status || string(r.body) != c.body || (c.status == 200 && r.Header.Get("Content-Range") != "") {
			t.Fatalf("If-Range %s Range %q: %d (%d bytes) Content-Range %q, want %d (%d bytes)", c.ifRange, c.rng, r.StatusCode, len(r.body), r.Header.Get("Content-Range"), c.status, len(c.body))
		}
	}
}

// A download resumed through a name that moved meanwhile must not splice
// two objects: the old ETag in If-Range gets the new object whole.
func TestIfRangeOnAMovedName(t *testing.T) {
	f := newFixture(t, gateway.AdmissionConfig{}, 0)
	v1, v2 := []byte("first object bytes"), []byte("SECOND OBJECT, other bytes")
	a1, a2 := f.put(v1), f.put(v2)
	f.pointName("dl.example", a1, 1)
	head := f.do("GET", "/n/dl.example", nil, map[string]string{"Range": "bytes=0-4"})
	if head.StatusCode != 206 || string(head.body) != "first" {
		t.Fatalf("first part: %d %q", head.StatusCode, head.body)
	}
	resume := map[string]string{"Range": "bytes=5-", "If-Range": head.Header.Get("ETag")}
	if r := f.do("GET", "/n/dl.example", nil, resume); r.StatusCode != 206 || string(r.body) != string(v1[5:]) {
		t.Fatalf("resume before the move: %d %q", r.StatusCode, r.body)
	}
	f.pointName("dl.example", a2, 2)
	r := f.do("GET", "/n/dl.example", nil, resume)
	if r.StatusCode != 200 || !bytes.Equal(r.body, v2) || r.Header.Get("ETag") != `"`+a2+`"` {
		t.Fatalf("resume after the move: %d %q ETag %q, want the whole new object", r.StatusCode, r.body, r.Header.Get("ETag"))
	}
	multi := f.do("GET", "/n/dl.example", nil, map[string]string{"Range": "bytes=0-1,5-6", "If-Range": `"` + a1 + `"`})
	if multi.StatusCode != 200 || !bytes.Equal(multi.body, v2) {
		t.Fatalf("multi-range resume after the move: %d %q", multi.StatusCode, multi.body)
	}
}

// If-Match compares strongly ("*" matches an existing object) and fails
// with 412 and the envelope; If-Unmodified-Since is ignored because
// objects have no Last-Modified (RFC 9110 13.1.4).
func TestIfMatchAndIfUnmodifiedSince(t *testing.T) {
	f := newFixture(t, gateway.AdmissionConfig{}, 0)
	data := []byte("conditional bytes")
	addr := f.put(data)
	other := `"b3:` + strings.Repeat("0", 64) + `"`
	f.pointName("cond.example", addr, 1)
	for _, path := range []string{"/o/" + addr, "/n/cond.example"} {
		for _, ok := range []string{`"` + addr + `"`, "*", other + `, "` + addr + `"`} {
			if r := f.do("GET", path, nil, map[string]string{"If-Match": ok}); r.StatusCode != 200 || !bytes.Equal(r.body, data) {
				t.Fatalf("GET %s If-Match %s: %d %q", path, ok, r.StatusCode, r.body)
			}
		}
		if r := f.do("GET", path, nil, map[string]string{"If-Match": `"` + addr + `"`, "Range": "bytes=0-10"}); r.StatusCode != 206 || string(r.body) != string(data[:11]) {
			t.Fatalf("GET %s If-Match with a Range: %d %q", path, r.StatusCode, r.body)
		}
		for _, bad := range []string{other, `W/"` + addr + `"`} {
			wantError(t, f.do("GET", path, nil, map[string]string{"If-Match": bad}), 412, gateway.CodePreconditionFailed)
			if r := f.do("HEAD", path, nil, map[string]string{"If-Match": bad}); r.StatusCode != 412 {
				t.Fatalf("HEAD %s If-Match %s: %d", path, bad, r.StatusCode)
			}
		}
		r := f.do("GET", path, nil, map[string]string{"If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})
		if r.StatusCode != 200 || !bytes.Equal(r.body, data) {
			t.Fatalf("GET %s If-Unmodified-Since in the past: %d, want it ignored", path, r.StatusCode)
		}
	}
	missing := "/o/" + proto.AddrOf([]byte("never stored")).String()
	wantError(t, f.do("GET", missing, nil, map[string]string{"If-Match": "*"}), 404, gateway.CodeNotFound)
}

package gateway_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/io/gateway"
	"github.com/ron-network/ron/io/pebbledisk"
	"github.com/ron-network/ron/io/runtime"
)

// fixture is one real node (runtime + pebble in memory + the micronode's
// machines) behind a gateway served by httptest.
type fixture struct {
	t    *testing.T
	srv  *httptest.Server
	rt   *runtime.Runtime
	key  auth.MACKey
	root string           // token allowing everything for tenant "alice"
	g    *gateway.Gateway // set by newServerFixtureWith
}

// startNode runs spec as a single-replica node on disk (pebble, opened
// here) and closes both when the test ends. Cleanups run last in, first
// out, so a server a fixture registers afterwards closes before the node.
func startNode(t testing.TB, disk pebbledisk.Options, spec runtime.NodeSpec, seed uint64) *runtime.Runtime {
	t.Helper()
	d, err := pebbledisk.Open(disk)
	if err != nil {
		t.Fatal(err)
	}
	spec.Replicas = []proto.NodeID{spec.Self()}
	log := slog.New(slog.DiscardHandler)
	rt, err := runtime.New(runtime.Config{Self: spec.Self(), NewNode: spec.NewNode, Disk: d,
		Metrics: runtime.NewPromMetrics(log), Logger: log, ReadyCheck: runtime.NodeReady, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	rt.Start(nil)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = rt.Close(ctx)
		_ = d.Close()
	})
	return rt
}

// rootKeyring is the MAC keyring the fixtures mint their tokens from.
func rootKeyring(t testing.TB) (*auth.Keyring, auth.MACKey) {
	t.Helper()
	keys := auth.NewKeyring(nil)
	secret, _ := auth.NewSecret(bytes.Repeat([]byte{9}, auth.KeyBytes))
	if err := keys.Create("root", auth.KindMAC, secret); err != nil {
		t.Fatal(err)
	}
	key, _ := keys.CurrentMACKey("root")
	return keys, key
}

func newFixture(t *testing.T, adm gateway.AdmissionConfig, objectBytes int64) *fixture {
	t.Helper()
	rt := startNode(t, pebbledisk.Options{Dir: "db", FS: vfs.NewMem()},
		runtime.NodeSpec{Key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))}, 11)
	keys, key := rootKeyring(t)
	g := gateway.New(gateway.Config{Backend: rt, Verifier: auth.NewVerifier(keys, nil), Metrics: rt.Prom(),
		Gatherer: rt.Prom().Registry(), Logger: slog.New(slog.DiscardHandler), Version: "test", Admission: adm, ObjectBytesMax: objectBytes})
	f := &fixture{t: t, srv: httptest.NewServer(g), rt: rt, key: key}
	f.root = f.mint(auth.OpsAll)
	t.Cleanup(f.srv.Close)
	f.waitReady()
	return f
}

func (f *fixture) mint(scope auth.OpSet, caveats ...auth.Caveat) string {
	f.t.Helper()
	tok, err := auth.Mint(f.key, "alice", scope, [auth.NonceBytes]byte{1}, caveats...)
	if err != nil {
		f.t.Fatal(err)
	}
	return tok.Encode()
}

// waitReady waits for /readyz and for the single-replica registry to
// elect itself (a resolve answers 404 instead of 503).
func (f *fixture) waitReady() {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if f.do("GET", "/readyz", nil, nil).StatusCode == 200 {
			_, err := runtime.Call(context.Background(), f.rt, registry.Resolve{Name: "warmup"})
			if err == nil {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.t.Fatal("node never became ready")
}

type resp struct {
	*http.Response
	body []byte
}

func (f *fixture) do(method, path string, body []byte, hdr map[string]string) resp {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return resp{r, b}
}

func (f *fixture) bearer() map[string]string {
	return map[string]string{"Authorization": "Bearer " + f.root}
}

func (f *fixture) put(data []byte) string {
	f.t.Helper()
	r := f.do("PUT", "/o", data, f.bearer())
	if r.StatusCode != 201 {
		f.t.Fatalf("PUT /o: %d %s", r.StatusCode, r.body)
	}
	var out struct {
		Addr string `json:"addr"`
		Size uint64 `json:"size"`
	}
	if err := json.Unmarshal(r.body, &out); err != nil {
		f.t.Fatal(err)
	}
	if want := proto.AddrOf(data).String(); out.Addr != want || out.Size != uint64(len(data)) {
		f.t.Fatalf("PUT /o answered %+v, want addr %s size %d", out, want, len(data))
	}
	return out.Addr
}

// wantError checks status and the envelope.
func wantError(t *testing.T, r resp, status int, code string) gateway.Envelope {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("status %d, want %d (%s)", r.StatusCode, status, r.body)
	}
	var env gateway.Envelope
	if err := json.Unmarshal(r.body, &env); err != nil {
		t.Fatalf("error body is not the envelope: %q", r.body)
	}
	if env.Code != code || env.Message == "" || env.CorrID == "" || env.CorrID != r.Header.Get("X-Request-Id") {
		t.Fatalf("envelope %+v (X-Request-Id %q), want code %s with message and corr_id", env, r.Header.Get("X-Request-Id"), code)
	}
	return env
}

func TestObjectRoundTripWithETagAndConditional(t *testing.T) {
	f := newFixture(t, gateway.AdmissionConfig{}, 0)
	data := []byte("hello, content-addressed world")
	addr := f.put(data)

	r := f.do("GET", "/o/"+addr, nil, nil)
	if r.StatusCode != 200 || !bytes.Equal(r.body, data) {
		t.Fatalf("GET: %d %q", r.StatusCode, r.body)
	}
	if r.Header.Get("ETag") != `"`+addr+`"` || r.Header.Get("Accept-Ranges") != "bytes" {
		t.Fatalf("headers: ETag %q Accept-Ranges %q", r.Header.Get("ETag"), r.Header.Get("Accept-Ranges"))
	}
	h := f.do("HEAD", "/o/"+addr, nil, nil)
	if h.StatusCode != 200 || h.ContentLength != int64(len(data)) || len(h.body) != 0 {
		t.Fatalf("HEAD: %d length %d body %q", h.StatusCode, h.ContentLength, h.body)
	}
	nm := f.do("GET", "/o/"+addr, nil, map[string]string{"If-None-Match": `"b3:` + strings.Repeat("0", 64) + `", "` + addr + `"`})
	if nm.StatusCode != 304 || len(nm.body) != 0 {
		t.Fatalf("If-None-Match: %d", nm.StatusCode)
	}
	other := f.do("GET", "/o/"+addr, nil, map[string]string{"If-None-Match": `"b3:` + strings.Repeat("0", 64) + `"`})
	if other.StatusCode != 200 || !bytes.Equal(other.body, data) {
		t.Fatalf("non-matching If-None-Match: %d", other.StatusCode)
	}
}

func TestObjectErrors(t *testing.T) {
	f := newFixture(t, gateway.AdmissionConfig{}, 1024)
	wantError(t, f.do("GET", "/o/B3:nothex", nil, nil), 400, gateway.CodeBadAddress)
	wantError(t, f.do("GET", "/o/"+proto.AddrOf([]byte("never stored")).String(), nil, nil), 404, gateway.CodeNotFound)
	wantError(t, f.do("PUT", "/o", make([]byte, 2048), f.bearer()), 413, gateway.CodeTooLarge)
	wantError(t, f.do("GET", "/nope", nil, nil), 404, gateway.CodeNotFound)

	// Without a Content-Length the cap is enforced while reading.
	req, _ := http.NewRequest("PUT", f.srv.URL+"/o", io.MultiReader(bytes.NewReader(make([]byte, 4096))))
	req.Header.Set("Authorization", "Bearer "+f.root)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	body, _ := io.ReadAll(r.Body)
	if req.ContentLength != 0 || r.StatusCode != 413 || !strings.Contains(string(body), gateway.CodeTooLarge) {
		t.Fatalf("chunked oversize body: length %d, %d %s", req.ContentLength, r.StatusCode, body)
	}
}

func TestRanges(t *testing.T) {
	f := newFixture(t, gateway.AdmissionConfig{}, 0)
	data := []byte("0123456789abcdefghij")
	addr := f.put(data)
	single := f.do("GET", "/o/"+addr, nil, map[string]string{"Range": "bytes=2-5"})
	if single.StatusCode != 206 || string(single.body) != "2345" || single.Header.Get("Content-Range") != "bytes 2-5/20" {
		t.Fatalf("single range: %d %q %q", single.StatusCode, single.body, single.Header.Get("Content-Range"))
	}
	suffix := f.do("GET", "/o/"+addr, nil, map[string]string{"Range": "bytes=-3"})
	if suffix.StatusCode != 206 || string(suffix.body) != "hij" {
		t.Fatalf("suffix range: %d %q", suffix.StatusCode, suffix.body)
	}
	big := bytes.Repeat([]byte("0123456789"), 100)
	bigAddr := f.put(big)
	multi := f.do("GET", "/o/"+bigAddr, nil, map[string]string{"Range": "bytes=0-1, 990-, 5000-5001"})
	parts := multipartParts(t, multi)
	want := [][2]string{{"bytes 0-1/1000", "01"}, {"bytes 990-999/1000", "0123456789"}}
	if fmt.Sprint(parts) != fmt.Sprint(want) {
		t.Fatalf("multipart parts %v, want %v", parts, want)
	}
	// Overlapping and adjacent ranges are one.
	merged := f.do("GET", "/o/"+addr, nil, map[string]string{"Range": "bytes=0-9, 5-12, 13-"})
	if merged.StatusCode != 206 || string(merged.body) != string(data) || merged.Header.Get("Content-Range") != "bytes 0-19/20" {
		t.Fatalf("merged ranges: %d %q %q", merged.StatusCode, merged.body, merged.Header.Get("Content-Range"))
	}
	bad := f.do("GET", "/o/"+addr, nil, map[string]string{"Range": "bytes=20-30"})
	wantError(t, bad, 416, gateway.CodeBadRange)
	if bad.Header.Get("Content-Range") != "bytes */20" {
		t.Fatalf("416 Content-Range %q", bad.Header.Get("Content-Range"))
	}
	// Positions too large for a uint64 are past the end, not malformed.
	huge := f.do("GET", "/o/"+addr, nil, map[string]string{"Range": "bytes=99999999999999999999-"})
	wantError(t, huge, 416, gateway.CodeBadRange)
	if huge.Header.Get("Content-Range") != "bytes */20" {
		t.Fatalf("416 Content-Range %q", huge.Header.Get("Content-Range"))
	}
	toEnd := f.do("GET", "/o/"+addr, nil, map[string]string{"Range": "bytes=0-99999999999999999999"})
	if toEnd.StatusCode != 206 || string(toEnd.body) != string(data) || toEnd.Header.Get("Content-Range") != "bytes 0-19/20" {
		t.Fatalf("range to a huge last byte: %d %q %q", toEnd.StatusCode, toEnd.body, toEnd.Header.Get("Content-Range"))
	}
	malformed := f.do("GET", "/o/"+addr, nil, map[string]string{"Range": "bytes=5-2"})
	if malformed.StatusCode != 200 || !bytes.Equal(malformed.body, data) {
		t.Fatalf("a malformed Range must be ignored: %d", malformed.StatusCode)
	}
}

func multipartParts(t *testing.T, r resp) [][2]string {
	t.Helper()
	if r.StatusCode != 206 {
		t.Fatalf("multi range: %d %s", r.StatusCode, r.body)
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/byteranges" {
		t.Fatalf("Content-Type %q", r.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(bytes.NewReader(r.body), params["boundary"])
	var out [][2]string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		out = append(out, [2]string{p.Header.Get("Content-Range"), string(b)})
	}
}

func TestWritesNeedCapabilities(t *testing.T) {
	f := newFixture(t, gateway.AdmissionConfig{}, 0)
	env := wantError(t, f.do("PUT", "/o", []byte("x"), map[string]string{"X-Request-Id": "req-42"}), 401, gateway.CodeUnauthorized)
	if env.CorrID != "req-42" || env.Retryable {
		t.Fatalf("envelope %+v: want corr_id echoed and not retryable", env)
	}
	forged := f.root[:len(f.root)-4] + "AAAA"
	e := wantError(t, f.do("PUT", "/o", []byte("x"), map[string]string{"Authorization": "Bearer " + forged}), 401, gateway.CodeUnauthorized)
	if !strings.Contains(e.Message, "bad_mac") && !strings.Contains(e.Message, "malformed") {
		t.Fatalf("forged token message %q lacks the deny reason", e.Message)
	}
	readOnly := f.mint(auth.Ops(auth.OpRead))
	e = wantError(t, f.do("PUT", "/o", []byte("x"), map[string]string{"Authorization": "Bearer " + readOnly}), 403, gateway.CodeForbidden)
	if !strings.Contains(e.Message, string(auth.ReasonOpNotAllowed)) {
		t.Fatalf("message %q lacks op_not_allowed", e.Message)
	}
	small := f.mint(auth.OpsAll, auth.MaxBytes(4))
	wantError(t, f.do("PUT", "/o", []byte("too long"), map[string]string{"Authorization": "Bearer " + small}), 403, gateway.CodeForbidden)
	if r := f.do("PUT", "/o", []byte("tiny"), map[string]string{"Authorization": "Bearer " + small}); r.StatusCode != 201 {
		t.Fatalf("a write within max_bytes: %d %s", r.StatusCode, r.body)
	}
	addr := f.put([]byte("short-lived"))
	writer := f.mint(auth.Ops(auth.OpWrite, auth.OpRead))
	wantError(t, f.do("DELETE", "/o/"+addr, nil, map[string]string{"Authorization": "Bearer " + writer}), 403, gateway.CodeForbidden)
	if r := f.do("DELETE", "/o/"+addr, nil, f.bearer()); r.StatusCode != 204 {
		t.Fatalf("DELETE: %d %s", r.StatusCode, r.body)
	}
	wantError(t, f.do("GET", "/o/"+addr, nil, nil), 404, gateway.CodeNotFound)
	expired := f.mint(auth.OpsAll, auth.Expiry(1))
	wantError(t, f.do("PUT", "/o", []byte("x"), map[string]string{"Authorization": "Bearer " + expired}), 401, gateway.CodeUnauthorized)
}

func TestNames(t *testing.T) {
	f := newFixture(t, gateway.AdmissionConfig{}, 0)
	data := []byte("release 1.0")
	addr := f.put(data)
	owner := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32))
	ownerHex := hex.EncodeToString(owner.Public().(ed25519.PublicKey))
	claim := fmt.Sprintf(`{"owner":%q}`, ownerHex)

	wantError(t, f.do("POST", "/names/app.example", []byte(claim), nil), 401, gateway.CodeUnauthorized)
	if r := f.do("POST", "/names/app.example", []byte(claim), f.bearer()); r.StatusCode != 201 {
		t.Fatalf("claim: %d %s", r.StatusCode, r.body)
	}
	intruder := hex.EncodeToString(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{6}, 32)).Public().(ed25519.PublicKey))
	wantError(t, f.do("POST", "/names/app.example", []byte(fmt.Sprintf(`{"owner":%q}`, intruder)), f.bearer()), 409, gateway.CodeConflict)

	target, _ := proto.ParseAddr(addr)
	set := func(seq uint64, key ed25519.PrivateKey) resp {
		sig := ed25519.Sign(key, registry.SetSigningBytes("app.example", target, seq))
		body := fmt.Sprintf(`{"target":%q,"seq":%d,"owner":%q,"sig":%q}`, addr, seq, ownerHex, hex.EncodeToString(sig))
		return f.do("PUT", "/names/app.example", []byte(body), f.bearer())
	}
	wantError(t, set(1, ed25519.NewKeyFromSeed(bytes.Repeat([]byte{6}, 32))), 403, gateway.CodeForbidden)
	if r := set(1, owner); r.StatusCode != 200 {
		t.Fatalf("set seq 1: %d %s", r.StatusCode, r.body)
	}
	// The 409 of a stale seq carries the name's current seq and target.
	var conflict gateway.ConflictEnvelope
	if r := set(1, owner); r.StatusCode != 409 || json.Unmarshal(r.body, &conflict) != nil ||
		conflict.Code != gateway.CodeConflict || conflict.CurrentSeq != 1 || conflict.CurrentTarget != addr {
		t.Fatalf("stale set: %d %s, want 409 with current_seq 1 and current_target %s", r.StatusCode, r.body, addr)
	}

	r := f.do("GET", "/names/APP.example", nil, nil)
	var rec gateway.NameRecord
	if r.StatusCode != 200 || json.Unmarshal(r.body, &rec) != nil || rec.Target != addr || rec.Seq != 1 || rec.Owner != ownerHex {
		t.Fatalf("resolve: %d %s", r.StatusCode, r.body)
	}
	// ?stale=1 reads this node's applied state through a StaleResolve
	// (claims make one too, to tell a claim that changes nothing).
	staleResolves := func() string {
		for _, line := range strings.Split(string(f.do("GET", "/metrics", nil, nil).body), "\n") {
			if v, ok := strings.CutPrefix(line, `registry_ops_total{op="stale_resolve"} `); ok {
				return v
			}
		}
		return "0"
	}
	before, err := strconv.Atoi(staleResolves())
	if err != nil {
		t.Fatal(err)
	}
	stale := f.do("GET", "/names/app.example?stale=1", nil, nil)
	if stale.StatusCode != 200 || json.Unmarshal(stale.body, &rec) != nil || rec.Target != addr || rec.Seq != 1 {
		t.Fatalf("stale resolve: %d %s", stale.StatusCode, stale.body)
	}
	if m := f.do("GET", "/metrics", nil, nil); staleResolves() != strconv.Itoa(before+1) {
		t.Fatalf("?stale=1 was not a stale resolve:\n%s", m.body)
	}
	served := f.do("GET", "/n/app.example", nil, nil)
	if served.StatusCode != 200 || !bytes.Equal(served.body, data) {
		t.Fatalf("GET /n: %d %q", served.StatusCode, served.body)
	}
	wantError(t, f.do("GET", "/names/unclaimed", nil, nil), 404, gateway.CodeNotFound)
	wantError(t, f.do("GET", "/names/bad_name", nil, nil), 400, gateway.CodeBadRequest)
}

func TestOpsEndpoints(t *testing.T) {
	f := newFixture(t, gateway.AdmissionConfig{}, 0)
	addr := f.put([]byte("provided"))
	for _, path := range []string{"/healthz", "/readyz", "/version"} {
		if r := f.do("GET", path, nil, nil); r.StatusCode != 200 {
			t.Fatalf("%s: %d", path, r.StatusCode)
		}
	}
	m := f.do("GET", "/metrics", nil, nil)
	for _, name := range []string{"omnigate_requests_total", "gateway_route_latency_seconds", "node_ready_state", "storage_"} {
		if !strings.Contains(string(m.body), name) {
			t.Fatalf("/metrics lacks %s", name)
		}
	}
	wantError(t, f.do("GET", "/providers/zz", nil, nil), 400, gateway.CodeBadAddress)
	// A node alone provides what it stores: its own record is found.
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := f.do("GET", "/providers/"+addr, nil, nil)
		if r.StatusCode == 200 {
			if !strings.Contains(string(r.body), f.rt.Self().String()) {
				t.Fatalf("providers %s lack this node", r.body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("providers: %d %s", r.StatusCode, r.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestOverQuotaIs429WithRetryAfter(t *testing.T) {
	f := newFixture(t, gateway.AdmissionConfig{TenantRate: 0.01, TenantBurst: 1}, 0)
	if r := f.do("PUT", "/o", []byte("a"), f.bearer()); r.StatusCode != 201 {
		t.Fatalf("first write: %d %s", r.StatusCode, r.body)
	}
	r := f.do("PUT", "/o", []byte("b"), f.bearer())
	env := wantError(t, r, 429, gateway.CodeOverQuota)
	if !env.Retryable || r.Header.Get("Retry-After") == "" {
		t.Fatalf("429 without Retry-After or retryable: %+v", env)
	}
}

// TestMultiRangeNeverAmplifies: 16 overlapping ranges are one range, and
// 16 scattered one-byte ranges cost at most RangeResponseFactorMax times
// the object (plus MultipartSlackBytes); the parts stream from storage.
func TestMultiRangeNeverAmplifies(t *testing.T) {
	f := newFixture(t, gateway.AdmissionConfig{}, 0)
	const size = 512 << 10
	data := bytes.Repeat([]byte("abcdefgh"), size/8)
	addr := f.put(data)
	overlapping := "bytes=0-" + strings.Repeat(",0-", gateway.RangesMax-1)
	r := f.do("GET", "/o/"+addr, nil, map[string]string{"Range": overlapping})
	if r.StatusCode != 206 || len(r.body) != size || r.Header.Get("Content-Range") != fmt.Sprintf("bytes 0-%d/%d", size-1, size) {
		t.Fatalf("16 overlapping ranges: %d, %d bytes for a %d-byte object", r.StatusCode, len(r.body), size)
	}
	for _, n := range []int{1000, 30, 2} { // 16 one-byte parts, far apart, close, or a byte apart
		var spec []string
		for i := 0; i < gateway.RangesMax; i++ {
			spec = append(spec, fmt.Sprintf("%d-%d", i*n, i*n))
		}
		small := data[:n*gateway.RangesMax]
		smallAddr := f.put(small)
		r = f.do("GET", "/o/"+smallAddr, nil, map[string]string{"Range": "bytes=" + strings.Join(spec, ",")})
		bound := gateway.RangeResponseFactorMax*len(small) + gateway.MultipartSlackBytes
		if r.StatusCode/100 != 2 || len(r.body) > bound {
			t.Fatalf("16 scattered ranges of a %d-byte object: %d, %d bytes (bound %d)", len(small), r.StatusCode, len(r.body), bound)
		}
		if r.StatusCode == 206 && n == 1000 {
			if parts := multipartParts(t, r); len(parts) != gateway.RangesMax || parts[1][1] != string(small[n:n+1]) {
				t.Fatalf("scattered parts: %v", parts)
			}
		}
	}
}

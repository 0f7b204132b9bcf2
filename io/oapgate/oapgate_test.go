package oapgate_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
	"github.com/ron-network/ron/core/proto/oap/oaptest"
	"github.com/ron-network/ron/io/gateway"
	"github.com/ron-network/ron/io/internal/streamtest"
	"github.com/ron-network/ron/io/oapgate"
)

// A PUT whose token travels as the START frame's capability bytes is
// stored (201) and readable, over OAP/1 and over HTTP alike: one store,
// one API.
func TestPutWithTokenInCapsIsStored(t *testing.T) {
	f := newFixture(t, false, gateway.AdmissionConfig{})
	data := []byte("stored over OAP/1")
	// By hand: the token is only in the capability bytes.
	conn := f.rawConn(true)
	st := openStream(t, conn)
	length := oapgate.Field{Name: "Content-Length", Value: strconv.Itoa(len(data))}
	write(t, st, requestFrame(t, oap.FlagREQ|oap.FlagSTART, 5, []byte(f.root), head(t, "PUT", "/o", length)))
	write(t, st, requestFrame(t, oap.FlagREQ|oap.FlagEND, 5, nil, data))
	_ = st.Close()
	a, err := readResponse(t, st)
	if err != nil || a.status != http.StatusCreated || !bytes.Contains(a.body, []byte(proto.AddrOf(data).String())) {
		t.Fatalf("PUT with caps: %d %s %v", a.status, a.body, err)
	}

	addr := proto.AddrOf(data).String()
	got := f.do("GET", "/o/"+addr, nil, "")
	if got.status != http.StatusOK || !bytes.Equal(got.body, data) || got.header.Get("ETag") != `"`+addr+`"` {
		t.Fatalf("GET over OAP/1: %d %q ETag %q", got.status, got.body, got.header.Get("ETag"))
	}
	rec := httptest.NewRecorder()
	f.gw.ServeHTTP(rec, httptest.NewRequest("GET", "/o/"+addr, nil))
	if rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), data) {
		t.Fatalf("GET over HTTP: %d %q", rec.Code, rec.Body.Bytes())
	}
	// Through the client, which moves the Authorization header into caps.
	if second := f.put([]byte("stored by the client")); second == addr {
		t.Fatal("two different objects share an address")
	}
}

// Without capability bytes a write is 401 with the gateway's envelope and
// deny reason; the corr_id echoes X-Request-Id from the head.
func TestNoCapsIs401WithEnvelope(t *testing.T) {
	f := newFixture(t, false, gateway.AdmissionConfig{})
	a := f.do("PUT", "/o", bytes.NewReader([]byte("x")), "", "X-Request-Id", "oap-req-1")
	env := wantEnvelope(t, a, http.StatusUnauthorized, gateway.CodeUnauthorized, gateway.ReasonMissingToken)
	if env.CorrID != "oap-req-1" || env.Retryable {
		t.Fatalf("envelope %+v: want corr_id echoed, not retryable", env)
	}
	forged := f.root[:len(f.root)-4] + "AAAA"
	a = f.do("PUT", "/o", bytes.NewReader([]byte("x")), forged)
	if a.status != http.StatusUnauthorized {
		t.Fatalf("a forged token: %d %s", a.status, a.body)
	}
}

// A valid token without write scope is 403 naming op_not_allowed; one
// whose max_bytes the body exceeds is 403 too: the caveats apply as over
// HTTP.
func TestTokenWithoutWriteScopeIs403(t *testing.T) {
	f := newFixture(t, false, gateway.AdmissionConfig{})
	readOnly := f.mint(auth.Ops(auth.OpRead))
	wantEnvelope(t, f.do("PUT", "/o", bytes.NewReader([]byte("x")), readOnly), http.StatusForbidden,
		gateway.CodeForbidden, string(auth.ReasonOpNotAllowed))
	small := f.mint(auth.OpsAll, auth.MaxBytes(4))
	if a := f.do("PUT", "/o", bytes.NewReader([]byte("too long")), small); a.status != http.StatusForbidden {
		t.Fatalf("a body past max_bytes: %d %s", a.status, a.body)
	}
	if a := f.do("PUT", "/o", bytes.NewReader([]byte("tiny")), small); a.status != http.StatusCreated {
		t.Fatalf("a body within max_bytes: %d %s", a.status, a.body)
	}
}

// An Authorization field inside the head is refused with 400, even with a
// valid token in it: the token belongs in the capability bytes.
func TestAuthorizationInHeadIsRefused(t *testing.T) {
	f := newFixture(t, false, gateway.AdmissionConfig{})
	conn := f.rawConn(true)
	st := openStream(t, conn)
	h := head(t, "PUT", "/o", oapgate.Field{Name: "Authorization", Value: "Bearer " + f.root},
		oapgate.Field{Name: "Content-Length", Value: "1"})
	// One write for both frames: the node answers from the head alone and
	// then stops reading (STOP_SENDING), so a second write issued after
	// the answer arrived would fail. On a loaded machine (CI's race gate)
	// the client can be that slow between two writes.
	frames := requestFrame(t, oap.FlagREQ|oap.FlagSTART, 3, nil, h)
	frames = append(frames, requestFrame(t, oap.FlagREQ|oap.FlagEND, 3, nil, []byte("x"))...)
	write(t, st, frames)
	_ = st.Close()
	a, err := readResponse(t, st)
	if err != nil {
		t.Fatal(err)
	}
	env := wantEnvelope(t, a, http.StatusBadRequest, gateway.CodeBadRequest, "")
	if !bytes.Contains([]byte(env.Message), []byte("capability bytes")) {
		t.Fatalf("message %q does not say where the token goes", env.Message)
	}
	healthy(t, conn)
}

// Names go over OAP/1 too: claim with a token (401 without), resolve.
func TestNamesOverOAP(t *testing.T) {
	f := newFixture(t, false, gateway.AdmissionConfig{})
	owner := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32))
	claim := fmt.Sprintf(`{"owner":%q}`, hex.EncodeToString(owner.Public().(ed25519.PublicKey)))
	hdr := []string{"Content-Type", "application/json"}
	if a := f.do("POST", "/names/docs.example", bytes.NewReader([]byte(claim)), "", hdr...); a.status != http.StatusUnauthorized {
		t.Fatalf("claim without a token: %d %s", a.status, a.body)
	}
	if a := f.do("POST", "/names/docs.example", bytes.NewReader([]byte(claim)), f.root, hdr...); a.status != http.StatusCreated {
		t.Fatalf("claim: %d %s", a.status, a.body)
	}
	var rec gateway.NameRecord
	a := f.do("GET", "/names/docs.example", nil, "")
	if a.status != http.StatusOK || json.Unmarshal(a.body, &rec) != nil || rec.Name != "docs.example" {
		t.Fatalf("resolve: %d %s", a.status, a.body)
	}
}

// streamedBytes is big enough to take many frames and storage chunks.
const streamedBytes = 6<<20 + 12345

// A multi-MiB PUT streamed from a reader and the GET of it round-trip
// with the address the node computed, a whole GET is hashed as it is
// read, and ranges (one small, one spanning chunks, one past the end)
// answer as over HTTP.
func TestStreamedRoundTripAndRanges(t *testing.T) {
	f := newFixture(t, false, gateway.AdmissionConfig{})
	want := streamtest.Addr(1, streamedBytes)
	req, _ := http.NewRequest("PUT", "oap://node/o", streamtest.NewPattern(1, streamedBytes))
	req.ContentLength = streamedBytes
	req.Header.Set("Authorization", "Bearer "+f.root)
	resp, err := f.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var out struct{ Addr string }
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(body, &out) != nil || out.Addr != want.String() {
		t.Fatalf("streamed PUT: %d %s, want %s", resp.StatusCode, body, want)
	}

	get, err := f.http.Get("oap://node/o/" + out.Addr)
	if err != nil {
		t.Fatal(err)
	}
	got, n, err := hashOf(get.Body)
	get.Body.Close()
	if err != nil || get.StatusCode != http.StatusOK || n != streamedBytes || got != want || get.ContentLength != streamedBytes {
		t.Fatalf("streamed GET: %d, %d bytes (Content-Length %d), err %v, hash match %v", get.StatusCode, n, get.ContentLength, err, got == want)
	}

	small := f.do("GET", "/o/"+out.Addr, nil, "", "Range", "bytes=2-5")
	if small.status != http.StatusPartialContent || !bytes.Equal(small.body, streamtest.Bytes(1, 2, 6)) ||
		small.header.Get("Content-Range") != fmt.Sprintf("bytes 2-5/%d", streamedBytes) {
		t.Fatalf("small range: %d %q", small.status, small.header.Get("Content-Range"))
	}
	const from, to = 300_000, 3_500_000
	wide := f.do("GET", "/o/"+out.Addr, nil, "", "Range", fmt.Sprintf("bytes=%d-%d", from, to-1))
	if wide.status != http.StatusPartialContent || !bytes.Equal(wide.body, streamtest.Bytes(1, from, to)) {
		t.Fatalf("range across chunks: %d, %d bytes", wide.status, len(wide.body))
	}
	past := f.do("GET", "/o/"+out.Addr, nil, "", "Range", fmt.Sprintf("bytes=%d-", streamedBytes+1))
	wantEnvelope(t, past, http.StatusRequestedRangeNotSatisfiable, gateway.CodeBadRange, "")
	if past.header.Get("Content-Range") != fmt.Sprintf("bytes */%d", streamedBytes) {
		t.Fatalf("416 Content-Range %q", past.header.Get("Content-Range"))
	}
	h := f.do("HEAD", "/o/"+out.Addr, nil, "")
	if h.status != http.StatusOK || len(h.body) != 0 || h.header.Get("Content-Length") != strconv.Itoa(streamedBytes) {
		t.Fatalf("HEAD: %d, %d body bytes, Content-Length %q", h.status, len(h.body), h.header.Get("Content-Length"))
	}
}

// A body whose length is not declared streams too; the node checks the
// address it computed.
func TestPutOfUnknownLength(t *testing.T) {
	f := newFixture(t, false, gateway.AdmissionConfig{})
	const size = 1<<20 + 3
	req, _ := http.NewRequest("PUT", "oap://node/o", io.MultiReader(streamtest.NewPattern(2, size)))
	req.Header.Set("Authorization", "Bearer "+f.root)
	resp, err := f.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if req.ContentLength != 0 || resp.StatusCode != http.StatusCreated || !bytes.Contains(body, []byte(streamtest.Addr(2, size).String())) {
		t.Fatalf("PUT of unknown length (%d): %d %s", req.ContentLength, resp.StatusCode, body)
	}
}

// The HELLO reply carries this endpoint's limits, and the client pins the
// node id: any other id fails the handshake, and a client must choose
// between a pin and an explicit skip.
func TestHelloAndPinning(t *testing.T) {
	f := newFixture(t, false, gateway.AdmissionConfig{})
	if a := f.do("GET", "/healthz", nil, ""); a.status != http.StatusOK {
		t.Fatalf("healthz: %d", a.status)
	}
	hello := f.client.Hello()
	if hello.MaxFrame != oap.FrameBytesMax || hello.MaxInflight != oapgate.StreamsPerConnMax ||
		hello.FlagsSupported != oapgate.FlagsSupported || !hello.Supports(oap.Version) || hello.UA != "rond/test" {
		t.Fatalf("HELLO reply %+v", hello)
	}
	ctx, cancel := context.WithTimeout(context.Background(), readyWait)
	defer cancel()
	other := proto.NodeIDFromPublicKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, 32)).Public().(ed25519.PublicKey))
	if _, err := oapgate.Dial(ctx, f.srv.Addr().String(), oapgate.ClientConfig{NodeID: other}); !errors.Is(err, oapgate.ErrPinMismatch) {
		t.Fatalf("dial with a wrong pin: %v, want ErrPinMismatch", err)
	}
	skip, err := oapgate.Dial(ctx, f.srv.Addr().String(), oapgate.ClientConfig{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("dial with an explicit skip: %v", err)
	}
	_ = skip.Close()
	for _, cfg := range []oapgate.ClientConfig{{}, {NodeID: other, InsecureSkipVerify: true}} {
		if _, err := oapgate.NewClient("127.0.0.1:1", cfg); !errors.Is(err, oapgate.ErrConfig) {
			t.Fatalf("config %+v: %v, want ErrConfig", cfg, err)
		}
	}
}

const (
	boundedObjectBytes = 128 << 20
	boundedHeapBytes   = 64 << 20
)

// TestBoundedMemory PUTs and GETs a 128 MiB object over OAP/1 (client and
// server in this process, pebble on disk) and checks that neither raises
// the heap by more than half the object: bodies stream, they are never
// buffered whole. (About 30 MiB is measured for a PUT: QUIC's receive
// windows, pebble's memtable and the gateway's chunks; 22 MiB over HTTP.)
func TestBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 128 MiB")
	}
	f := newFixture(t, true, gateway.AdmissionConfig{})
	want := streamtest.Addr(3, boundedObjectBytes)
	stop := streamtest.HeapPeak()
	req, _ := http.NewRequest("PUT", "oap://node/o", streamtest.NewPattern(3, boundedObjectBytes))
	req.ContentLength = boundedObjectBytes
	req.Header.Set("Authorization", "Bearer "+f.root)
	resp, err := f.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	putPeak := stop()
	if resp.StatusCode != http.StatusCreated || !bytes.Contains(body, []byte(want.String())) {
		t.Fatalf("PUT: %d %s", resp.StatusCode, body)
	}
	stop = streamtest.HeapPeak()
	get, err := f.http.Get("oap://node/o/" + want.String())
	if err != nil {
		t.Fatal(err)
	}
	got, n, err := hashOf(get.Body)
	get.Body.Close()
	getPeak := stop()
	if err != nil || n != boundedObjectBytes || got != want {
		t.Fatalf("GET: %d bytes, err %v, hash match %v", n, err, got == want)
	}
	t.Logf("heap peak above baseline: PUT %d MiB, GET %d MiB", putPeak>>20, getPeak>>20)
	if bound := streamtest.HeapBound(boundedHeapBytes); putPeak > bound || getPeak > bound {
		t.Fatalf("heap grew by %d MiB (PUT) / %d MiB (GET), bound %d MiB", putPeak>>20, getPeak>>20, bound>>20)
	}
}

// COMP is accepted on request frames: a head and a body sent compressed
// are stored under the address of the inflated bytes.
func TestCompressedRequestFrames(t *testing.T) {
	f := newFixture(t, false, gateway.AdmissionConfig{})
	data := bytes.Repeat([]byte("compressible "), 50_000)
	conn := f.rawConn(true)
	st := openStream(t, conn)
	h := oap.Compress(head(t, "PUT", "/o", oapgate.Field{Name: "Content-Length", Value: strconv.Itoa(len(data))}))
	write(t, st, requestFrame(t, oap.FlagREQ|oap.FlagSTART|oap.FlagCOMP, 4, []byte(f.root), h))
	half := len(data) / 2
	write(t, st, requestFrame(t, oap.FlagREQ|oap.FlagCOMP, 4, nil, oap.Compress(data[:half])))
	write(t, st, requestFrame(t, oap.FlagREQ|oap.FlagEND, 4, nil, data[half:]))
	_ = st.Close()
	a, err := readResponse(t, st)
	if err != nil || a.status != http.StatusCreated || !bytes.Contains(a.body, []byte(proto.AddrOf(data).String())) {
		t.Fatalf("compressed PUT: %d %s %v", a.status, a.body, err)
	}
}

// A body frame from a streaming encoder is accepted when its window is
// within the documented 2 MiB, the zstd CLI's default for a pipe, however
// little it holds: the window cap used to refuse it as a bomb.
func TestCompressedBodyFromAStreamingEncoder(t *testing.T) {
	f := newFixture(t, false, gateway.AdmissionConfig{})
	data := []byte("a small body from a streaming encoder")
	body := oaptest.Streamed(t, data, zstd.WithWindowSize(2<<20))
	var h zstd.Header
	if err := h.Decode(body); err != nil || h.SingleSegment || h.WindowSize != 2<<20 {
		t.Fatalf("the streamed body's header: %+v, %v", h, err)
	}
	st := openStream(t, f.rawConn(true))
	write(t, st, requestFrame(t, oap.FlagREQ|oap.FlagSTART, 4, []byte(f.root), head(t, "PUT", "/o", oapgate.Field{Name: "Content-Length", Value: strconv.Itoa(len(data))})))
	write(t, st, requestFrame(t, oap.FlagREQ|oap.FlagEND|oap.FlagCOMP, 4, nil, body))
	_ = st.Close()
	a, err := readResponse(t, st)
	if err != nil || a.status != http.StatusCreated || !bytes.Contains(a.body, []byte(proto.AddrOf(data).String())) {
		t.Fatalf("PUT with a 2 MiB-window body frame: %d %s %v", a.status, a.body, err)
	}
}

// Shutdown with nothing in flight closes at once; Close after it is a
// no-op, and the client then fails instead of hanging.
func TestShutdown(t *testing.T) {
	f := newFixture(t, false, gateway.AdmissionConfig{})
	if a := f.do("GET", "/healthz", nil, ""); a.status != http.StatusOK {
		t.Fatalf("healthz: %d", a.status)
	}
	ctx, cancel := context.WithTimeout(context.Background(), readyWait)
	defer cancel()
	if err := f.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.srv.Close(); err != nil {
		t.Fatalf("Close after Shutdown: %v", err)
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", "oap://node/healthz", nil)
	if resp, err := f.http.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("a request after Shutdown answered %d", resp.StatusCode)
	}
}

// Shutdown lets a request in flight finish: its response arrives whole,
// and Shutdown returns once it has.
func TestShutdownDrainsRequestsInFlight(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		_, _ = w.Write(bytes.Repeat([]byte("d"), 3*oapgate.BodyFrameBytes))
	})
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{4}, 32))
	srv, err := oapgate.Listen(oapgate.Config{Key: key, ListenAddr: "127.0.0.1:0", Handler: handler})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	client, err := oapgate.NewClient(srv.Addr().String(), oapgate.ClientConfig{NodeID: srv.ID()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	type result struct {
		body []byte
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := (&http.Client{Transport: client}).Get("oap://node/slow")
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{b, err}
	}()
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), readyWait)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(ctx) }()
	// Give Shutdown time to stop accepting; the outcome must be the same
	// if it has not yet, so this pause orders nothing the test relies on.
	time.Sleep(50 * time.Millisecond)
	close(release)
	r := <-got
	if r.err != nil || len(r.body) != 3*oapgate.BodyFrameBytes {
		t.Fatalf("the request in flight got %d bytes, %v", len(r.body), r.err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// Finished requests give their stream back: many more than
// StreamsPerConnMax requests in a row on one connection all complete
// (a stream slot that is never released would block the next request;
// each request's context bounds that wait).
func TestStreamsAreReleased(t *testing.T) {
	f := newFixture(t, false, gateway.AdmissionConfig{TenantRate: 1e6, TenantBurst: 1e6})
	addr := f.put(bytes.Repeat([]byte("r"), 3*oapgate.BodyFrameBytes))
	for i := range 3 * oapgate.StreamsPerConnMax {
		ctx, cancel := context.WithTimeout(context.Background(), readyWait)
		req, _ := http.NewRequestWithContext(ctx, "GET", "oap://node/o/"+addr, nil)
		req.Header.Set("Authorization", "Bearer "+f.root)
		resp, err := f.http.Do(req)
		if err != nil {
			cancel()
			t.Fatalf("request %d: %v", i, err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		cancel()
		if err != nil || resp.StatusCode != http.StatusOK || n != 3*oapgate.BodyFrameBytes {
			t.Fatalf("request %d: %d, %d bytes, %v", i, resp.StatusCode, n, err)
		}
	}
}

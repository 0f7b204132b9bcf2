package gateway_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"lukechampine.com/blake3"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/edgecache"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/storage"
	"github.com/ron-network/ron/io/gateway"
	"github.com/ron-network/ron/io/internal/streamtest"
	"github.com/ron-network/ron/io/pebbledisk"
	ronruntime "github.com/ron-network/ron/io/runtime"
)

// countingBackend counts the storage requests that pass, by type.
type countingBackend struct {
	gateway.Backend
	mu     sync.Mutex
	counts map[string]int
}

func (b *countingBackend) Call(ctx context.Context, service string, body any) (any, error) {
	b.mu.Lock()
	b.counts[fmt.Sprintf("%T", body)]++
	b.mu.Unlock()
	return b.Backend.Call(ctx, service, body)
}

func (b *countingBackend) count(kind string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.counts[kind]
}

func (b *countingBackend) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.counts = map[string]int{}
}

// newDiskFixture is newFixture over pebble on a real directory (an
// in-memory file system would hold the object in the heap the test
// measures), with the backend wrapped to count storage requests.
func newDiskFixture(t *testing.T) (*fixture, *countingBackend) {
	t.Helper()
	return newDiskFixtureIn(t, t.TempDir())
}

// newDiskFixtureIn is newDiskFixture with the store in dir.
func newDiskFixtureIn(t *testing.T, dir string) (*fixture, *countingBackend) {
	t.Helper()
	rt := startNode(t, pebbledisk.Options{Dir: dir, FS: vfs.Default},
		ronruntime.NodeSpec{Key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{4}, 32))}, 12)
	keys, key := rootKeyring(t)
	backend := &countingBackend{Backend: rt, counts: map[string]int{}}
	g := gateway.New(gateway.Config{Backend: backend, Verifier: auth.NewVerifier(keys, nil), Metrics: rt.Prom(),
		Logger: slog.New(slog.DiscardHandler), Version: "test"})
	f := &fixture{t: t, srv: httptest.NewServer(g), rt: rt, key: key}
	f.root = f.mint(auth.OpsAll)
	t.Cleanup(f.srv.Close)
	f.waitReady()
	return f, backend
}

func (f *fixture) putStream(seed byte, n int64) (*http.Response, []byte) {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodPut, f.srv.URL+"/o", streamtest.NewPattern(seed, n))
	if err != nil {
		f.t.Fatal(err)
	}
	req.ContentLength = n
	req.Header.Set("Authorization", "Bearer "+f.root)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer r.Body.Close()
	body, _ := io.ReadAll(r.Body)
	return r, body
}

// streamedObjectBytes is the large object of the tests: 256 MiB keeps CI
// fast while being four times the memory bound asserted.
const (
	streamedObjectBytes = 256 << 20
	streamHeapBytesMax  = 64 << 20
)

// TestStreamLargeObjectBoundedMemory PUTs and GETs a 256 MiB object
// through a real node and checks that neither transfer raises the heap by
// more than 64 MiB, that the address is the BLAKE3 of the body and that
// the GET returns exactly the body.
func TestStreamLargeObjectBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 256 MiB")
	}
	f, _ := newDiskFixture(t)
	want := streamtest.Addr(1, streamedObjectBytes)

	stop := streamtest.HeapPeak()
	r, body := f.putStream(1, streamedObjectBytes)
	putPeak := stop()
	var out struct {
		Addr string `json:"addr"`
		Size uint64 `json:"size"`
	}
	if r.StatusCode != http.StatusCreated || json.Unmarshal(body, &out) != nil || out.Addr != want.String() || out.Size != streamedObjectBytes {
		t.Fatalf("PUT: %d %s, want addr %s", r.StatusCode, body, want)
	}

	stop = streamtest.HeapPeak()
	resp, err := http.Get(f.srv.URL + "/o/" + out.Addr)
	if err != nil {
		t.Fatal(err)
	}
	h := blake3.New(proto.IDBytes, nil)
	n, err := io.Copy(h, resp.Body)
	resp.Body.Close()
	getPeak := stop()
	var got proto.Addr
	h.Sum(got[:0])
	if err != nil || resp.StatusCode != http.StatusOK || n != streamedObjectBytes || got != want {
		t.Fatalf("GET: status %d, %d bytes, err %v, hash match %v", resp.StatusCode, n, err, got == want)
	}
	t.Logf("heap peak above baseline: PUT %d MiB, GET %d MiB", putPeak>>20, getPeak>>20)
	if bound := streamtest.HeapBound(streamHeapBytesMax); putPeak > bound || getPeak > bound {
		t.Fatalf("heap grew by %d MiB (PUT) / %d MiB (GET), bound %d MiB", putPeak>>20, getPeak>>20, bound>>20)
	}
}

// TestStreamRangeFetchesOnlyNeededChunks: a range in the middle of a large
// object reads only the chunks that cover it, and HEAD and a repeated ETag
// behave as for small objects.
func TestStreamRangeFetchesOnlyNeededChunks(t *testing.T) {
	f, backend := newDiskFixture(t)
	const size = 16 << 20
	if r, body := f.putStream(2, size); r.StatusCode != http.StatusCreated {
		t.Fatalf("PUT: %d %s", r.StatusCode, body)
	}
	addr := streamtest.Addr(2, size)
	const chunk = gateway.StreamChunkBytes
	start, end := int64(5*chunk+100), int64(12*chunk-1) // inclusive end: chunks 5..11
	backend.reset()
	r := f.do("GET", "/o/"+addr.String(), nil, map[string]string{"Range": fmt.Sprintf("bytes=%d-%d", start, end)})
	if r.StatusCode != http.StatusPartialContent || !bytes.Equal(r.body, streamtest.Bytes(2, start, end+1)) {
		t.Fatalf("range: status %d, %d bytes", r.StatusCode, len(r.body))
	}
	if want := fmt.Sprintf("bytes %d-%d/%d", start, end, size); r.Header.Get("Content-Range") != want {
		t.Fatalf("Content-Range %q, want %q", r.Header.Get("Content-Range"), want)
	}
	// Chunks 5..11 in batches of StreamBatchChunksMax.
	if n, calls, want := backend.count("storage.GetChunk"), backend.count("storage.GetChunks"), (7+gateway.StreamBatchChunksMax-1)/gateway.StreamBatchChunksMax; n != 0 || calls != want {
		t.Fatalf("range over chunks 5..11 took %d chunk calls and %d batch calls, want 0 and %d", n, calls, want)
	}
	// The size comes from the manifest: no read (and no chunk hashed) for it.
	if n := backend.count("storage.Get"); n != 0 {
		t.Fatalf("range made %d storage reads besides its chunks", n)
	}
	backend.reset()
	head := f.do("HEAD", "/o/"+addr.String(), nil, nil)
	if head.StatusCode != http.StatusOK || head.Header.Get("Content-Length") != fmt.Sprint(size) || head.Header.Get("ETag") != `"`+addr.String()+`"` {
		t.Fatalf("HEAD: %d, Content-Length %q", head.StatusCode, head.Header.Get("Content-Length"))
	}
	if gets, chunks, mans := backend.count("storage.Get"), backend.count("storage.GetChunk")+backend.count("storage.GetChunks"), backend.count("storage.GetManifest"); gets+chunks != 0 || mans != 1 {
		t.Fatalf("HEAD made %d reads, %d chunk reads, %d manifest reads; want only the manifest", gets, chunks, mans)
	}
	if r := f.do("GET", "/o/"+addr.String(), nil, map[string]string{"If-None-Match": `"` + addr.String() + `"`}); r.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match: %d", r.StatusCode)
	}
	r = f.do("GET", "/o/"+addr.String(), nil, map[string]string{"Range": fmt.Sprintf("bytes=%d-", size)})
	if r.StatusCode != http.StatusRequestedRangeNotSatisfiable || r.Header.Get("Content-Range") != fmt.Sprintf("bytes */%d", size) {
		t.Fatalf("range past the end: %d %q", r.StatusCode, r.Header.Get("Content-Range"))
	}
}

// TestRangeOfKnownObjectIsOneCall: once the gateway has seen a large
// object's manifest, a single range of at most BufferedReadBytesMax of it
// costs one storage call (the read) instead of two (manifest, read); a
// range past the end is still answered 416 from a fresh manifest, and once
// the object is deleted a range of it is a 404 without a Content-Range,
// both while the gateway still knows its size (deleted in storage) and
// after a DELETE through the gateway forgot it.
func TestRangeOfKnownObjectIsOneCall(t *testing.T) {
	f, backend := newDiskFixture(t)
	const size = 16 << 20
	if r, body := f.putStream(3, size); r.StatusCode != http.StatusCreated {
		t.Fatalf("PUT: %d %s", r.StatusCode, body)
	}
	addr := streamtest.Addr(3, size)
	path := "/o/" + addr.String()
	for i, start := range []int64{3*gateway.StreamChunkBytes + 77, 9 * gateway.StreamChunkBytes, size - 1<<20} {
		end := start + 1<<20 - 1
		backend.reset()
		r := f.do("GET", path, nil, map[string]string{"Range": fmt.Sprintf("bytes=%d-%d", start, end)})
		if r.StatusCode != http.StatusPartialContent || !bytes.Equal(r.body, streamtest.Bytes(3, start, end+1)) {
			t.Fatalf("range %d: status %d, %d bytes", i, r.StatusCode, len(r.body))
		}
		if want := fmt.Sprintf("bytes %d-%d/%d", start, end, size); r.Header.Get("Content-Range") != want {
			t.Fatalf("range %d: Content-Range %q, want %q", i, r.Header.Get("Content-Range"), want)
		}
		wantManifests := 0
		if i == 0 {
			wantManifests = 1 // the first range learns the size
		}
		if gets, mans := backend.count("storage.Get"), backend.count("storage.GetManifest"); gets != 1 || mans != wantManifests {
			t.Fatalf("range %d made %d reads and %d manifest calls, want 1 and %d", i, gets, mans, wantManifests)
		}
	}
	backend.reset()
	r := f.do("GET", path, nil, map[string]string{"Range": fmt.Sprintf("bytes=%d-", size)})
	if r.StatusCode != http.StatusRequestedRangeNotSatisfiable || backend.count("storage.GetManifest") != 1 {
		t.Fatalf("range past the end: %d, %d manifest calls", r.StatusCode, backend.count("storage.GetManifest"))
	}
	// Deleted behind the gateway's back, so it still knows the size: the
	// known path's read is the 404, without a manifest call and without
	// the Content-Range of the bytes it did not send.
	if _, err := ronruntime.Call(context.Background(), f.rt, storage.Delete{Addr: addr}); err != nil {
		t.Fatal(err)
	}
	backend.reset()
	r = f.do("GET", path, nil, map[string]string{"Range": "bytes=100-200"})
	if r.StatusCode != http.StatusNotFound || r.Header.Get("Content-Range") != "" {
		t.Fatalf("range of an object deleted in storage: %d, %d bytes, Content-Range %q", r.StatusCode, len(r.body), r.Header.Get("Content-Range"))
	}
	if gets, mans := backend.count("storage.Get"), backend.count("storage.GetManifest"); gets != 1 || mans != 0 {
		t.Fatalf("range of an object deleted in storage made %d reads and %d manifest calls, want 1 and 0", gets, mans)
	}
	// A DELETE through the gateway (the object is already gone) forgets
	// the size: the general path answers 404 from the manifest call.
	if r := f.do("DELETE", path, nil, f.bearer()); r.StatusCode != http.StatusNotFound {
		t.Fatalf("DELETE: %d", r.StatusCode)
	}
	backend.reset()
	r = f.do("GET", path, nil, map[string]string{"Range": "bytes=100-200"})
	if r.StatusCode != http.StatusNotFound || r.Header.Get("Content-Range") != "" || backend.count("storage.GetManifest") != 1 {
		t.Fatalf("range of a deleted object: %d, %d bytes, Content-Range %q, %d manifest calls", r.StatusCode, len(r.body), r.Header.Get("Content-Range"), backend.count("storage.GetManifest"))
	}
}

// truncatingReader yields n pattern bytes then fails, like a client that
// closes its connection mid-body. Before failing it waits (bounded) until
// ready says the server has opened the upload session: a connection reset
// that arrives before the server parsed the request would otherwise make
// the test depend on scheduling.
type truncatingReader struct {
	*streamtest.Pattern
	ready func() bool
}

func (r truncatingReader) Read(b []byte) (int, error) {
	n, err := r.Pattern.Read(b)
	if err == io.EOF {
		for deadline := time.Now().Add(30 * time.Second); !r.ready() && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		return 0, io.ErrClosedPipe
	}
	return n, err
}

// TestStreamTruncatedUploadLeavesNothing: a body shorter than its
// Content-Length never commits; the session is aborted (more truncated
// uploads than storage.SessionsMax still leave room for a good one).
func TestStreamTruncatedUploadLeavesNothing(t *testing.T) {
	f, backend := newDiskFixture(t)
	const size, sent = 4 << 20, 3<<20 + 12345
	for i := range storage.SessionsMax + 2 {
		// The previous upload's handler aborts its session after the
		// client is gone; wait for that (bounded), or the tenant's edge
		// session share (8) can still be taken by handlers winding down.
		for wait := time.Now().Add(30 * time.Second); backend.count("storage.PutAbort") < i && time.Now().Before(wait); {
			time.Sleep(time.Millisecond)
		}
		begun := func() bool { return backend.count("storage.PutBegin") > i }
		req, _ := http.NewRequest(http.MethodPut, f.srv.URL+"/o", truncatingReader{streamtest.NewPattern(3, sent), begun})
		req.ContentLength = size
		req.Header.Set("Authorization", "Bearer "+f.root)
		if r, err := http.DefaultClient.Do(req); err == nil {
			r.Body.Close()
			if r.StatusCode < 400 {
				t.Fatalf("truncated upload %d answered %d", i, r.StatusCode)
			}
		}
	}
	deadline := time.Now().Add(30 * time.Second) // a bound on a slow machine, not a timing assertion
	for backend.count("storage.PutAbort") < storage.SessionsMax+2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // the handler may still be aborting
	}
	if backend.count("storage.PutCommit") != 0 || backend.count("storage.PutAbort") != storage.SessionsMax+2 {
		t.Fatalf("commits %d, aborts %d", backend.count("storage.PutCommit"), backend.count("storage.PutAbort"))
	}
	for _, n := range []int64{size, sent} {
		addr := streamtest.Addr(3, n)
		has, err := ronruntime.Call(context.Background(), f.rt, storage.Has{Addr: addr})
		if err != nil || has.Local {
			t.Fatalf("prefix of %d bytes is stored: %+v %v", n, has, err)
		}
		if r := f.do("GET", "/o/"+addr.String(), nil, nil); r.StatusCode != http.StatusNotFound {
			t.Fatalf("GET of a truncated upload: %d", r.StatusCode)
		}
	}
	if r, body := f.putStream(3, size); r.StatusCode != http.StatusCreated {
		t.Fatalf("PUT after truncated uploads: %d %s", r.StatusCode, body)
	}
}

// TestStreamBodyCap: a body above ObjectBytesMax is refused whether its
// length is declared or not, and nothing is committed.
func TestStreamBodyCap(t *testing.T) {
	f := newFixture(t, gateway.AdmissionConfig{}, 1<<20+1)
	// A declared length over the cap is refused before the body is read.
	// The client asks for 100-continue, as a client sending a large body
	// should: without it the node's answer races the client's write of
	// the body, and on a busy machine the client saw its write reset (the
	// unread body at close) before it read the 413.
	declared, _ := http.NewRequest(http.MethodPut, f.srv.URL+"/o", bytes.NewReader(make([]byte, 1<<20+2)))
	declared.Header.Set("Authorization", "Bearer "+f.root)
	declared.Header.Set("Expect", "100-continue")
	dresp, err := http.DefaultClient.Do(declared)
	if err != nil {
		t.Fatal(err)
	}
	dbody, _ := io.ReadAll(dresp.Body)
	dresp.Body.Close()
	if dresp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(dbody), gateway.CodeTooLarge) {
		t.Fatalf("declared body above the cap: %d %s", dresp.StatusCode, dbody)
	}
	req, _ := http.NewRequest(http.MethodPut, f.srv.URL+"/o", io.MultiReader(streamtest.NewPattern(5, 1<<20+2)))
	req.ContentLength = -1 // chunked: the cap is found while streaming
	req.Header.Set("Authorization", "Bearer "+f.root)
	resp, err := http.DefaultClient.Do(req)
	switch {
	case err == nil:
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("chunked body above the cap: %d", resp.StatusCode)
		}
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE):
		// The node answered 413 and closed the connection while the
		// client was still writing the body; on a busy machine the
		// client's write fails before it reads the answer. A refusal
		// all the same: what follows checks nothing was committed.
	default:
		t.Fatal(err)
	}
	if r := f.do("GET", "/o/"+streamtest.Addr(5, 1<<20+2).String(), nil, nil); r.StatusCode != http.StatusNotFound {
		t.Fatalf("GET of the refused body: %d", r.StatusCode)
	}
}

// fakeStore serves one object through the streaming read API, with a
// manifest that may lie about the address and chunks that may fail.
type fakeStore struct {
	addr    proto.Addr
	data    []byte
	man     storage.Manifest
	failAt  int // GetChunk of this chunk index fails (-1: never)
	mu      sync.Mutex
	fetched int // chunks read
	batches int // GetChunks calls
}

func newFakeStore(addr proto.Addr, data []byte) *fakeStore {
	f := &fakeStore{addr: addr, data: data, failAt: -1, man: storage.Manifest{Size: uint64(len(data))}}
	for off := 0; off < len(data); off += gateway.StreamChunkBytes {
		part := data[off:min(off+gateway.StreamChunkBytes, len(data))]
		f.man.Chunks = append(f.man.Chunks, storage.ChunkRef{Addr: proto.AddrOf(part), Size: uint32(len(part))})
	}
	return f
}

func (f *fakeStore) Ready() bool { return true }

func (f *fakeStore) Call(_ context.Context, _ string, body any) (any, error) {
	switch body := body.(type) {
	case storage.Get:
		if body.Offset == 0 && body.Length == 0 && body.SizeMax > 0 && uint64(len(f.data)) > body.SizeMax {
			return storage.GetResult{Size: uint64(len(f.data)), Err: storage.ErrTooLarge}, nil
		}
		end := uint64(len(f.data))
		if body.Length > 0 {
			end = body.Offset + body.Length
		}
		return storage.GetResult{Data: bytes.Clone(f.data[body.Offset:end]), Size: uint64(len(f.data))}, nil
	case storage.GetManifest:
		return storage.ManifestResult{Manifest: f.man}, nil
	case storage.GetChunk:
		f.mu.Lock()
		defer f.mu.Unlock()
		f.fetched++
		off := 0
		for i, c := range f.man.Chunks {
			if c == body.Chunk {
				if i == f.failAt {
					return storage.GetResult{Err: storage.ErrUnavailable}, nil
				}
				return storage.GetResult{Data: bytes.Clone(f.data[off : off+int(c.Size)]), Size: uint64(c.Size)}, nil
			}
			off += int(c.Size)
		}
		return storage.GetResult{Err: storage.ErrNotFound}, nil
	case storage.GetChunks:
		return f.getChunks(body), nil
	}
	return nil, fmt.Errorf("fakeStore: unexpected %T", body)
}

// getChunks answers a GetChunks: the chunks must be consecutive in the
// manifest and the first at Offset; a batch holding failAt fails whole.
func (f *fakeStore) getChunks(body storage.GetChunks) storage.GetResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fetched += len(body.Chunks)
	f.batches++
	if len(body.Chunks) == 0 || len(body.Chunks) > storage.GetChunksMax {
		return storage.GetResult{Err: storage.ErrBadRequest}
	}
	off := uint64(0)
	for i, c := range f.man.Chunks {
		if c != body.Chunks[0] {
			off += uint64(c.Size)
			continue
		}
		if off != body.Offset || i+len(body.Chunks) > len(f.man.Chunks) {
			return storage.GetResult{Err: storage.ErrBadRequest}
		}
		var res storage.GetResult
		for k, want := range body.Chunks {
			if f.man.Chunks[i+k] != want {
				return storage.GetResult{Err: storage.ErrBadRequest}
			}
			if i+k == f.failAt {
				return storage.GetResult{Err: storage.ErrUnavailable}
			}
			res.Parts = append(res.Parts, bytes.Clone(f.data[off:off+uint64(want.Size)]))
			res.Size += uint64(want.Size)
			off += uint64(want.Size)
		}
		if len(res.Parts) == 1 {
			res.Data, res.Parts = res.Parts[0], nil
		}
		return res
	}
	return storage.GetResult{Err: storage.ErrNotFound}
}

func newFakeGateway(t *testing.T, store *fakeStore) *httptest.Server {
	log := slog.New(slog.DiscardHandler)
	srv := httptest.NewServer(gateway.New(gateway.Config{Backend: store, Metrics: ronruntime.NewPromMetrics(log), Logger: log}))
	t.Cleanup(srv.Close)
	return srv
}

// getAll returns the status, the declared length and what arrived; err is
// set when the body ended before its Content-Length.
func getAll(t *testing.T, url string, hdr map[string]string) (int, int64, []byte, error) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	body, err := io.ReadAll(r.Body)
	return r.StatusCode, r.ContentLength, body, err
}

// TestStreamNeverCompletesWrongBytes: a streamed whole GET whose chunk
// read fails after the headers ends with a truncated body rather than a
// complete response. (A manifest that does not hash to the address never
// reaches the gateway: storage merges its chunk keys to the address
// before it answers GetManifest, and verifies every chunk against its
// key; core/storage's TestManifestBoundToAddress.)
func TestStreamNeverCompletesWrongBytes(t *testing.T) {
	data := streamtest.Bytes(6, 0, 3<<20)
	failing := newFakeStore(proto.AddrOf(data), data)
	failing.failAt = 7
	_, _, body, err := getAll(t, newFakeGateway(t, failing).URL+"/o/"+failing.addr.String(), nil)
	if err == nil || len(body) > 7*gateway.StreamChunkBytes {
		t.Fatalf("failing chunk: %d bytes, err %v", len(body), err)
	}
	good := newFakeStore(proto.AddrOf(data), data)
	status, _, body, err := getAll(t, newFakeGateway(t, good).URL+"/o/"+good.addr.String(), nil)
	if status != http.StatusOK || err != nil || !bytes.Equal(body, data) || good.fetched != len(good.man.Chunks) {
		t.Fatalf("good object: status %d, err %v, %d chunk reads", status, err, good.fetched)
	}
}

// TestStreamHugeMultipartIsWhole: a multi-range request above
// MultipartBytesMax is answered with the whole object, streamed.
func TestStreamHugeMultipartIsWhole(t *testing.T) {
	data := streamtest.Bytes(7, 0, 2*gateway.MultipartBytesMax)
	store := newFakeStore(proto.AddrOf(data), data)
	hdr := map[string]string{"Range": fmt.Sprintf("bytes=0-%d,%d-", gateway.MultipartBytesMax, gateway.MultipartBytesMax+10)}
	status, _, body, err := getAll(t, newFakeGateway(t, store).URL+"/o/"+store.addr.String(), hdr)
	if status != http.StatusOK || err != nil || !bytes.Equal(body, data) || store.fetched != len(store.man.Chunks) {
		t.Fatalf("status %d, %d bytes, err %v, %d chunk reads", status, len(body), err, store.fetched)
	}
	small := map[string]string{"Range": "bytes=0-9,100-109"}
	if status, _, _, _ := getAll(t, newFakeGateway(t, store).URL+"/o/"+store.addr.String(), small); status != http.StatusPartialContent {
		t.Fatalf("small multi-range: status %d", status)
	}
}

// TestStreamCorruptChunkNeverServed: streamed whole GETs read their chunks
// into recycled buffers (storage.GetChunk.Into), which hold the bytes of
// earlier reads; once a byte of one chunk changes on disk, a GET fails
// before that chunk (a truncated body) and every byte it delivered is the
// object's, and a 1 MiB range over it (its reads lent buffers as well,
// storage.Get.Into) is an error, on every try.
func TestStreamCorruptChunkNeverServed(t *testing.T) {
	dir := t.TempDir()
	f, _ := newDiskFixtureIn(t, dir)
	const n = 12 * gateway.StreamChunkBytes
	data := streamtest.Bytes(9, 0, n)
	r, body := f.putStream(9, n)
	var out struct {
		Addr string `json:"addr"`
	}
	if r.StatusCode != http.StatusCreated || json.Unmarshal(body, &out) != nil {
		t.Fatalf("PUT: %d %s", r.StatusCode, body)
	}
	url := f.srv.URL + "/o/" + out.Addr
	// A 1 MiB range over chunks 6 to 10 (read into lent buffers too).
	rangeFrom := 6*gateway.StreamChunkBytes + 1234
	rng := map[string]string{"Range": fmt.Sprintf("bytes=%d-%d", rangeFrom, rangeFrom+1<<20-1)}
	for range 3 { // fills the pool with buffers of this object's chunks
		if status, _, got, err := getAll(t, url, nil); status != http.StatusOK || err != nil || !bytes.Equal(got, data) {
			t.Fatalf("GET before the damage: status %d, err %v, %d bytes", status, err, len(got))
		}
		if status, _, got, err := getAll(t, url, rng); status != http.StatusPartialContent || err != nil || !bytes.Equal(got, data[rangeFrom:rangeFrom+1<<20]) {
			t.Fatalf("range GET before the damage: status %d, err %v, %d bytes", status, err, len(got))
		}
	}
	// Chunk 7 of the object, the segment's only one holding its bytes.
	var segs []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".seg") {
			segs = append(segs, p)
		}
		return nil
	})
	damaged := false
	for _, seg := range segs {
		raw, err := os.ReadFile(seg)
		if err != nil {
			t.Fatal(err)
		}
		chunk := data[7*gateway.StreamChunkBytes : 8*gateway.StreamChunkBytes]
		if at := bytes.Index(raw, chunk); at >= 0 {
			fd, err := os.OpenFile(seg, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			_, err = fd.WriteAt([]byte{raw[at+1000] ^ 0x01}, int64(at+1000))
			if cerr := fd.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatal(err)
			}
			damaged = true
		}
	}
	if !damaged {
		t.Fatalf("chunk 7 not found in the segments %v", segs)
	}
	for try := range 3 {
		_, _, got, err := getAll(t, url, nil)
		if err == nil || len(got) > 7*gateway.StreamChunkBytes || !bytes.Equal(got, data[:len(got)]) {
			t.Fatalf("GET %d after the damage: err %v, %d bytes, a prefix of the object: %v", try, err, len(got), bytes.Equal(got, data[:min(len(got), n)]))
		}
		if status, _, got, _ := getAll(t, url, rng); status == http.StatusPartialContent || len(got) > 0 && bytes.Contains(data, got) {
			t.Fatalf("range GET %d over the damaged chunk: status %d, %d bytes", try, status, len(got))
		}
	}
}

// TestStreamReadsChunksInBatches: a streamed GET reads an object the
// edge cache does not take in batches of StreamBatchChunksMax consecutive
// chunks, one storage call each (storage.GetChunks), in order and
// complete; a streamed range reads only its chunks, in batches too; a
// failing chunk fails its batch and the body is cut before it.
func TestStreamReadsChunksInBatches(t *testing.T) {
	if storage.GetChunksMax < gateway.StreamBatchChunksMax || gateway.StreamBatchChunksMax < 2 || gateway.StreamWindowMax < 2*gateway.StreamBatchChunksMax {
		t.Fatal("a batch must fit one GetChunks, and two batches the window")
	}
	const chunks = 41
	data := streamtest.Bytes(10, 0, chunks*gateway.StreamChunkBytes-77)
	store := newFakeStore(proto.AddrOf(data), data)
	url := newFakeGateway(t, store).URL + "/o/" + store.addr.String()
	if status, _, body, err := getAll(t, url, nil); status != http.StatusOK || err != nil || !bytes.Equal(body, data) {
		t.Fatalf("GET: status %d, err %v, %d bytes", status, err, len(body))
	}
	counts := func() (int, int) {
		store.mu.Lock()
		defer store.mu.Unlock()
		n, calls := store.fetched, store.batches
		store.fetched, store.batches = 0, 0
		return n, calls
	}
	if n, calls := counts(); n != chunks || calls != (chunks+gateway.StreamBatchChunksMax-1)/gateway.StreamBatchChunksMax {
		t.Fatalf("GET of %d chunks read %d chunks in %d calls", chunks, n, calls)
	}
	from, to := 3*gateway.StreamChunkBytes+5, 13*gateway.StreamChunkBytes+9 // chunks 3..13
	rng := map[string]string{"Range": fmt.Sprintf("bytes=%d-%d", from, to)}
	if status, _, body, err := getAll(t, url, rng); status != http.StatusPartialContent || err != nil || !bytes.Equal(body, data[from:to+1]) {
		t.Fatalf("range: status %d, err %v, %d bytes", status, err, len(body))
	}
	if n, calls := counts(); n != 11 || calls != (11+gateway.StreamBatchChunksMax-1)/gateway.StreamBatchChunksMax {
		t.Fatalf("range over chunks 3..13 read %d chunks in %d calls", n, calls)
	}
	store.mu.Lock()
	store.failAt = 18
	store.mu.Unlock()
	batch := 18 - 18%gateway.StreamBatchChunksMax // the failing batch's first chunk
	_, _, body, err := getAll(t, url, nil)
	if err == nil || len(body) > batch*gateway.StreamChunkBytes || !bytes.Equal(body, data[:len(body)]) {
		t.Fatalf("chunk 18 failing: err %v, %d bytes", err, len(body))
	}
}

// idStore is a fakeStore that notes which goroutines ran its GetChunk
// calls (by the number in their stack header).
type idStore struct {
	*fakeStore
	mu  sync.Mutex
	ids map[string]bool
}

func (s *idStore) Call(ctx context.Context, service string, body any) (any, error) {
	switch body.(type) {
	case storage.GetChunk, storage.GetChunks:
		id := streamtest.GoroutineID()
		s.mu.Lock()
		s.ids[id] = true
		s.mu.Unlock()
	}
	return s.fakeStore.Call(ctx, service, body)
}

// windowStore is a fakeStore that measures the chunk reads in flight.
// Each read is held until more than StreamCachedWindowMax are in flight
// or 20 ms passed (a bound, not a timing assertion), so that the reads a
// window allows overlap and a window above it shows.
type windowStore struct {
	*fakeStore
	mu       sync.Mutex
	inflight int
	most     int
}

func (s *windowStore) Call(ctx context.Context, service string, body any) (any, error) {
	n := 0
	switch body := body.(type) {
	case storage.GetChunk:
		n = 1
	case storage.GetChunks:
		n = len(body.Chunks)
	}
	if n == 0 {
		return s.fakeStore.Call(ctx, service, body)
	}
	s.mu.Lock()
	s.inflight += n
	s.most = max(s.most, s.inflight)
	s.mu.Unlock()
	for held := time.Now().Add(20 * time.Millisecond); time.Now().Before(held); time.Sleep(time.Millisecond) {
		s.mu.Lock()
		over := s.inflight > gateway.StreamCachedWindowMax
		s.mu.Unlock()
		if over {
			break
		}
	}
	res, err := s.fakeStore.Call(ctx, service, body)
	s.mu.Lock()
	s.inflight -= n
	s.mu.Unlock()
	return res, err
}

// TestStreamCachedWindow: a streamed GET of an object whose chunks the
// edge cache takes, read one chunk per call, has at most
// StreamCachedWindowMax chunk reads in flight (more would queue at the
// disk); the same object without the cache is read in batches, with at
// most StreamWindowMax.
func TestStreamCachedWindow(t *testing.T) {
	data := streamtest.Bytes(12, 0, edgecache.EntryBytesMax+16*gateway.StreamChunkBytes) // streamed, admitted by 64 MiB / 8
	for _, c := range []struct {
		cacheBytes int64
		window     int
		batched    bool
	}{{64 << 20, gateway.StreamCachedWindowMax, false}, {0, gateway.StreamWindowMax, true}} {
		store := &windowStore{fakeStore: newFakeStore(proto.AddrOf(data), data)}
		log := slog.New(slog.DiscardHandler)
		srv := httptest.NewServer(gateway.New(gateway.Config{Backend: store, Metrics: ronruntime.NewPromMetrics(log), Logger: log, EdgeCacheBytes: c.cacheBytes}))
		status, _, body, err := getAll(t, srv.URL+"/o/"+store.addr.String(), nil)
		srv.Close()
		if status != http.StatusOK || err != nil || !bytes.Equal(body, data) {
			t.Fatalf("cache %d: status %d, err %v, %d bytes", c.cacheBytes, status, err, len(body))
		}
		store.mu.Lock()
		most, batches := store.most, store.batches
		store.mu.Unlock()
		if most > c.window || (batches > 0) != c.batched {
			t.Fatalf("cache %d: %d chunk reads in flight at most (want at most %d), %d batch calls (batched %v)", c.cacheBytes, most, c.window, batches, c.batched)
		}
	}
}

// TestStreamReusesFetchers: a streamed GET of 40 chunks reads them on at
// most StreamWindowMax goroutines, not one per chunk, and they end with
// the response, whether it completed or failed midway.
func TestStreamReusesFetchers(t *testing.T) {
	data := streamtest.Bytes(8, 0, 40*gateway.StreamChunkBytes)
	for _, failAt := range []int{-1, 25} {
		store := &idStore{fakeStore: newFakeStore(proto.AddrOf(data), data), ids: map[string]bool{}}
		store.failAt = failAt
		log := slog.New(slog.DiscardHandler)
		srv := httptest.NewServer(gateway.New(gateway.Config{Backend: store, Metrics: ronruntime.NewPromMetrics(log), Logger: log}))
		status, _, body, err := getAll(t, srv.URL+"/o/"+store.addr.String(), nil)
		if failAt < 0 && (status != http.StatusOK || err != nil || !bytes.Equal(body, data)) {
			t.Fatalf("status %d, err %v, %d bytes", status, err, len(body))
		}
		if failAt >= 0 && (err == nil || len(body) > failAt*gateway.StreamChunkBytes || !bytes.Equal(body, data[:len(body)])) {
			t.Fatalf("chunk %d failing: err %v, %d bytes", failAt, err, len(body))
		}
		store.mu.Lock()
		n := len(store.ids)
		store.mu.Unlock()
		if n > gateway.StreamWindowMax {
			t.Fatalf("chunk reads ran on %d goroutines, want at most %d", n, gateway.StreamWindowMax)
		}
		// Goroutine numbers are never reused: the goroutines that read
		// chunks must be gone (counting goroutines by function would also
		// count other tests' responses).
		store.mu.Lock()
		ids := maps.Clone(store.ids)
		store.mu.Unlock()
		deadline := time.Now().Add(30 * time.Second)
		for left := streamtest.Alive(ids); len(left) > 0; left = streamtest.Alive(ids) {
			if time.Now().After(deadline) {
				t.Fatalf("fetching goroutines %v still running after the response", left)
			}
			time.Sleep(time.Millisecond)
		}
		srv.Close()
	}
}

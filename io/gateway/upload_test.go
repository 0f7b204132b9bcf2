package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/storage"
	"github.com/ron-network/ron/io/gateway"
	"github.com/ron-network/ron/io/internal/streamtest"
	ronruntime "github.com/ron-network/ron/io/runtime"
)

// waitBound bounds the polling of these tests on a slow machine; it is a
// deadline, not a timing assertion.
const waitBound = 30 * time.Second

// uploadStore is a storage backend for the upload path that records the
// session's chunks and how they overlapped. PutChunk number holdAt waits
// (bounded) until hold returns true before it answers; PutChunk number
// failAt fails.
type uploadStore struct {
	hold   func() bool
	holdAt int
	failAt int

	mu          sync.Mutex
	chunks      [][]byte
	inflight    int
	inflightMax int
	held        bool // hold became true while chunk holdAt was in flight
	commits     []storage.PutCommit
	aborts      int
	abortEarly  bool // an abort arrived while a chunk was in flight
}

func (s *uploadStore) Ready() bool { return true }

func (s *uploadStore) Call(_ context.Context, _ string, body any) (any, error) {
	switch body := body.(type) {
	case storage.PutBegin:
		return storage.PutBeginResult{Session: 7}, nil
	case storage.PutChunk:
		return s.putChunk(body), nil
	case storage.PutCommit:
		s.mu.Lock()
		defer s.mu.Unlock()
		s.commits = append(s.commits, body)
		return storage.PutResult{Addr: body.Addr, Size: body.Size, Replicas: 1}, nil
	case storage.PutAbort:
		s.mu.Lock()
		defer s.mu.Unlock()
		s.aborts++
		s.abortEarly = s.abortEarly || s.inflight > 0
		return storage.PutAbortResult{}, nil
	}
	return nil, fmt.Errorf("uploadStore: unexpected %T", body)
}

func (s *uploadStore) putChunk(body storage.PutChunk) storage.PutChunkResult {
	s.mu.Lock()
	i := len(s.chunks)
	s.chunks = append(s.chunks, bytes.Clone(body.Data))
	s.inflight++
	s.inflightMax = max(s.inflightMax, s.inflight)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inflight--
		s.mu.Unlock()
	}()
	if i == s.holdAt {
		held := poll(s.hold)
		s.mu.Lock()
		s.held = held
		s.mu.Unlock()
	}
	if i == s.failAt {
		return storage.PutChunkResult{Err: fmt.Errorf("%w: injected", storage.ErrUnavailable)}
	}
	return storage.PutChunkResult{Chunk: storage.ChunkRef{Addr: proto.AddrOf(body.Data), Size: uint32(len(body.Data))}}
}

// poll waits until cond holds, at most waitBound.
func poll(cond func() bool) bool {
	for deadline := time.Now().Add(waitBound); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// bodyCounter counts what the gateway read of each request body (the
// client's own count runs ahead by the socket buffers) and whether a read
// failed.
type bodyCounter struct {
	read   atomic.Int64
	failed atomic.Bool
}

type countedBody struct {
	io.ReadCloser
	c *bodyCounter
}

func (b countedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.c.read.Add(int64(n))
	if err != nil && err != io.EOF {
		b.c.failed.Store(true)
	}
	return n, err
}

// newUploadGateway serves a gateway over store whose request bodies are
// counted by counter; it returns the server and a root token.
func newUploadGateway(t *testing.T, store *uploadStore, counter *bodyCounter) (*httptest.Server, string) {
	t.Helper()
	keys, key := rootKeyring(t)
	log := slog.New(slog.DiscardHandler)
	g := gateway.New(gateway.Config{Backend: store, Verifier: auth.NewVerifier(keys, nil), Metrics: ronruntime.NewPromMetrics(log), Logger: log})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = countedBody{ReadCloser: r.Body, c: counter}
		g.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	tok, err := auth.Mint(key, "alice", auth.OpsAll, [auth.NonceBytes]byte{1})
	if err != nil {
		t.Fatal(err)
	}
	return srv, tok.Encode()
}

func putBody(t *testing.T, url, token string, body io.Reader, length int64) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, url+"/o", body)
	req.ContentLength = length
	req.Header.Set("Authorization", "Bearer "+token)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0 // the server may close a failed upload's connection early
	}
	_, _ = io.Copy(io.Discard, r.Body)
	r.Body.Close()
	return r.StatusCode
}

// TestStreamUploadOverlapsChunkWrites: while a PutChunk is in flight the
// gateway reads (and hashes) the next piece of the body; chunk 2's reply is
// held until the gateway has read all of piece 3. Still, only one chunk is
// ever in flight, the chunks arrive in body order, and the commit claims
// the body's address and size.
func TestStreamUploadOverlapsChunkWrites(t *testing.T) {
	const chunk = gateway.StreamChunkBytes
	const size = 8*chunk + 123
	counter := &bodyCounter{}
	store := &uploadStore{holdAt: 2, failAt: -1, hold: func() bool { return counter.read.Load() >= 4*chunk }}
	srv, token := newUploadGateway(t, store, counter)
	if status := putBody(t, srv.URL, token, streamtest.NewPattern(11, size), size); status != http.StatusCreated {
		t.Fatalf("PUT answered %d", status)
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	if !store.held {
		t.Fatal("the gateway did not read the next piece while a chunk was in flight")
	}
	if store.inflightMax != 1 {
		t.Fatalf("%d chunks were in flight at once, want 1", store.inflightMax)
	}
	if got := bytes.Join(store.chunks, nil); !bytes.Equal(got, streamtest.Bytes(11, 0, size)) || len(store.chunks) != 9 {
		t.Fatalf("the session received %d chunks, %d bytes, not the body in order", len(store.chunks), len(got))
	}
	if len(store.commits) != 1 || store.commits[0].Addr != streamtest.Addr(11, size) || store.commits[0].Size != size || store.aborts != 0 {
		t.Fatalf("commits %+v, aborts %d", store.commits, store.aborts)
	}
}

// TestStreamUploadChunkFailureAborts: a failed PutChunk ends the upload
// with an error: no chunk is sent after it, nothing is committed, and the
// session is aborted once, after the last chunk was answered.
func TestStreamUploadChunkFailureAborts(t *testing.T) {
	const chunk = gateway.StreamChunkBytes
	const size = 10 * chunk
	store := &uploadStore{holdAt: -1, failAt: 3}
	srv, token := newUploadGateway(t, store, &bodyCounter{})
	if status := putBody(t, srv.URL, token, streamtest.NewPattern(12, size), size); status != http.StatusServiceUnavailable && status != 0 {
		t.Fatalf("PUT with a failing chunk answered %d, want 503", status)
	}
	ok := poll(func() bool {
		store.mu.Lock()
		defer store.mu.Unlock()
		return store.aborts > 0
	})
	store.mu.Lock()
	defer store.mu.Unlock()
	if !ok || store.aborts != 1 || store.abortEarly || len(store.commits) != 0 {
		t.Fatalf("aborts %d (early %v), commits %d; want one abort after the chunks, no commit", store.aborts, store.abortEarly, len(store.commits))
	}
	if len(store.chunks) != 4 {
		t.Fatalf("%d chunks sent, want 4 (none after the failed one)", len(store.chunks))
	}
}

// failingBody yields n pattern bytes, then waits (bounded) until ready
// says so and fails, like a client that goes away mid-body.
type failingBody struct {
	*streamtest.Pattern
	ready func() bool
}

func (b failingBody) Read(p []byte) (int, error) {
	n, err := b.Pattern.Read(p)
	if err == io.EOF {
		poll(b.ready)
		return 0, io.ErrClosedPipe
	}
	return n, err
}

// TestStreamUploadBodyFailureWaitsForChunk: the body fails while a chunk is
// in flight (chunk 1 is answered only after the gateway saw the read
// error); the abort still reaches storage after that chunk, never while it
// is in flight, and nothing is committed.
func TestStreamUploadBodyFailureWaitsForChunk(t *testing.T) {
	const chunk = gateway.StreamChunkBytes
	const sent = 2*chunk + 500
	counter := &bodyCounter{}
	store := &uploadStore{holdAt: 1, failAt: -1, hold: counter.failed.Load}
	srv, token := newUploadGateway(t, store, counter)
	inSession := func() bool {
		store.mu.Lock()
		defer store.mu.Unlock()
		return len(store.chunks) >= 2
	}
	if status := putBody(t, srv.URL, token, failingBody{streamtest.NewPattern(13, sent), inSession}, 4*chunk); status >= 200 && status < 300 {
		t.Fatalf("PUT of a failing body answered %d", status)
	}
	ok := poll(func() bool {
		store.mu.Lock()
		defer store.mu.Unlock()
		return store.aborts > 0
	})
	store.mu.Lock()
	defer store.mu.Unlock()
	if !store.held {
		t.Fatal("the body failed only after chunk 1 was answered: the test did not exercise a chunk in flight")
	}
	if !ok || store.aborts != 1 || store.abortEarly || len(store.commits) != 0 {
		t.Fatalf("aborts %d (early %v), commits %d; want one abort after the chunk in flight, no commit", store.aborts, store.abortEarly, len(store.commits))
	}
}

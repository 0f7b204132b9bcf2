package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/storage"
	"github.com/ron-network/ron/io/gateway"
	ronruntime "github.com/ron-network/ron/io/runtime"
)

// lastChunkStore is a storage backend whose last PutChunk (number last)
// announces itself and then waits for its call's context to end (bounded
// by waitBound), answering the context's error, as a node's reply that
// the request gave up on.
type lastChunkStore struct {
	last    int
	chunks  atomic.Int32
	arrived chan struct{}
}

func (s *lastChunkStore) Ready() bool { return true }

func (s *lastChunkStore) Call(ctx context.Context, _ string, body any) (any, error) {
	switch body := body.(type) {
	case storage.PutBegin:
		return storage.PutBeginResult{Session: 7}, nil
	case storage.PutChunk:
		if int(s.chunks.Add(1))-1 == s.last {
			close(s.arrived)
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(waitBound):
				return nil, fmt.Errorf("%w: the request's context was never cancelled", storage.ErrUnavailable)
			}
		}
		return storage.PutChunkResult{Chunk: storage.ChunkRef{Addr: proto.AddrOf(body.Data), Size: uint32(len(body.Data))}}, nil
	case storage.PutAbort:
		return storage.PutAbortResult{}, nil
	case storage.PutCommit:
		return storage.PutResult{Addr: body.Addr, Size: body.Size, Replicas: 1}, nil
	}
	return nil, fmt.Errorf("lastChunkStore: unexpected %T", body)
}

// An upload whose session expires while its last chunk is in flight (the
// whole body read) is answered 503 session_expired. The expiry's stop
// sets a past read deadline on the connection; net/http's background read
// then fails and cancels the request's context, so the chunk's call ends
// with context.Canceled, which was answered 500 INTERNAL.
func TestSessionExpiredDuringLastChunkSaysSo(t *testing.T) {
	var skew atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	keys, key := rootKeyring(t)
	log := slog.New(slog.DiscardHandler)
	store := &lastChunkStore{last: 1, arrived: make(chan struct{})}
	g := gateway.New(gateway.Config{Backend: store, Verifier: auth.NewVerifier(keys, nil), Metrics: ronruntime.NewPromMetrics(log),
		Logger: log, Version: "test", Clock: clock, BodyLimits: stallLimits,
		Sessions: gateway.SessionsConfig{SessionsMax: 4, SessionsPerTenantMax: 1, SessionTTL: time.Minute}})
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	tok, err := auth.Mint(key, "alice", auth.OpsAll, [auth.NonceBytes]byte{1})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := bytes.Repeat([]byte("x"), gateway.StreamChunkBytes+100)
	if _, err := fmt.Fprintf(c, "PUT /o HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s",
		tok.Encode(), len(body), body); err != nil {
		t.Fatal(err)
	}
	select {
	case <-store.arrived:
	case <-time.After(waitBound):
		t.Fatal("the last chunk never reached storage")
	}
	skew.Add(int64(2 * time.Minute))
	if r, err := http.Get(srv.URL + "/readyz"); err != nil || r.StatusCode != http.StatusOK {
		t.Fatalf("/readyz: %v %v", r, err)
	}
	_ = c.SetReadDeadline(time.Now().Add(waitBound))
	r, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var e gateway.Envelope
	_ = json.NewDecoder(r.Body).Decode(&e)
	if r.StatusCode != http.StatusServiceUnavailable || e.Reason != gateway.ShedSessionExpired || !strings.Contains(e.Message, "upload session expired") {
		t.Fatalf("upload expired during its last chunk: %d %+v, want 503 session_expired", r.StatusCode, e)
	}
}

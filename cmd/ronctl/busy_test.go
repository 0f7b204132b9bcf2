package main

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ron-network/ron/io/oapgate"
)

// busyTransport refuses its first busy requests as the OAP/1 client sees
// a node's StreamCodeBusy reset, after reading part of the body (as the
// client's body writer may have), then answers a PUT with what it read.
type busyTransport struct {
	mu     sync.Mutex
	busy   int
	calls  int
	bodies [][]byte
}

func (b *busyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	b.mu.Lock()
	b.calls++
	refuse := b.calls <= b.busy
	b.mu.Unlock()
	if refuse {
		if req.Body != nil {
			_, _ = io.CopyN(io.Discard, req.Body, 100)
			_ = req.Body.Close()
		}
		return nil, &oapgate.RemoteError{Code: uint64(oapgate.StreamCodeBusy)}
	}
	data, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	_ = req.Body.Close()
	b.mu.Lock()
	b.bodies = append(b.bodies, data)
	b.mu.Unlock()
	return &http.Response{StatusCode: http.StatusCreated, Header: http.Header{},
		Body: io.NopCloser(strings.NewReader(`{"addr":"b3:x","size":1}`)), Request: req}, nil
}

// TestBusyIsRetriedWithTheWholeBody: a PUT the node refused as busy
// (oapgate.ErrBusy: nothing was served) is sent again, the file's body
// whole from its start, and succeeds; a node that stays busy is reported
// as having refused, not as unreachable.
func TestBusyIsRetriedWithTheWholeBody(t *testing.T) {
	saved := busyBackoff
	busyBackoff = []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}
	t.Cleanup(func() { busyBackoff = saved })
	in := filepath.Join(t.TempDir(), "in")
	content := bytes.Repeat([]byte("0123456789"), 1000)
	if err := os.WriteFile(in, content, 0o600); err != nil {
		t.Fatal(err)
	}
	tr := &busyTransport{busy: 2}
	var out bytes.Buffer
	c := &client{node: "oap://node", token: "t", stdout: &out, http: &http.Client{Transport: tr}}
	if err := c.dispatch([]string{"put", in}); err != nil {
		t.Fatalf("put refused twice as busy, then served: %v", err)
	}
	if tr.calls != 3 || len(tr.bodies) != 1 || !bytes.Equal(tr.bodies[0], content) {
		t.Fatalf("%d attempts, bodies %d; want 3 attempts and the whole file once", tr.calls, len(tr.bodies))
	}
	tr = &busyTransport{busy: 100}
	c = &client{node: "oap://node", token: "t", stdout: &out, http: &http.Client{Transport: tr}}
	err := c.dispatch([]string{"put", in})
	if !errors.Is(err, oapgate.ErrBusy) || strings.Contains(err.Error(), "cannot reach") || tr.calls != len(busyBackoff)+1 {
		t.Fatalf("a node always busy: %d attempts, error %v; want %d, oapgate.ErrBusy, not \"cannot reach\"", tr.calls, err, len(busyBackoff)+1)
	}
}

package main

import (
	"testing"
	"time"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/io/gateway"
)

// TestProcessAnonymousReadRate: --anonymous-read-rate reaches the
// gateway. At 0.001 requests/s (burst: the minimum, one request) the
// second GET without a token is 429, while the same GET with the root
// token (tenant "root", its own bucket) is served.
func TestProcessAnonymousReadRate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	n := startRond(t, "--quic-addr", "127.0.0.1:0", "--anonymous-read-rate", "0.001")
	data := []byte("read by the root token only")
	waitFor(t, 30*time.Second, "the first write", func() bool { return call(t, "PUT", n.url+"/o", n.token, data).status == 201 })
	obj := n.url + "/o/" + proto.AddrOf(data).String()
	if a := call(t, "GET", obj, "", nil); a.status != 200 {
		t.Fatalf("first anonymous GET: %d %+v", a.status, a.env)
	}
	a := call(t, "GET", obj, "", nil)
	if a.status != 429 || a.env.Code != gateway.CodeOverQuota || !a.env.Retryable {
		t.Fatalf("anonymous GET at 0.001/s: %d %+v, want 429 OVER_QUOTA", a.status, a.env)
	}
	if a := call(t, "GET", obj, n.token, nil); a.status != 200 {
		t.Fatalf("GET with the root token: %d %+v", a.status, a.env)
	}
}

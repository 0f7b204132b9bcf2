package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/storage"
	"github.com/ron-network/ron/io/gateway"
)

// TestQuantile: nearest rank over 1..100 ms, so the q-quantile is
// round(q*99)+1 ms.
func TestQuantile(t *testing.T) {
	var l []time.Duration
	for i := 1; i <= 100; i++ {
		l = append(l, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0, 1 * time.Millisecond}, {0.5, 51 * time.Millisecond}, {0.95, 95 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}} {
		if got := quantile(l, c.q); got != c.want {
			t.Errorf("quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if got := quantile(nil, 0.5); got != 0 {
		t.Errorf("quantile of nothing = %v, want 0", got)
	}
}

// TestBannerURL reads the http line of rond's banner (cmd/rond
// printBanner) and fails when the process ends without one.
func TestBannerURL(t *testing.T) {
	banner := "rond dev: micronode (in memory)\n  node id   ab12\n  quic      ab12@127.0.0.1:7070\n  http      http://127.0.0.1:41145\n  root token ...\n"
	got, err := bannerURL(strings.NewReader(banner))
	if err != nil || got != "http://127.0.0.1:41145" {
		t.Fatalf("bannerURL = %q, %v", got, err)
	}
	if _, err := bannerURL(strings.NewReader("rond: config: http_addr: bad\n")); err == nil {
		t.Fatal("no http line: want an error")
	}
}

// TestPayloadDistinct: each request number gives a different body, and
// no storage chunk repeats within or across bodies of one worker, so no
// PUT hits the deduplicated path, whole or per chunk.
func TestPayloadDistinct(t *testing.T) {
	buf := randomBytes(3<<20, 1)
	a := string(payload(buf, 3, 1))
	b := string(payload(buf, 3, 2))
	if a == b {
		t.Fatal("payloads of requests 1 and 2 are equal")
	}
	seen := map[proto.Addr]bool{}
	for _, body := range []string{a, b} {
		for _, chunkBytes := range []int{storage.ChunkBytesMin, gateway.StreamChunkBytes} {
			for off := 0; off < len(body); off += chunkBytes {
				addr := proto.AddrOf([]byte(body[off:min(off+chunkBytes, len(body))]))
				if seen[addr] {
					t.Fatalf("chunk at %d (chunks of %d bytes) repeats an earlier chunk", off, chunkBytes)
				}
				seen[addr] = true
			}
		}
	}
}

// TestInProcessRoundTrip: the in-process node stores a body and serves
// it back through the same client code the phases use.
func TestInProcessRoundTrip(t *testing.T) {
	node, clients := testNode(t, 1)
	body := randomBytes(4<<10, 7)
	addr, err := clients[0].put(node.url, body)
	if err != nil || !strings.HasPrefix(addr, "b3:") {
		t.Fatalf("put = %q, %v", addr, err)
	}
	if n, err := clients[0].get(node.url, addr, len(body)); err != nil || n != int64(len(body)) {
		t.Fatalf("get = %d, %v", n, err)
	}
	if _, err := clients[0].get(node.url, addr, len(body)+1); err == nil {
		t.Fatal("get with the wrong expected size: want an error")
	}
}

// TestCASPhaseRetriesFromConflicts: writers sharing a few names conflict,
// take the seq each 409 carries and succeed on the retry without a read;
// every success moved exactly one name one seq forward.
func TestCASPhaseRetriesFromConflicts(t *testing.T) {
	node, clients := testNode(t, 4)
	const names = 3
	// Writers start at seq 0 for every name, so once a name is set every
	// other writer's first write to it is a conflict: both outcomes come
	// within a few writes. The phase ends as soon as both are seen; the
	// minute only bounds a machine too starved to complete any.
	res, err := casPhase(node, clients, names, time.Minute, func(r casResult) bool {
		return r.ok > 0 && r.conflicts > 0
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.ok == 0 || res.conflicts == 0 || res.fails != 0 {
		t.Fatalf("%d successes, %d conflicts, %d failures (%s); want successes, conflicts and no failure",
			res.ok, res.conflicts, res.fails, res.firstErr)
	}
	var seqs uint64
	for i := range names {
		resp, err := clients[0].http.Get(node.url + "/names/" + nameOf(i))
		if err != nil {
			t.Fatal(err)
		}
		var rec gateway.NameRecord
		err = json.NewDecoder(resp.Body).Decode(&rec)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("resolve %s: %d %v", nameOf(i), resp.StatusCode, err)
		}
		seqs += rec.Seq
	}
	if seqs != uint64(res.ok) {
		t.Fatalf("names moved %d seqs in all, writers counted %d successes", seqs, res.ok)
	}
}

// TestInProcessRangeGet: the Range GET phase's request reads exactly the
// asked bytes as a 206, and the offsets stay inside the object.
func TestInProcessRangeGet(t *testing.T) {
	node, clients := testNode(t, 1)
	body := randomBytes(3<<20, 8)
	addr, err := clients[0].put(node.url, body)
	if err != nil {
		t.Fatal(err)
	}
	for _, off := range rangeOffsets(20, len(body)) {
		if off < 0 || off+rangeBytes > len(body) {
			t.Fatalf("offset %d outside a %d-byte object", off, len(body))
		}
	}
	if n, err := clients[0].getRange(node.url, addr, 12345, rangeBytes); err != nil || n != rangeBytes {
		t.Fatalf("getRange = %d, %v", n, err)
	}
	if _, err := clients[0].getRange(node.url, addr, len(body)-10, rangeBytes); err == nil {
		t.Fatal("a range past the end read a full MiB")
	}
}

// testNode starts ronbench's in-process node in a test directory, stopped
// when the test ends, with conns clients.
func testNode(t *testing.T, conns int) (*target, []*client) {
	t.Helper()
	node, err := startInProcess(t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := node.stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	clients, err := newClients(node, conns)
	if err != nil {
		t.Fatal(err)
	}
	return node, clients
}

// TestCASPhaseClaimsPastTheNameQuota: --cas-names above the gateway's
// default per-tenant name quota claims every name on the in-process node
// (one writer, so one tenant claims them all).
func TestCASPhaseClaimsPastTheNameQuota(t *testing.T) {
	node, clients := testNode(t, 1)
	names := gateway.NamesPerTenantDefault + 1
	if _, err := casPhase(node, clients, names, time.Minute, func(casResult) bool { return true }); err != nil {
		t.Fatal(err)
	}
}

package hostile

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/pingcap/failpoint"
	"github.com/quic-go/quic-go"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/io/gateway"
	"github.com/ron-network/ron/io/oapgate"
	"github.com/ron-network/ron/io/pebbledisk"
	"github.com/ron-network/ron/io/quicnet"
	"github.com/ron-network/ron/io/runtime"
)

var bench = flag.Bool("hostile.bench", false, "run each attack longer and print the BENCHMARKS.md \"Under attack\" table")

// Bounds of the suite. Every wait polls with waitBound; the attack
// phases are fixed-length, and every attacker stops when its phase ends.
const (
	waitBound = 30 * time.Second
	// objectBytes is the object the range attack asks for.
	objectBytes = 512 << 10
	// attackerSource is the loopback address attackers dial from, so that
	// per-source limits tell them from the client on 127.0.0.1.
	attackerSource = "127.0.0.2"
	// Limits of the node under test, scaled down so that a refusal comes
	// within a second rather than rond's ten.
	readHeaderTimeout = time.Second
	helloTimeout      = 500 * time.Millisecond
	connsPerSource    = 32
)

var bodyLimits = gateway.BodyLimits{IdleTimeout: 2 * time.Second, RateMin: 4 << 10, RateGrace: 500 * time.Millisecond}

// phase is how long the legitimate client runs, with and without an
// attack, at least (measure runs it on until it made legitMin requests).
func phase() time.Duration {
	if *bench {
		return 5 * time.Second
	}
	return 1500 * time.Millisecond
}

// node is one node under attack.
type node struct {
	t         *testing.T
	rt        *runtime.Runtime
	disk      *pebbledisk.Disk
	httpURL   string
	httpAddr  string
	oap       *oapgate.Server
	transport *quicnet.Transport
	key       auth.MACKey
	root      string // alice: every op
	addr      string // a stored object of objectBytes
	small     string // a stored object of 4 KiB
}

func startNode(t *testing.T) *node {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	disk, err := pebbledisk.Open(pebbledisk.Options{Dir: "db", FS: vfs.NewMem(), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	spec := runtime.NodeSpec{Key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{6}, 32))}
	spec.Replicas = []proto.NodeID{spec.Self()}
	rt, err := runtime.New(runtime.Config{Self: spec.Self(), NewNode: spec.NewNode, Disk: disk, Metrics: runtime.NewPromMetrics(log),
		Logger: log, ReadyCheck: runtime.NodeReady, FailedCheck: runtime.NodeFailed, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, rt: rt, disk: disk}
	n.transport, err = quicnet.Listen(quicnet.Config{Key: spec.Key, ListenAddr: "127.0.0.1:0", Metrics: rt.Prom(), Logger: log}, rt.Deliver)
	if err != nil {
		t.Fatal(err)
	}
	rt.Start(n.transport)
	keys := auth.NewKeyring(nil)
	secret, _ := auth.NewSecret(bytes.Repeat([]byte{9}, auth.KeyBytes))
	if err := keys.Create("root", auth.KindMAC, secret); err != nil {
		t.Fatal(err)
	}
	n.key, _ = keys.CurrentMACKey("root")
	gw := gateway.New(gateway.Config{Backend: rt, Verifier: auth.NewVerifier(keys, nil), Metrics: rt.Prom(),
		Gatherer: rt.Prom().Registry(), Logger: log, Version: "hostile", BodyLimits: bodyLimits})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := gateway.NewServer(gw, nil)
	srv.ReadHeaderTimeout = readHeaderTimeout
	go func() { _ = srv.Serve(gw.Listener(ln)) }()
	n.httpAddr = ln.Addr().String()
	n.httpURL = "http://" + n.httpAddr
	n.oap, err = oapgate.Listen(oapgate.Config{Key: spec.Key, ListenAddr: "127.0.0.1:0", Handler: gw, UA: "rond/hostile",
		Metrics: rt.Prom(), Logger: log, HelloTimeout: helloTimeout, ConnsPerSourceMax: connsPerSource})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = n.oap.Close()
		_ = rt.Close(ctx)
		_ = n.transport.Close()
		_ = disk.Close()
	})
	n.root = n.mint("alice", auth.OpsAll)
	n.waitReady()
	n.addr = n.put(bytes.Repeat([]byte("range attack target "), objectBytes/20+1)[:objectBytes])
	n.small = n.put(bytes.Repeat([]byte("small"), 4<<10/5+1)[:4<<10])
	return n
}

func (n *node) mint(tenant string, scope auth.OpSet, caveats ...auth.Caveat) string {
	tok, err := auth.Mint(n.key, tenant, scope, [auth.NonceBytes]byte{2}, caveats...)
	if err != nil {
		n.t.Fatal(err)
	}
	return tok.Encode()
}

func (n *node) waitReady() {
	n.t.Helper()
	waitFor(n.t, "the node to be ready", func() bool {
		r, err := http.Get(n.httpURL + "/readyz")
		if err != nil {
			return false
		}
		r.Body.Close()
		if r.StatusCode != 200 {
			return false
		}
		_, err = runtime.Call(context.Background(), n.rt, registry.Resolve{Name: "warmup"})
		return err == nil
	})
}

func (n *node) put(data []byte) string {
	n.t.Helper()
	req, _ := http.NewRequest("PUT", n.httpURL+"/o", bytes.NewReader(data))
	req.Header.Set("Authorization", "Bearer "+n.root)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer r.Body.Close()
	if r.StatusCode != 201 {
		b, _ := io.ReadAll(r.Body)
		n.t.Fatalf("PUT: %d %s", r.StatusCode, b)
	}
	return proto.AddrOf(data).String()
}

// metric sums the samples of name whose label is label ("" matches all).
func (n *node) metric(name, label string) float64 {
	families, err := n.rt.Prom().Registry().Gather()
	if err != nil {
		n.t.Fatal(err)
	}
	total := 0.0
	for _, fam := range families {
		if fam.GetName() != name {
			continue
		}
		for _, m := range fam.GetMetric() {
			if label != "" && (len(m.GetLabel()) == 0 || m.GetLabel()[0].GetValue() != label) {
				continue
			}
			if m.Counter != nil {
				total += m.GetCounter().GetValue()
			} else {
				total += m.GetGauge().GetValue()
			}
		}
	}
	return total
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitBound)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// figures are the legitimate client's results over one phase.
type figures struct {
	ok, failed int
	latencies  []time.Duration
	firstErr   string
}

func (f *figures) rate() float64 {
	if f.ok+f.failed == 0 {
		return 0
	}
	return float64(f.ok) / float64(f.ok+f.failed)
}

func (f *figures) p99() time.Duration {
	if len(f.latencies) == 0 {
		return 0
	}
	s := slices.Clone(f.latencies)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*99/100)]
}

func (f *figures) String() string {
	return fmt.Sprintf("%d/%d ok (%.1f%%), p99 %v", f.ok, f.ok+f.failed, 100*f.rate(), f.p99().Round(100*time.Microsecond))
}

// legitimate is what the legitimate client does: one request, reporting
// whether it succeeded.
type legitimate func(ctx context.Context) error

// legitPause paces each legitimate worker: two of them stay under a
// tenant's 200 requests per second, so the client itself is never over
// quota.
const legitPause = 15 * time.Millisecond

// legitMin is the fewest requests one phase's figures stand on: a phase
// runs on until both workers together made this many, for legitMax at
// most. A fixed phase alone made about 50 requests on a loaded machine
// under the race detector, where three slow ones (a header or hello that
// took longer than the node's timeouts to leave a starved client) were
// below 95%; an attack that really degrades the legitimate client fails
// it however long the phase, since the attack runs until the phase ends.
const (
	legitMin = 100
	legitMax = 10 * time.Second
)

// measure runs legit from two workers for d, and on until they made
// legitMin requests.
func measure(d time.Duration, legit legitimate) *figures {
	var mu sync.Mutex
	f := &figures{}
	start := time.Now()
	giveUp := start.Add(max(d, legitMax))
	more := func() bool {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		return now.Before(giveUp) && (now.Sub(start) < d || f.ok+f.failed < legitMin)
	}
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for more() {
				reqCtx, reqCancel := context.WithTimeout(context.Background(), 10*time.Second) // a request in flight at the end still finishes
				start := time.Now()
				err := legit(reqCtx)
				took := time.Since(start)
				reqCancel()
				mu.Lock()
				if err == nil {
					f.ok++
					f.latencies = append(f.latencies, took)
				} else {
					f.failed++
					if f.firstErr == "" {
						f.firstErr = err.Error()
					}
				}
				mu.Unlock()
				time.Sleep(legitPause)
			}
		}()
	}
	wg.Wait()
	return f
}

// httpGet is a legitimate read of the small object over HTTP.
func (n *node) httpGet(client *http.Client) legitimate {
	return func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, "GET", n.httpURL+"/o/"+n.small, nil)
		req.Header.Set("Authorization", "Bearer "+n.root)
		r, err := client.Do(req)
		if err != nil {
			return err
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		if r.StatusCode != 200 || len(b) != 4<<10 {
			return fmt.Errorf("GET: %d, %d bytes", r.StatusCode, len(b))
		}
		return nil
	}
}

// httpPut is a legitimate 4 KiB write over HTTP.
func (n *node) httpPut(client *http.Client) legitimate {
	return func(ctx context.Context) error {
		body := make([]byte, 4<<10) // new content: a put of stored content needs no disk write
		_, _ = rand.Read(body)
		req, _ := http.NewRequestWithContext(ctx, "PUT", n.httpURL+"/o", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+n.root)
		r, err := client.Do(req)
		if err != nil {
			return err
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		if r.StatusCode != 201 {
			return fmt.Errorf("PUT: %d %s", r.StatusCode, b)
		}
		return nil
	}
}

// oapGet is a legitimate read of the small object over OAP/1, from a
// client on 127.0.0.1.
func (n *node) oapGet(t *testing.T) legitimate {
	client, err := oapgate.NewClient(n.oap.Addr().String(), oapgate.ClientConfig{NodeID: n.oap.ID(), UA: "legit"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return n.httpGetVia(&http.Client{Transport: client}, "http://node")
}

func (n *node) httpGetVia(client *http.Client, base string) legitimate {
	return func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/o/"+n.small, nil)
		r, err := client.Do(req)
		if err != nil {
			return err
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		if r.StatusCode != 200 || len(b) != 4<<10 {
			return fmt.Errorf("GET over OAP/1: %d, %d bytes", r.StatusCode, len(b))
		}
		return nil
	}
}

// attack is one way to abuse the node.
type attack struct {
	name string
	// cost states what one attacker connection holds, for the table.
	cost string
	// legit builds the legitimate client's request.
	legit func(t *testing.T, n *node) legitimate
	// run attacks until ctx ends and returns how many attacker
	// connections or packets it used; it runs alongside the legitimate
	// client.
	run func(ctx context.Context, t *testing.T, n *node) int
	// refused reads the metric that counts the attack's refusals.
	refused func(n *node) float64
	// check asserts what must hold after the attack (nil: nothing more).
	check func(t *testing.T, n *node, attackers int, refusals float64)
}

// result is one row of the table.
type result struct {
	name, cost    string
	base, under   *figures
	attackers     int
	refusals      float64
	heapPerAttack int64
}

// TestUnderAttack runs each attack next to a legitimate client and checks
// that the client is served and the refusals are counted.
func TestUnderAttack(t *testing.T) {
	n := startNode(t)
	var results []result
	for _, a := range attacks() {
		t.Run(a.name, func(t *testing.T) {
			legit := a.legit(t, n)
			base := measure(phase(), legit)
			before := n.refusedOrZero(a)
			heapBefore := heapInUse()
			// The attack runs for the phase and then until its first
			// refusal is counted: a refusal comes a node limit
			// (ReadHeaderTimeout, RateGrace, ...) after an attacker got
			// through, and on a loaded machine the attackers can get
			// through late enough that a fixed phase ends first (seen
			// with slow headers started 700 ms late: 0 refusals).
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var attackers atomic.Int64
			done := make(chan struct{})
			go func() {
				defer close(done)
				attackers.Store(int64(a.run(ctx, t, n)))
			}()
			time.Sleep(phase() / 5) // let the attack build up
			heapDuring := heapInUse()
			under := measure(phase()*4/5, legit)
			for deadline := time.Now().Add(waitBound); a.refused != nil && n.refusedOrZero(a) == before && time.Now().Before(deadline); {
				time.Sleep(20 * time.Millisecond) // check reports it if none came
			}
			cancel()
			<-done
			r := result{name: a.name, cost: a.cost, base: base, under: under, attackers: int(attackers.Load()),
				refusals: n.refusedOrZero(a) - before}
			if r.attackers > 0 {
				r.heapPerAttack = (heapDuring - heapBefore) / int64(r.attackers)
			}
			t.Logf("%s: without %v; under attack %v; %d attackers, %v refusals counted, heap %+d B per attacker",
				a.name, base, under, r.attackers, r.refusals, r.heapPerAttack)
			if under.ok == 0 || under.rate() < 0.95 {
				t.Errorf("the legitimate client under %s: %v (first error: %s)", a.name, under, under.firstErr)
			}
			if a.check != nil {
				a.check(t, n, r.attackers, r.refusals)
			}
			results = append(results, r)
		})
	}
	if *bench {
		printTable(t, results)
	}
}

func (n *node) refusedOrZero(a attack) float64 {
	if a.refused == nil {
		return 0
	}
	return a.refused(n)
}

func heapInUse() int64 {
	goruntime.GC()
	var m goruntime.MemStats
	goruntime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}

func printTable(t *testing.T, results []result) {
	var b strings.Builder
	b.WriteString("| attack | attackers | legit success (no attack / attack) | legit p99 (no attack / attack) | refusals counted | heap per attacker | what one attacker holds |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %s | %d | %.1f%% / %.1f%% | %v / %v | %.0f | %s | %s |\n", r.name, r.attackers,
			100*r.base.rate(), 100*r.under.rate(), r.base.p99().Round(100*time.Microsecond), r.under.p99().Round(100*time.Microsecond),
			r.refusals, kib(r.heapPerAttack), r.cost)
	}
	t.Logf("\n%s", b.String())
}

func kib(b int64) string {
	if b <= 0 {
		return "~0"
	}
	return fmt.Sprintf("%.1f KiB", float64(b)/1024)
}

// attacks is the suite, in order. The disk-full attack runs last: it
// leaves the node recovered but rebuilt.
func attacks() []attack {
	return []attack{
		{name: "slow headers", cost: "1 connection until ReadHeaderTimeout; no admission slot",
			legit:   func(t *testing.T, n *node) legitimate { return n.httpGet(http.DefaultClient) },
			run:     slowHeaders,
			refused: func(n *node) float64 { return n.metric(gateway.MetricShed, gateway.ShedReadTimeout) },
			check:   wantRefusals("read_timeout")},
		{name: "slow bodies (valid token)", cost: "1 in-flight slot + 1 of its tenant's upload sessions until the body rate falls below the minimum (grace + bytes/rate)",
			legit:   func(t *testing.T, n *node) legitimate { return n.httpPut(http.DefaultClient) },
			run:     slowBodies,
			refused: func(n *node) float64 { return n.metric(gateway.MetricShed, gateway.ShedSlowBody) },
			check:   wantRefusals("slow_body")},
		{name: "expired and over-scope tokens, 16 MiB bodies", cost: "1 connection until the refusal, which closes it without reading the body",
			legit: func(t *testing.T, n *node) legitimate { return n.httpPut(http.DefaultClient) },
			run:   badTokens,
			refused: func(n *node) float64 {
				total := 0.0
				for _, code := range refusalCodes {
					total += n.metric(gateway.MetricRequests, fmt.Sprint(code))
				}
				return total
			},
			check: wantRefusals("omnigate_requests_total{code=401|403|413|429}")},
		{name: "overlapping multi-range (16 x bytes=0-)", cost: "1 read slot; response coalesced to the object size, streamed piece by piece",
			legit: func(t *testing.T, n *node) legitimate { return n.httpGet(http.DefaultClient) },
			run:   multiRange},
		{name: "idle OAP/1 connections (no HELLO)", cost: "1 of 32 connections of its source until HelloTimeout",
			legit:   func(t *testing.T, n *node) legitimate { return n.oapGet(t) },
			run:     idleOAP,
			refused: func(n *node) float64 { return n.metric(quicnet.MetricHandshakeFails, "") },
			check:   wantRefusals("transport_handshake_fail_total")},
		{name: "garbage UDP (Initial-shaped and random)", cost: "at most 32 handshakes in flight; beyond them a Retry, no state",
			legit:   func(t *testing.T, n *node) legitimate { return n.oapGet(t) },
			run:     garbageUDP,
			refused: func(n *node) float64 { return n.metric(quicnet.MetricDatagrams, "") },
			check: func(t *testing.T, n *node, attackers int, dropped float64) {
				wantRefusals(quicnet.MetricDatagrams)(t, n, attackers, dropped)
				if inflight := n.metric(quicnet.MetricHandshakesInFlight, "oap"); inflight > quicnet.HandshakesUnvalidatedMax+2 {
					t.Errorf("%v OAP handshakes in flight after the flood", inflight)
				}
			}},
		{name: "disk fills up (reads go on)", cost: "n/a: writes answer 507 at once, reads are served",
			legit:   func(t *testing.T, n *node) legitimate { return n.httpGet(http.DefaultClient) },
			run:     diskFull,
			refused: func(n *node) float64 { return n.metric(gateway.MetricRequests, "507") },
			check:   diskRecovers},
	}
}

func wantRefusals(what string) func(t *testing.T, n *node, attackers int, refusals float64) {
	return func(t *testing.T, n *node, attackers int, refusals float64) {
		t.Helper()
		if attackers == 0 || refusals < 1 {
			t.Errorf("%d attackers, %v refusals counted in %s", attackers, refusals, what)
		}
	}
}

// dialHTTP opens a TCP connection to the gateway from attackerSource.
func dialHTTP(ctx context.Context, n *node) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(attackerSource)}}
	return d.DialContext(ctx, "tcp", n.httpAddr)
}

// swarm runs count attackers, each repeating one until ctx ends, and
// returns how many connections they used.
func swarm(ctx context.Context, count int, one func(ctx context.Context) bool) int {
	var used atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < count; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if one(ctx) {
					used.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return int(used.Load())
}

// closedBy waits until the server closes conn or ctx ends.
func closedBy(ctx context.Context, conn net.Conn) {
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	_, _ = io.Copy(io.Discard, conn)
}

// slowHeaders: 100 connections that send a header byte every 100 ms.
func slowHeaders(ctx context.Context, t *testing.T, n *node) int {
	return swarm(ctx, 100, func(ctx context.Context) bool {
		conn, err := dialHTTP(ctx, n)
		if err != nil {
			return false
		}
		defer conn.Close()
		_, _ = io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
		go func() {
			for ctx.Err() == nil {
				if _, err := conn.Write([]byte{'a'}); err != nil {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
		closedBy(ctx, conn)
		return true
	})
}

// slowBodyAttackers is more than storage.SessionsMax (16 upload sessions
// per node): the attackers' tenant is held to its share of the sessions
// (the gateway's session table), and the body rate cuts each one off.
const slowBodyAttackers = 24

// slowBodies: PUTs with a valid token of another tenant and a 1 MiB
// Content-Length, sending a byte every 100 ms.
func slowBodies(ctx context.Context, t *testing.T, n *node) int {
	token := n.mint("mallory", auth.OpsAll)
	return swarm(ctx, slowBodyAttackers, func(ctx context.Context) bool {
		conn, err := dialHTTP(ctx, n)
		if err != nil {
			return false
		}
		defer conn.Close()
		fmt.Fprintf(conn, "PUT /o HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", token, 1<<20)
		go func() {
			for ctx.Err() == nil {
				if _, err := conn.Write([]byte{'b'}); err != nil {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
		closedBy(ctx, conn)
		return true
	})
}

// refusalCodes are the answers that refuse a bad token: unauthorized,
// forbidden, too large for the token, and over the source's budget of
// failed attempts.
var refusalCodes = []int{401, 403, 413, 429}

func refusal(status int) bool { return slices.Contains(refusalCodes, status) }

// badTokenBodyBytes is the body each bad-token upload declares and sends.
const badTokenBodyBytes = 16 << 20

// badTokens: PUTs of 16 MiB bodies sent as fast as possible with an
// expired token and with a read-only one; each must be refused (before
// or after the body: either way it must not be stored).
func badTokens(ctx context.Context, t *testing.T, n *node) int {
	expired := n.mint("mallory", auth.OpsAll, auth.Expiry(1))
	readOnly := n.mint("mallory", auth.Ops(auth.OpRead))
	var refusedWrong atomic.Int64
	used := swarm(ctx, 4, func(ctx context.Context) bool {
		conn, err := dialHTTP(ctx, n)
		if err != nil {
			return false
		}
		defer conn.Close()
		token := expired
		if time.Now().UnixNano()%2 == 0 {
			token = readOnly
		}
		stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
		defer stop()
		fmt.Fprintf(conn, "PUT /o HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", token, badTokenBodyBytes)
		go func() {
			chunk := make([]byte, 64<<10)
			for sent := 0; sent < badTokenBodyBytes && ctx.Err() == nil; sent += len(chunk) {
				if _, err := conn.Write(chunk); err != nil {
					return
				}
			}
		}()
		r, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			return true // cut by the end of the phase, or the node closed it
		}
		r.Body.Close()
		if !refusal(r.StatusCode) {
			refusedWrong.Add(1)
		}
		return true
	})
	if refusedWrong.Load() > 0 {
		t.Errorf("%d bad-token uploads were not refused (401, 403, 413 or 429)", refusedWrong.Load())
	}
	return used
}

// multiRange: 50 anonymous clients asking for the 512 KiB object as 16
// overlapping ranges; every answer must stay within twice the object.
func multiRange(ctx context.Context, t *testing.T, n *node) int {
	header := "bytes=0-" + strings.Repeat(",0-", gateway.RangesMax-1)
	var tooBig atomic.Int64
	transport := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return dialHTTP(ctx, n) },
		MaxIdleConnsPerHost: 64}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	used := swarm(ctx, 50, func(ctx context.Context) bool {
		req, _ := http.NewRequestWithContext(ctx, "GET", n.httpURL+"/o/"+n.addr, nil)
		req.Header.Set("Range", header)
		r, err := client.Do(req)
		if err != nil {
			return false
		}
		size, _ := io.Copy(io.Discard, r.Body)
		r.Body.Close()
		if size > gateway.RangeResponseFactorMax*objectBytes+gateway.MultipartSlackBytes {
			tooBig.Add(1)
		}
		return true
	})
	if tooBig.Load() > 0 {
		t.Errorf("%d multi-range answers exceeded twice the object", tooBig.Load())
	}
	return used
}

// idleOAP: 100 attackers on 127.0.0.2 each keep a QUIC connection open
// that never sends HELLO, reopening it when the node closes it.
func idleOAP(ctx context.Context, t *testing.T, n *node) int {
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(attackerSource)})
	if err != nil {
		t.Error(err)
		return 0
	}
	tr := &quic.Transport{Conn: udp}
	defer func() { _ = tr.Close(); _ = udp.Close() }()
	raddr, _ := net.ResolveUDPAddr("udp", n.oap.Addr().String())
	tlsConf := &tls.Config{NextProtos: []string{oapgate.ALPN}, InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}
	return swarm(ctx, 100, func(ctx context.Context) bool {
		conn, err := tr.Dial(ctx, raddr, tlsConf, &quic.Config{HandshakeIdleTimeout: 2 * time.Second})
		if err != nil {
			if ctx.Err() == nil {
				time.Sleep(20 * time.Millisecond) // refused: try again, as an attacker would
			}
			return ctx.Err() == nil
		}
		select {
		case <-conn.Context().Done():
		case <-ctx.Done():
		}
		_ = conn.CloseWithError(0, "")
		return true
	})
}

// garbageUDP: Initial-shaped datagrams with garbage payloads and random
// datagrams, at both QUIC endpoints, from attackerSource.
func garbageUDP(ctx context.Context, t *testing.T, n *node) int {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(attackerSource)})
	if err != nil {
		t.Error(err)
		return 0
	}
	defer conn.Close()
	targets := []net.Addr{n.oap.Addr(), n.transport.Addr()}
	sent := 0
	packet := make([]byte, 1200)
	for ctx.Err() == nil && sent < 40000 {
		initialShaped(packet, sent%2 == 0)
		if _, err := conn.WriteTo(packet, targets[sent%2]); err != nil && !errors.Is(err, net.ErrClosed) {
			t.Error(err)
			return sent
		}
		sent++
		if sent%200 == 0 {
			time.Sleep(2 * time.Millisecond) // a loopback socket drops what its buffer cannot hold
		}
	}
	return sent
}

// initialShaped fills p with a QUIC v1 Initial long header (random
// connection id, no token) and a garbage payload, or with random bytes.
func initialShaped(p []byte, shaped bool) {
	_, _ = rand.Read(p)
	if !shaped {
		return
	}
	h := p[:0]
	h = append(h, 0xc3)
	h = binary.BigEndian.AppendUint32(h, 1)
	h = append(h, 8)
	h = h[:len(h)+8]
	h = append(h, 0, 0)
	binary.BigEndian.PutUint16(p[len(h):], 0x4000|uint16(len(p)-len(h)-2)) // length, a 2-byte varint
}

// diskFull: the pebbledisk write failpoint returns ENOSPC while a writer
// keeps trying; writes must be answered 507, the node not ready.
func diskFull(ctx context.Context, t *testing.T, n *node) int {
	if err := failpoint.Enable(pebbledisk.FailpointWrite, `return("full")`); err != nil {
		t.Error(err)
		return 0
	}
	defer func() { _ = failpoint.Disable(pebbledisk.FailpointWrite) }()
	put := n.httpPut(http.DefaultClient)
	var wrong atomic.Int64
	var wrongErr atomic.Value
	var notReady atomic.Bool
	used := swarm(ctx, 4, func(ctx context.Context) bool {
		err := put(ctx)
		if err == nil {
			wrong.Add(1)
			wrongErr.Store("a write of new content succeeded")
		}
		if err != nil && !strings.Contains(err.Error(), "507") && !strings.Contains(err.Error(), "UNAVAILABLE") && ctx.Err() == nil {
			wrong.Add(1)
			wrongErr.Store(err.Error())
		}
		if r, err := http.Get(n.httpURL + "/readyz"); err == nil {
			r.Body.Close()
			if r.StatusCode == 503 {
				notReady.Store(true)
			}
		}
		time.Sleep(10 * time.Millisecond)
		return true
	})
	if wrong.Load() > 0 || !notReady.Load() {
		t.Errorf("on a full disk: %d writes not answered 507 (%v), /readyz 503 seen: %v", wrong.Load(), wrongErr.Load(), notReady.Load())
	}
	return used
}

// diskRecovers: once the failpoint is off, the node is ready and writes.
func diskRecovers(t *testing.T, n *node, attackers int, refusals float64) {
	t.Helper()
	if refusals < 1 {
		t.Errorf("no 507 counted on a full disk (%d writes tried)", attackers)
	}
	n.waitReady()
	n.put([]byte("written after the disk got space back"))
}

package oapgate_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/quic-go/quic-go"
	"lukechampine.com/blake3"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/io/gateway"
	"github.com/ron-network/ron/io/oapgate"
	"github.com/ron-network/ron/io/pebbledisk"
	"github.com/ron-network/ron/io/runtime"
)

// readyWait bounds the waits for a node to become ready and for a
// connection to be closed: generous for a loaded 2-core CI machine, and
// never an assertion on how long anything took.
const readyWait = 30 * time.Second

// recorder is a concurrency-safe env.Metrics for the server's counters.
type recorder struct {
	mu     sync.Mutex
	values map[string]float64
}

func (r *recorder) Add(name, label string, delta float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.values[name+"{"+label+"}"] += delta
}

func (r *recorder) Set(name, label string, value float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.values[name+"{"+label+"}"] = value
}

func (r *recorder) Observe(string, string, float64) {}

func (r *recorder) get(name, label string) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.values[name+"{"+label+"}"]
}

// fixture is one real node (runtime, pebble, the micronode's machines)
// behind a gateway, served over OAP/1 by an oapgate.Server, with a client.
type fixture struct {
	t       testing.TB
	rt      *runtime.Runtime
	gw      *gateway.Gateway
	srv     *oapgate.Server
	client  *oapgate.Client
	http    *http.Client // every request over OAP/1
	metrics *recorder
	key     auth.MACKey
	root    string // a token allowing every op for tenant "alice"
}

// newFixture starts the node on pebble in memory, or on a real directory
// when onDisk (an in-memory file system would hold the objects in the
// heap a test measures), its gateway admitting with adm.
func newFixture(t testing.TB, onDisk bool, adm gateway.AdmissionConfig) *fixture {
	t.Helper()
	disk := pebbledisk.Options{Dir: "db", FS: vfs.NewMem()}
	if onDisk {
		disk = pebbledisk.Options{Dir: t.TempDir(), FS: vfs.Default}
	}
	d, err := pebbledisk.Open(disk)
	if err != nil {
		t.Fatal(err)
	}
	spec := runtime.NodeSpec{Key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))}
	spec.Replicas = []proto.NodeID{spec.Self()}
	log := slog.New(slog.DiscardHandler)
	rt, err := runtime.New(runtime.Config{Self: spec.Self(), NewNode: spec.NewNode, Disk: d,
		Metrics: runtime.NewPromMetrics(log), Logger: log, ReadyCheck: runtime.NodeReady, Seed: 5})
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
	keys := auth.NewKeyring(nil)
	secret, _ := auth.NewSecret(bytes.Repeat([]byte{9}, auth.KeyBytes))
	if err := keys.Create("root", auth.KindMAC, secret); err != nil {
		t.Fatal(err)
	}
	key, _ := keys.CurrentMACKey("root")
	f := &fixture{t: t, rt: rt, key: key, metrics: &recorder{values: map[string]float64{}}}
	f.gw = gateway.New(gateway.Config{Backend: rt, Verifier: auth.NewVerifier(keys, nil), Metrics: rt.Prom(),
		Logger: log, Version: "test", Admission: adm})
	f.srv, err = oapgate.Listen(oapgate.Config{Key: spec.Key, ListenAddr: "127.0.0.1:0", Handler: f.gw,
		UA: "rond/test", Metrics: f.metrics, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.srv.Close() })
	f.client, err = oapgate.NewClient(f.srv.Addr().String(), oapgate.ClientConfig{NodeID: spec.Self(), UA: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.client.Close() })
	f.http = &http.Client{Transport: f.client}
	f.root = f.mint(auth.OpsAll)
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

// waitReady waits for /readyz (over HTTP, in process) and for the
// single-replica registry to elect itself.
func (f *fixture) waitReady() {
	deadline := time.Now().Add(readyWait)
	for time.Now().Before(deadline) {
		rec := httptest.NewRecorder()
		f.gw.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		if rec.Code == http.StatusOK {
			_, err := runtime.Call(context.Background(), f.rt, registry.Resolve{Name: "warmup"})
			if err == nil {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.t.Fatal("node never became ready")
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request over OAP/1; token "" sends none.
func (f *fixture) do(method, path string, body io.Reader, token string, header ...string) answer {
	f.t.Helper()
	req, err := http.NewRequest(method, "oap://node"+path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := f.http.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return answer{resp.StatusCode, resp.Header, data}
}

// put stores data with the root token and returns its address.
func (f *fixture) put(data []byte) string {
	f.t.Helper()
	a := f.do("PUT", "/o", bytes.NewReader(data), f.root)
	var out struct {
		Addr string `json:"addr"`
		Size uint64 `json:"size"`
	}
	if a.status != http.StatusCreated || json.Unmarshal(a.body, &out) != nil {
		f.t.Fatalf("PUT /o: %d %s", a.status, a.body)
	}
	if want := proto.AddrOf(data).String(); out.Addr != want || out.Size != uint64(len(data)) {
		f.t.Fatalf("PUT /o answered %+v, want %s of %d bytes", out, want, len(data))
	}
	return out.Addr
}

// wantEnvelope checks status, code and reason of an error answer.
func wantEnvelope(t *testing.T, a answer, status int, code, reason string) gateway.Envelope {
	t.Helper()
	var env gateway.Envelope
	if a.status != status || json.Unmarshal(a.body, &env) != nil {
		t.Fatalf("answer %d %s, want %d with the envelope", a.status, a.body, status)
	}
	if env.Code != code || env.Reason != reason || env.Message == "" || env.CorrID == "" || env.CorrID != a.header.Get("X-Request-Id") {
		t.Fatalf("envelope %+v (X-Request-Id %q), want code %s reason %q", env, a.header.Get("X-Request-Id"), code, reason)
	}
	return env
}

// rawConn dials the server without the Client, so a test can send any
// bytes; with hello it first runs a valid HELLO exchange.
func (f *fixture) rawConn(hello bool) *quic.Conn {
	f.t.Helper()
	return dialRaw(f.t, f.srv.Addr().String(), hello)
}

func dialRaw(t testing.TB, addr string, hello bool) *quic.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyWait)
	defer cancel()
	conn, err := quic.DialAddr(ctx, addr,
		&tls.Config{NextProtos: []string{oapgate.ALPN}, InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.CloseWithError(0, "") })
	if hello {
		sayHello(t, conn)
	}
	return conn
}

// sayHello says HELLO on a new stream of conn and reads the reply.
func sayHello(t testing.TB, conn *quic.Conn) {
	t.Helper()
	st := openStream(t, conn)
	sendHello(t, st)
	frame, _, err := oap.ReadFrame(st, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oap.ParseHelloReplyFrame(&frame); err != nil {
		t.Fatal(err)
	}
}

// sendHello writes a HELLO request on st and closes its send side.
func sendHello(t testing.TB, st *quic.Stream) {
	t.Helper()
	req, err := oap.HelloRequestFrame(0, 0, 1, oap.HelloRequest{UA: "raw"})
	if err != nil {
		t.Fatal(err)
	}
	write(t, st, oap.MustEncode(&req))
	_ = st.Close()
}

func openStream(t testing.TB, conn *quic.Conn) *quic.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyWait)
	defer cancel()
	st, err := conn.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = st.SetDeadline(time.Now().Add(readyWait))
	return st
}

func write(t testing.TB, st *quic.Stream, b []byte) {
	t.Helper()
	if _, err := st.Write(b); err != nil {
		t.Fatal(err)
	}
}

// requestFrame encodes a request frame of the client API.
func requestFrame(t testing.TB, flags uint16, corrID uint64, caps, payload []byte) []byte {
	t.Helper()
	b, err := oap.Encode(&oap.Frame{Header: oap.Header{Flags: flags, AppProto: oap.ProtoClient, CorrID: corrID}, Cap: caps, Payload: payload})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func head(t testing.TB, method, target string, fields ...oapgate.Field) []byte {
	t.Helper()
	b, err := oapgate.AppendRequestHead(nil, oapgate.RequestHead{Method: method, Target: target, Fields: fields})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readResponse reads a whole response from a raw stream.
func readResponse(t testing.TB, st *quic.Stream) (answer, error) {
	t.Helper()
	frame, buf, err := oap.ReadFrame(st, nil)
	if err != nil {
		return answer{}, err
	}
	if frame.Flags&(oap.FlagRESP|oap.FlagSTART) != oap.FlagRESP|oap.FlagSTART || frame.AppProto != oap.ProtoClient {
		t.Fatalf("first response frame: %+v", frame.Header)
	}
	h, err := oapgate.ParseResponseHead(frame.Payload)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{status: int(frame.Code), header: oapgate.HeaderOf(h.Fields)}
	for frame.Flags&oap.FlagEND == 0 {
		if frame, buf, err = oap.ReadFrame(st, buf); err != nil {
			return a, err
		}
		a.body = append(a.body, frame.Payload...)
	}
	st.CancelRead(oapgate.StreamCodeDone) // the acknowledgement the node waits for
	return a, nil
}

// healthy checks that conn still serves a request: a rejected stream
// must not have taken the connection down with it.
func healthy(t testing.TB, conn *quic.Conn) {
	t.Helper()
	st := openStream(t, conn)
	write(t, st, requestFrame(t, oap.FlagREQ|oap.FlagSTART|oap.FlagEND, 9, nil, head(t, "GET", "/healthz")))
	_ = st.Close()
	a, err := readResponse(t, st)
	if err != nil || a.status != http.StatusOK {
		t.Fatalf("the connection no longer serves: %d %v", a.status, err)
	}
}

// wantReset reads from st until the node resets it and checks the code.
func wantReset(t testing.TB, st *quic.Stream, reason oap.Reason) {
	t.Helper()
	_, err := io.Copy(io.Discard, st)
	var se *quic.StreamError
	if !errors.As(err, &se) || !se.Remote || se.ErrorCode != oapgate.RejectCode(reason) {
		t.Fatalf("stream ended with %v, want a reset with the code of %s (%d)", err, reason, oapgate.RejectCode(reason))
	}
}

func hashOf(r io.Reader) (proto.Addr, int64, error) {
	h := blake3.New(proto.IDBytes, nil)
	n, err := io.Copy(h, r)
	var a proto.Addr
	h.Sum(a[:0])
	return a, n, err
}

package quicnet

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"log"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env/envtest"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
)

// quicGoLog captures the standard logger for the whole test binary, so that
// TestMain can check quic-go never printed its UDP buffer warning there.
var quicGoLog lockedBuffer

func TestMain(m *testing.M) {
	log.SetOutput(&quicGoLog)
	code := m.Run()
	if out := quicGoLog.String(); strings.Contains(out, "buffer size") {
		fmt.Fprintf(os.Stderr, "quic-go wrote its UDP buffer warning to the standard logger:\n%s", out)
		code = 1
	}
	os.Exit(code)
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// recorder is a concurrency-safe env.Metrics for tests.
type recorder struct {
	mu     sync.Mutex
	values map[string]float64
}

func newRecorder() *recorder { return &recorder{values: map[string]float64{}} }

func (r *recorder) Add(name, label string, delta float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.values[envtest.Key(name, label)] += delta
}

func (r *recorder) Set(name, label string, value float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.values[envtest.Key(name, label)] = value
}

func (r *recorder) Observe(string, string, float64) {}

func (r *recorder) get(name, label string) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.values[envtest.Key(name, label)]
}

// sum is the total of name's series over every label.
func (r *recorder) sum(name string) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	total := 0.0
	for key, v := range r.values { // map order ok: a sum
		if strings.HasPrefix(key, name+"{") || key == name {
			total += v
		}
	}
	return total
}

// received is one delivered frame.
type received struct {
	from  proto.NodeID
	frame []byte
}

// inbox collects delivered frames.
type inbox struct {
	mu     sync.Mutex
	frames []received
}

func (in *inbox) deliver(from proto.NodeID, frame []byte) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.frames = append(in.frames, received{from, frame})
}

func (in *inbox) snapshot() []received {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]received(nil), in.frames...)
}

func (in *inbox) len() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.frames)
}

// tnode is a transport under test with its inbox and metrics.
type tnode struct {
	*Transport
	in      *inbox
	metrics *recorder
}

func testKey(seed byte) ed25519.PrivateKey {
	var s [ed25519.SeedSize]byte
	s[0] = seed
	return ed25519.NewKeyFromSeed(s[:])
}

func testID(key ed25519.PrivateKey) proto.NodeID {
	return proto.NodeIDFromPublicKey(key.Public().(ed25519.PublicKey))
}

// startNode listens on a loopback port chosen by the kernel; edit adjusts
// the config. The transport is closed when the test ends.
func startNode(t testing.TB, seed byte, edit func(*Config)) *tnode {
	t.Helper()
	n := &tnode{in: &inbox{}, metrics: newRecorder()}
	cfg := Config{Key: testKey(seed), ListenAddr: "127.0.0.1:0", Metrics: n.metrics}
	if edit != nil {
		edit(&cfg)
	}
	tr, err := Listen(cfg, n.in.deliver)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			n.metrics.mu.Lock()
			t.Logf("node %d %s metrics: %v", seed, tr.ID().Short(), n.metrics.values)
			n.metrics.mu.Unlock()
		}
		_ = tr.Close()
	})
	n.Transport = tr
	return n
}

// testFrame is a valid OAP/1 frame whose corr id and payload encode the
// sender's seed and a sequence number, so a receiver can check both.
func testFrame(seed byte, seq uint64, payloadBytes int) []byte {
	payload := make([]byte, payloadBytes)
	for i := range payload {
		payload[i] = byte(i*7) ^ seed
	}
	if payloadBytes >= 8 {
		binary.BigEndian.PutUint64(payload, seq)
	}
	return oap.MustEncode(&oap.Frame{
		Header:  oap.Header{Flags: oap.FlagEVENT, AppProto: oap.ProtoOverlay, TenantLo: uint64(seed), CorrID: seq},
		Payload: payload,
	})
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline. It asserts that something happens, never how fast.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

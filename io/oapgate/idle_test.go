package oapgate_test

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/ron-network/ron/io/oapgate"
	"github.com/ron-network/ron/io/quicnet"
)

// dialKeepAlive dials addr with QUIC keep-alive PINGs every 250 ms and
// an idle timeout of 5 s, and says HELLO: a connection that QUIC alone
// never lets idle out.
func dialKeepAlive(t *testing.T, addr string) *quic.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyWait)
	defer cancel()
	conn, err := quic.DialAddr(ctx, addr,
		&tls.Config{NextProtos: []string{oapgate.ALPN}, InsecureSkipVerify: true, MinVersion: tls.VersionTLS13},
		&quic.Config{MaxIdleTimeout: 5 * time.Second, KeepAlivePeriod: 250 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.CloseWithError(0, "") })
	sayHello(t, conn)
	return conn
}

// TestIdleConnectionClosedDespiteKeepAlive: a connection with no
// request stream for ConnIdleTimeout is closed by the server (code 6,
// oapgate_conns_idle_closed_total) although its client's PINGs keep
// QUIC's idle timeout (5 s here, under ConnIdleTimeout; both wide so
// that a loaded machine's stall of a few seconds neither idles QUIC out
// nor delays the busy request past ConnIdleTimeout) from ever
// firing; one that served a request is closed ConnIdleTimeout after it;
// one with a request in flight is not closed. Below ConnsMax nothing
// else closed such connections: they stayed open for ever.
func TestIdleConnectionClosedDespiteKeepAlive(t *testing.T) {
	srv, metrics, held, release := holdServer(t, oapgate.Config{IdleTimeout: 5 * time.Second, ConnIdleTimeout: 12 * time.Second})
	addr := srv.Addr().String()
	quiet := dialKeepAlive(t, addr) // HELLO, then only PINGs
	used := dialKeepAlive(t, addr)
	healthy(t, used)
	busy := dialKeepAlive(t, addr)
	st := sendHold(t, busy)
	waitFor(t, "the held request", func() bool { return held.Load() == 1 })
	// Accepted after the busy one's request began: were the busy one
	// closed as idle, it would be closed before this one is.
	probe := dialKeepAlive(t, addr)
	for name, conn := range map[string]*quic.Conn{"quiet": quiet, "used": used, "probe": probe} {
		if code := closedWith(t, conn); code != oapgate.CodeIdle {
			t.Fatalf("the %s connection was closed with code %d, want %d (idle)", name, code, oapgate.CodeIdle)
		}
	}
	if err := busy.Context().Err(); err != nil {
		t.Fatalf("the connection with a request in flight was closed: %v", context.Cause(busy.Context()))
	}
	if got := metrics.get(oapgate.MetricConnsIdleClosed, ""); got != 3 {
		t.Fatalf("oapgate_conns_idle_closed_total %v, want 3", got)
	}
	close(release)
	if a, err := readResponse(t, st); err != nil || a.status != http.StatusNoContent {
		t.Fatalf("the held request: %d %v, want 204", a.status, err)
	}
	waitFor(t, "only the busy connection counted", func() bool { return metrics.get(oapgate.MetricConnections, "") == 1 })
}

// TestConnIdleTimeoutNegativeRefused: a negative ConnIdleTimeout is a
// configuration error naming it.
func TestConnIdleTimeoutNegativeRefused(t *testing.T) {
	cfg := oapgate.Config{Key: ed25519.NewKeyFromSeed(make([]byte, 32)), ListenAddr: "127.0.0.1:0", Handler: http.NotFoundHandler(), ConnIdleTimeout: -time.Second}
	if _, err := oapgate.Listen(cfg); !errors.Is(err, oapgate.ErrConfig) || !strings.Contains(err.Error(), "ConnIdleTimeout is negative") {
		t.Fatalf("ConnIdleTimeout -1s: %v, want ErrConfig naming ConnIdleTimeout", err)
	}
}

// TestConnIdleTimeoutBelowHelloOrStartRefused: a ConnIdleTimeout below
// HelloTimeout or StartTimeout (set or default) would close connections
// mid-HELLO or mid-START as idle: a configuration error naming both
// fields. Equal is allowed, and the default rises to them.
func TestConnIdleTimeoutBelowHelloOrStartRefused(t *testing.T) {
	base := oapgate.Config{Key: ed25519.NewKeyFromSeed(make([]byte, 32)), ListenAddr: "127.0.0.1:0", Handler: http.NotFoundHandler()}
	for _, c := range []struct {
		name  string
		set   func(*oapgate.Config)
		other string
	}{
		{"below the default HelloTimeout", func(c *oapgate.Config) { c.ConnIdleTimeout = oapgate.HelloTimeoutDefault - time.Millisecond }, "HelloTimeout"},
		{"below HelloTimeout", func(c *oapgate.Config) {
			c.HelloTimeout, c.StartTimeout, c.ConnIdleTimeout = 8*time.Second, time.Second, 7*time.Second
		}, "HelloTimeout"},
		{"below StartTimeout", func(c *oapgate.Config) {
			c.HelloTimeout, c.StartTimeout, c.ConnIdleTimeout = time.Second, 8*time.Second, 7*time.Second
		}, "StartTimeout"},
	} {
		cfg := base
		c.set(&cfg)
		_, err := oapgate.Listen(cfg)
		if !errors.Is(err, oapgate.ErrConfig) || !strings.Contains(err.Error(), "ConnIdleTimeout") || !strings.Contains(err.Error(), c.other) {
			t.Fatalf("ConnIdleTimeout %s: %v, want ErrConfig naming ConnIdleTimeout and %s", c.name, err, c.other)
		}
	}
	cfg := base
	cfg.HelloTimeout, cfg.StartTimeout, cfg.ConnIdleTimeout = time.Second, 2*time.Second, 2*time.Second
	srv, err := oapgate.Listen(cfg)
	if err != nil {
		t.Fatalf("ConnIdleTimeout equal to StartTimeout: %v", err)
	}
	_ = srv.Close()
	cfg = base
	cfg.HelloTimeout = 2 * oapgate.ConnIdleTimeoutDefault
	if srv, err = oapgate.Listen(cfg); err != nil {
		t.Fatalf("default ConnIdleTimeout with HelloTimeout %v: %v", cfg.HelloTimeout, err)
	}
	_ = srv.Close()
}

// logRecorder is an slog.Handler keeping every record.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logRecorder) WithGroup(string) slog.Handler      { return h }

// matching returns the records with message msg.
func (h *logRecorder) matching(msg string) []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []slog.Record
	for _, r := range h.records {
		if r.Message == msg {
			out = append(out, r)
		}
	}
	return out
}

func attrOf(r slog.Record, key string) string {
	var v string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.String()
			return false
		}
		return true
	})
	return v
}

// TestEvictionLoggedAtInfoAndPaced: an eviction is logged at info with
// the victim's address and why it was chosen, at most
// quicnet.LogPacerLinesMax times a minute however many connections an
// attacker churns through; each is counted all the same.
func TestEvictionLoggedAtInfoAndPaced(t *testing.T) {
	logs := &logRecorder{}
	srv, metrics := guardedServer(t, oapgate.Config{ConnsMax: 1, Logger: slog.New(logs)})
	addr := srv.Addr().String()
	first := dialRaw(t, addr, true)
	evictions := quicnet.LogPacerLinesMax + 3
	for range evictions {
		// The guard counts an evicted connection until its close ends,
		// and with ConnsMax 1 its room (quicnet.SourceGuard.SetConnsMax)
		// is 2: a dial while the last victim is still closing would be
		// refused before its handshake, not evict anyone.
		waitFor(t, "the last victim's close", func() bool { return metrics.get(quicnet.MetricInboundConns, quicnet.EndpointOAP) <= 1 })
		dialRaw(t, addr, true) // takes the place of the one before (its HELLO fails if refused)
	}
	waitFor(t, "every eviction counted", func() bool { return metrics.get(oapgate.MetricConnsEvicted, "") == float64(evictions) })
	lines := logs.matching("oapgate: connection evicted at ConnsMax")
	if len(lines) != quicnet.LogPacerLinesMax {
		t.Fatalf("%d eviction lines for %d evictions, want %d (paced)", len(lines), evictions, quicnet.LogPacerLinesMax)
	}
	r := lines[0]
	// The client's socket is bound to [::]:port; the server sees 127.0.0.1:port.
	wantRemote := "127.0.0.1:" + strconv.Itoa(first.LocalAddr().(*net.UDPAddr).Port)
	if r.Level != slog.LevelInfo || attrOf(r, "remote") != wantRemote || attrOf(r, "reason") != "quiet" {
		t.Fatalf("first eviction line: level %v remote %q reason %q, want INFO %s quiet", r.Level, attrOf(r, "remote"), attrOf(r, "reason"), wantRemote)
	}
}

package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/storage"
	"github.com/ron-network/ron/io/runtime"
)

// fakeNode answers every request with its body (as SetMembers does),
// failing storage's while failStorage is above zero; it records storage's.
type fakeNode struct {
	mu          sync.Mutex
	failStorage int
	attempts    int // storage's SetMembers, failed ones included
	storage     []storage.SetMembers
}

func (f *fakeNode) Call(_ context.Context, service string, body any) (any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if m, ok := body.(storage.SetMembers); ok {
		f.attempts++
		if f.failStorage > 0 {
			f.failStorage--
			return nil, errors.New("fake: storage busy")
		}
		f.storage = append(f.storage, m)
	}
	return body, nil
}

func (f *fakeNode) lastStorage(t *testing.T) storage.SetMembers {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.storage) == 0 {
		t.Fatal("storage got no SetMembers")
	}
	return f.storage[len(f.storage)-1]
}

func (f *fakeNode) tries() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts
}

// fakeClock is a membership's clock that moves only when told.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func (f *fakeNode) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.storage)
}

// TestMembersReloadRetriedAndRW: a lone loopback node (open, R=1 W=1)
// closed by a reload hands storage R=3 W=2, as a start with that
// membership has, and opening it again keeps R=3 W=2 (a reload never
// lowers R: repair would delete the copies beyond it); a reload that did not reach storage is applied by the
// next retry (watchFlags' poll) without another reload, and logs the
// members added against the membership last applied; the closed -> open
// step logs no self among the removed and says the peer protocol serves
// any node. The old code kept R=1 W=1, retried only on the next SIGHUP or
// file change, and logged self as removed.
func TestMembersReloadRetriedAndRW(t *testing.T) {
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	self := proto.NodeIDFromPublicKey(key.Public().(ed25519.PublicKey))
	x, y := proto.NodeID{0x11, 1}, proto.NodeID{0x22, 2}
	var want []string // the members the next reload reads
	cfg := defaults()
	cfg.reload = func() (Config, error) {
		c := defaults()
		c.Members = want
		return c, nil
	}
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	fake := &fakeNode{failStorage: 1}
	m := newMembership(cfg, runtime.NodeSpec{Key: key})
	m.attach(fake, nil, runtime.NewPromMetrics(log), log)
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	m.now = clock.now
	ctx := context.Background()

	want = []string{x.String(), y.String()}
	m.reload(ctx)
	if !strings.Contains(logs.String(), "handed again at a later poll") || strings.Contains(logs.String(), "membership changed") {
		t.Fatalf("a reload storage refused: logs %q, want the failure and no change", logs.String())
	}
	clock.advance(membersRetryBackoffMin) // the first retry waits that long
	m.retry(ctx)
	if got := fake.lastStorage(t); got.Replicas != 3 || got.WriteQuorum != 2 || len(got.Members) != 3 {
		t.Fatalf("storage got %d members, R=%d W=%d; want 3 members, R=3 W=2", len(got.Members), got.Replicas, got.WriteQuorum)
	}
	line := logLine(logs.String(), "membership changed")
	if !strings.Contains(line, "members=3") || !strings.Contains(line, "retried=true") ||
		!strings.Contains(line, x.String()) || !strings.Contains(line, y.String()) || strings.Contains(line, self.String()) {
		t.Fatalf("retried change logged %q: want members=3, retried, x and y added, self not named", line)
	}
	calls := fake.calls()
	m.retry(ctx) // nothing stale: nothing handed
	if fake.calls() != calls {
		t.Fatalf("a retry with nothing stale handed the membership again")
	}

	mark := len(logs.String())
	want = nil
	m.reload(ctx)
	// R is never lowered by a reload (repair would delete the copies
	// beyond it): it stays 3, and the log says a restart lowers it.
	if got := fake.lastStorage(t); got.Replicas != 3 || got.WriteQuorum != 2 || len(got.Members) != 0 {
		t.Fatalf("storage got %d members, R=%d W=%d; want none, R=3 W=2 (kept)", len(got.Members), got.Replicas, got.WriteQuorum)
	}
	if !strings.Contains(logs.String()[mark:], "lowering them needs a restart") {
		t.Fatalf("closed -> open: logs %q lack the kept-R warning", logs.String()[mark:])
	}
	if sp := m.spec(m.base); sp.StorageReplicas != 3 || sp.WriteQuorum != 2 {
		t.Fatalf("a node rebuilt after the reload would run R=%d W=%d, want the running 3, 2", sp.StorageReplicas, sp.WriteQuorum)
	}
	line = logLine(logs.String()[mark:], "membership changed")
	if !strings.Contains(line, "members=0") || strings.Contains(line, self.String()) || !strings.Contains(line, x.String()) {
		t.Fatalf("closed -> open logged %q: want members=0, x removed, self not named", line)
	}
	if !strings.Contains(logs.String()[mark:], "no membership: the peer protocol serves any node") {
		t.Fatalf("closed -> open: logs %q lack the open-membership warning", logs.String())
	}
}

func logLine(logs, part string) string {
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, part) {
			return l
		}
	}
	return ""
}

// TestFlagWatchRetriesEachPoll: watchFlags runs the hooks' retry at each
// poll that finds the config file unchanged, so a membership a reload
// did not finish is applied without another SIGHUP. The old watcher ran
// its hooks only on a change or SIGHUP.
func TestFlagWatchRetriesEachPoll(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rond.yaml")
	if err := os.WriteFile(path, []byte("flags: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var retries atomic.Int64
	stop := watchFlags(context.Background(), path, newFeatureFlags(nil, nil), nil, slog.New(slog.DiscardHandler),
		reloadHook{retry: func(context.Context) { retries.Add(1) }})
	defer stop()
	deadline := time.Now().Add(60 * time.Second)
	for retries.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d retries in 60s of unchanged polls, want 2", retries.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMembersRetryBacksOff: an apply that keeps failing is handed again
// no sooner than the backoff (1 s, doubling up to 30 s), and its failure
// is logged the first time and then at most once a minute, with the
// count; a success ends it. The old code handed it at every 1 s poll and
// logged an error each time.
func TestMembersRetryBacksOff(t *testing.T) {
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	cfg := defaults()
	cfg.reload = func() (Config, error) {
		c := defaults()
		c.Members = want
		return c, nil
	}
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	fake := &fakeNode{failStorage: 1000}
	m := newMembership(cfg, runtime.NodeSpec{Key: key})
	m.attach(fake, nil, runtime.NewPromMetrics(log), log)
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	m.now = clock.now
	ctx := context.Background()

	want = []string{proto.NodeID{0x11, 1}.String()}
	m.reload(ctx)
	// Poll every second for ten minutes, as watchFlags does.
	for range 600 {
		clock.advance(flagPollInterval)
		m.retry(ctx)
	}
	// Tried at 0, 1, 3, 7, 15, 31 s (the wait doubling), then every 30
	// s: 61, 91, ..., 571 s.
	if got := fake.tries(); got != 24 {
		t.Fatalf("%d attempts in 600 polls of 1 s, want 24 (backing off to 30 s)", got)
	}
	// Logged at the first failure (0 s), then at the first failure a
	// minute or more after the last line: 61, 121, ..., 541 s.
	errs := strings.Count(logs.String(), "did not reach every service")
	if errs != 10 {
		t.Fatalf("%d failure lines in 10 minutes, want 10 (the first and one a minute): %s", errs, logs.String())
	}
	if !strings.Contains(logs.String(), "failures=1 ") || !strings.Contains(logs.String(), "failures=7 ") {
		t.Fatalf("the failure lines lack their count (1, then 7 at 61 s): %s", logs.String())
	}
	fake.mu.Lock()
	fake.failStorage = 0
	fake.mu.Unlock()
	clock.advance(membersRetryBackoffMax)
	m.retry(ctx)
	if fake.calls() != 1 || !strings.Contains(logLine(logs.String(), "membership changed"), "retried=true") {
		t.Fatalf("after the failures stopped: %d applied, logs %s", fake.calls(), logs.String())
	}
	tries := fake.tries()
	clock.advance(membersRetryBackoffMax)
	m.retry(ctx)
	if fake.tries() != tries {
		t.Fatal("a retry after the success handed the membership again")
	}
}

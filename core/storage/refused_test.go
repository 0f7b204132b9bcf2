package storage

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// logEnv is an env whose logger writes into buf.
type logEnv struct {
	env.Env
	log *slog.Logger
}

func (e logEnv) Log() *slog.Logger { return e.log }

// lockedBuf is a bytes.Buffer safe for the cluster's disk goroutines.
type lockedBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuf) count(s string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), s)
}

// disagreeingCluster is a two-node cluster (R = W = 2) whose node 1 was
// restarted with a membership of itself alone (a node run alone with a
// policy file), while node 0 lists both; logs[i] holds node i's log.
func disagreeingCluster(t *testing.T) (*cluster, []*lockedBuf) {
	cfg := smallChunks
	cfg.Replicas, cfg.WriteQuorum = 2, 2
	logs := []*lockedBuf{{}, {}}
	c := newClusterEnv(t, 2, 91, cfg, 0, func(i int, e env.Env) env.Env {
		return logEnv{Env: e, log: slog.New(slog.NewTextHandler(logs[i], nil))}
	})
	c.cfg.Members = []proto.NodeID{c.nodes[1].id}
	c.crash(1)
	c.start(1)
	if !c.c.RunUntil(time.Minute, c.nodes[1].st.Ready) {
		t.Fatal("node 1: recovery did not finish")
	}
	return c, logs
}

// TestRefusedPeerLogged: a node refusing a non-member's requests logs the
// refused peer's id, once per RefusedLogEvery of env time however many
// requests it refuses, and again after that. The old code only counted
// storage_rejects_total{reason="not_member"}: no log named the peer.
func TestRefusedPeerLogged(t *testing.T) {
	c, logs := disagreeingCluster(t)
	line := "refused peer " + c.nodes[0].id.String() + ": not a member (storage)"
	for i := range 3 {
		c.put(0, randomData(uint64(100+i), 2*ChunkBytesMin+7), false)
	}
	if n := c.metric(1, MetricRejects, ReasonNotMember); n < 3 {
		t.Fatalf("not_member rejects on node 1 = %v, want at least 3", n)
	}
	if n := logs[1].count(line); n != 1 {
		t.Fatalf("node 1 logged %q %d times over 3 refused puts, want once", line, n)
	}
	if !strings.Contains(func() string { logs[1].mu.Lock(); defer logs[1].mu.Unlock(); return logs[1].buf.String() }(), "list it in members on this node") {
		t.Fatal("the refusal's log line does not say what to do")
	}
	c.advance(RefusedLogEvery + time.Second)
	c.put(0, randomData(110, 2*ChunkBytesMin+7), false)
	if n := logs[1].count(line); n != 2 {
		t.Fatalf("node 1 logged %q %d times after RefusedLogEvery passed, want twice", line, n)
	}
}

// TestPutNamesRefusingMember: a put one of whose placement nodes refuses
// it (statusBad: that node's membership does not list this one) fails
// with an error naming the refusing node and saying this node is likely
// not in its membership. The old code said only "1 of 2 replicas stored
// it".
func TestPutNamesRefusingMember(t *testing.T) {
	c, _ := disagreeingCluster(t)
	res := c.put(0, randomData(120, 2*ChunkBytesMin+7), false)
	if res.Err == nil {
		t.Fatal("put acknowledged with a placement node refusing it (W = 2)")
	}
	if !errors.Is(res.Err, ErrUnavailable) && !errors.Is(res.Err, ErrUnknownOutcome) {
		t.Fatalf("put error %v: neither unavailable nor unknown outcome", res.Err)
	}
	msg := res.Err.Error()
	if !strings.Contains(msg, "1 of 2 replicas stored it") || !strings.Contains(msg, c.nodes[1].id.String()+" refused it") ||
		!strings.Contains(msg, "not in its membership") {
		t.Fatalf("put error %q does not name the refusing node %s", msg, c.nodes[1].id)
	}
	if strings.Contains(msg, c.nodes[0].id.String()) {
		t.Fatalf("put error %q names the putting node as a refuser", msg)
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Kill -9 rounds: enough acknowledged writes before each kill that the
// kill lands mid-stream, few enough to stay quick on a loaded machine.
const (
	killRounds         = 3
	killAfterPutsAcked = 12
)

// ackLog is what the writer saw acknowledged: objects that got 201 and
// the highest name seq that got 200, plus every target each seq was sent
// with (acknowledged or not: a set in flight at a kill may commit without
// its reply, even after the restart, when a peer had its proposal).
type ackLog struct {
	mu      sync.Mutex
	objects map[string][]byte   // addr -> bytes, PUT answered 201
	seqAck  uint64              // highest seq whose PUT /names answered 200
	targets map[uint64][]string // seq -> targets some set with that seq was sent with
	// inFlight is set while the writer waits for a reply; read at the
	// kill, it shows the kill interrupted a request.
	inFlight atomic.Bool
}

func (l *ackLog) putsAcked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.objects)
}

// writer PUTs objects and points name at each in turn (seq+1) until ctx
// ends. It stops setting the name after the first set that did not
// answer 200, since the next seq is then unknown; puts go on (failing
// with connection errors once the process is gone).
func writer(ctx context.Context, t *testing.T, n *procNode, name string, o owner, seq uint64, log *ackLog, round int) {
	sets := true
	for i := 0; ctx.Err() == nil; i++ {
		data := randomBytes(t, 8+(i*7919)%(300<<10))
		binary.BigEndian.PutUint64(data, uint64(round)<<32|uint64(i)) // never a repeat
		log.inFlight.Store(true)
		code, body := n.do(t, "PUT", "/o", data, true)
		log.inFlight.Store(false)
		if code != http.StatusCreated {
			time.Sleep(pollInterval) // down or not ready: the kill happened
			continue
		}
		addr := decodeAddr(body)
		log.mu.Lock()
		log.objects[addr] = data
		if sets {
			log.targets[seq+1] = append(log.targets[seq+1], addr)
		}
		log.mu.Unlock()
		if !sets {
			continue
		}
		log.inFlight.Store(true)
		code, _ = n.do(t, "PUT", "/names/"+name, o.setBody(name, addr, seq+1), true)
		log.inFlight.Store(false)
		if code != http.StatusOK {
			sets = false
			continue
		}
		seq++
		log.mu.Lock()
		log.seqAck = seq
		log.mu.Unlock()
	}
}

func decodeAddr(body []byte) string {
	const key = `"addr":"`
	i := bytes.Index(body, []byte(key))
	if i < 0 {
		return ""
	}
	rest := body[i+len(key):]
	return string(rest[:bytes.IndexByte(rest, '"')])
}

// killAndVerify runs killRounds rounds against victim: a writer streams
// puts and name sets, the process is SIGKILLed mid-stream and restarted
// on the same data dir, and every acknowledged object and the last
// acknowledged name set must then be readable from it.
func killAndVerify(t *testing.T, victim *procNode) {
	const name = "kill9.example"
	o := newOwner(t)
	claimName(t, victim, name, o)
	seq := resolveName(t, victim, name).Seq
	log := &ackLog{objects: map[string][]byte{}, targets: map[uint64][]string{}}
	for round := range killRounds {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); writer(ctx, t, victim, name, o, seq, log, round) }()
		want := log.putsAcked() + killAfterPutsAcked
		eventually(t, convergeTimeout, fmt.Sprintf("round %d: %d puts acknowledged", round, want), func() (bool, string) {
			n := log.putsAcked()
			// Kill while a request is waiting for its reply when possible.
			return n >= want && log.inFlight.Load(), fmt.Sprintf("%d acknowledged", n)
		})
		interrupted := log.inFlight.Load()
		victim.kill(t) // SIGKILL while the writer streams requests
		cancel()
		wg.Wait()
		victim.start(t)
		victim.waitReady(t)
		seq = verifyAcked(t, victim, name, log)
		// What the kill left in the segment files: the tails Open cut
		// off (bytes of puts whose pointers the kill lost) and the
		// garbage left (io/pebbledisk, "Metrics").
		reclaimed := metricValue(t, victim.url, "storage_segment_tail_reclaimed_bytes_total")
		garbage := metricValue(t, victim.url, "storage_segment_garbage_bytes")
		t.Logf("round %d: killed with a request in flight: %v; %d objects and name seq %d intact after kill -9; "+
			"segment tail cut at start: %.0f bytes, segment garbage: %.0f bytes",
			round, interrupted, log.putsAcked(), seq, reclaimed, garbage)
	}
}

// verifyAcked reads back every acknowledged object from n and checks the
// name: its seq is at least the last acknowledged one (a set in flight at
// the kill may have committed without its reply) and its target is one
// that a set with that seq was sent with. It returns the name's seq.
func verifyAcked(t *testing.T, n *procNode, name string, log *ackLog) uint64 {
	t.Helper()
	log.mu.Lock()
	defer log.mu.Unlock()
	for addr, data := range log.objects {
		var code int
		var body []byte
		eventually(t, convergeTimeout, "GET "+addr+" after restart", func() (bool, string) {
			code, _, body = getWith(t, n, "/o/"+addr, "", "")
			return code != http.StatusServiceUnavailable, fmt.Sprintf("%d", code)
		})
		if code != http.StatusOK || !bytes.Equal(body, data) {
			t.Fatalf("acknowledged object %s after kill -9: %d, %d of %d bytes", addr, code, len(body), len(data))
		}
	}
	rec := resolveName(t, n, name)
	if rec.Seq < log.seqAck || !slices.Contains(log.targets[rec.Seq], rec.Target) {
		t.Fatalf("name after kill -9: seq %d target %s; acknowledged seq %d, targets sent with seq %d: %v",
			rec.Seq, rec.Target, log.seqAck, rec.Seq, log.targets[rec.Seq])
	}
	return rec.Seq
}

// TestKill9Standalone: a lone macronode (R = W = 1, a one-voter registry)
// is killed mid-write; whatever it acknowledged lives only on its own
// disk, so this checks that an acknowledgement means a sync.
func TestKill9Standalone(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs rond")
	}
	n := newProcNode(t, "solo")
	n.start(t)
	n.waitReady(t)
	killAndVerify(t, n)
}

// TestKill9ClusterMember: one of three macronodes is killed mid-write and
// restarted; its acknowledged objects and names are read back from it.
func TestKill9ClusterMember(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs three rond processes")
	}
	nodes := newCluster(t, 3)
	killAndVerify(t, nodes[0])
}

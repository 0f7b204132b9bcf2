package overlay

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/ron-network/ron/core/proto/oap"
	"pgregory.net/rapid"
)

// fastTimers shortens every timer so that a property run covers many
// reconnect cycles in little virtual time.
func fastTimers(c *Config) {
	c.HeartbeatInterval = 200 * time.Millisecond
	c.SessionTimeout = 600 * time.Millisecond
	c.HandshakeTimeout = 200 * time.Millisecond
	c.BackoffMin = 50 * time.Millisecond
	c.BackoffMax = 2 * time.Second
}

// appTracker numbers application frames and records which pair each went
// through, so that deliveries can be checked against enqueues.
type appTracker struct {
	next   uint64
	pairOf map[uint64][2]int
}

func (a *appTracker) enqueue(c *cluster, from, to int) bool {
	a.next++
	a.pairOf[a.next] = [2]int{from, to}
	return c.nodes[from].ov.Enqueue(c.nodes[to].id, appFrame(a.next))
}

// checkReceived verifies every application frame received so far was
// enqueued on that pair; it returns how many distinct frames arrived.
func (a *appTracker) checkReceived(t *rapid.T, c *cluster) int {
	distinct := map[uint64]bool{}
	for to, n := range c.nodes {
		for _, m := range n.probe.received {
			f, err := oap.Decode(m.Frame)
			if err != nil {
				t.Fatalf("app frame does not decode: %v", err)
			}
			pair, ok := a.pairOf[f.CorrID]
			if !ok || pair != [2]int{c.index[m.From], to} {
				t.Fatalf("frame %d arrived at %s from %s, enqueued on %v", f.CorrID, n.name, m.From.Short(), pair)
			}
			distinct[f.CorrID] = true
		}
	}
	return len(distinct)
}

// checkAccounting is the per-session identity enqueued = sent + dropped +
// queued, plus agreement of the session gauges with the table.
func checkAccounting(t *rapid.T, c *cluster) {
	for i, n := range c.nodes {
		n.ov.CheckInvariants()
		total := 0.0
		for _, s := range n.ov.Sessions() {
			if s.Enqueued != s.Sent+s.DroppedSend+uint64(s.QueueDepth) {
				t.Fatalf("%s->%s: enqueued %d != sent %d + dropped %d + queued %d",
					n.name, s.Peer.Short(), s.Enqueued, s.Sent, s.DroppedSend, s.QueueDepth)
			}
		}
		for st := State(0); st < stateCount; st++ {
			total += c.metric(i, MetricSessions, st.String())
		}
		if int(total) != len(n.ov.Sessions()) {
			t.Fatalf("%s: overlay_sessions sums to %v over %d sessions", n.name, total, len(n.ov.Sessions()))
		}
	}
}

// TestStatefulCluster drives 3-5 nodes through random faults and traffic,
// checking invariants after every action; after the faults stop every
// session must come back Active, every queue drain, and new traffic arrive.
func TestStatefulCluster(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(3, 5).Draw(t, "nodes")
		c := newCluster(t, n, rapid.Uint64().Draw(t, "seed"), fastTimers)
		c.quantum = 10 * time.Millisecond
		c.latencyMin, c.latencyMax = 10*time.Millisecond, 30*time.Millisecond
		apps := &appTracker{pairOf: map[uint64][2]int{}}
		c.start()
		node := rapid.IntRange(0, n-1)
		t.Repeat(map[string]func(*rapid.T){
			"advance": func(t *rapid.T) {
				d := rapid.SampledFrom([]time.Duration{20 * time.Millisecond, 200 * time.Millisecond, time.Second, 3 * time.Second}).Draw(t, "d")
				c.run(d, nil)
			},
			"partition": func(t *rapid.T) {
				var group []int
				for i := range n {
					if rapid.Bool().Draw(t, "side") {
						group = append(group, i)
					}
				}
				c.heal()
				c.partition(group...)
			},
			"cut one way": func(t *rapid.T) {
				a, b := node.Draw(t, "from"), node.Draw(t, "to")
				c.cut[[2]int{a, b}] = a != b
			},
			"heal": func(*rapid.T) { c.heal() },
			"faults": func(t *rapid.T) {
				c.loss = rapid.Float64Range(0, 0.3).Draw(t, "loss")
				c.dup = rapid.Float64Range(0, 0.2).Draw(t, "dup")
				c.reorder = rapid.Float64Range(0, 0.3).Draw(t, "reorder")
			},
			"enqueue": func(t *rapid.T) {
				a, b := node.Draw(t, "from"), node.Draw(t, "to")
				if a == b {
					t.Skip("self")
				}
				for range rapid.IntRange(1, 40).Draw(t, "count") {
					if !apps.enqueue(c, a, b) {
						t.Fatalf("Enqueue %d->%d refused", a, b)
					}
				}
			},
			"": func(t *rapid.T) {
				checkAccounting(t, c)
				apps.checkReceived(t, c)
			},
		})
		// Faults stop: within BackoffMax plus a handshake every session is up.
		c.heal()
		c.loss, c.dup, c.reorder = 0, 0, 0
		if !c.runUntil(4*time.Second, c.allActive) {
			t.Fatalf("not all active 4s after the faults stopped: %+v", c.nodes[0].ov.Sessions())
		}
		c.run(time.Second, nil) // frames in flight land
		checkAccounting(t, c)
		for _, nd := range c.nodes {
			for _, s := range nd.ov.Sessions() {
				if s.State != StateActive || s.QueueDepth != 0 || s.RecvDepth != 0 {
					t.Fatalf("%s->%s after heal: %+v", nd.name, s.Peer.Short(), s)
				}
			}
		}
		before := apps.checkReceived(t, c)
		sent := 0
		for a := range n {
			for b := range n {
				if a != b {
					apps.enqueue(c, a, b)
					sent++
				}
			}
		}
		c.run(200*time.Millisecond, nil)
		if after := apps.checkReceived(t, c); after != before+sent {
			t.Fatalf("after heal %d of %d new frames arrived", after-before, sent)
		}
	})
}

// transcript runs a faulty 4-node scenario and returns every frame handed
// to the network, with its endpoints, in order.
func transcript(t *testing.T, seed uint64) []byte {
	c := newCluster(t, 4, seed, nil)
	c.loss, c.dup, c.reorder = 0.1, 0.05, 0.1
	var out bytes.Buffer
	c.onTransmit = func(from, to int, frame []byte) {
		out.Write(binary.BigEndian.AppendUint32(nil, uint32(from<<16|to)))
		out.Write(binary.BigEndian.AppendUint32(nil, uint32(len(frame))))
		out.Write(frame)
	}
	c.start()
	c.nodes[0].ov.Enqueue(c.nodes[1].id, appFrame(1))
	c.run(3*time.Second, nil)
	c.partition(0, 1)
	c.run(8*time.Second, nil)
	c.heal()
	c.run(10*time.Second, nil)
	return out.Bytes()
}

func TestOrderStability(t *testing.T) {
	a, b := transcript(t, 42), transcript(t, 42)
	if len(a) < 10000 {
		t.Fatalf("transcript of %d bytes is too short to mean anything", len(a))
	}
	if !bytes.Equal(a, b) {
		i := 0
		for i < len(a) && i < len(b) && a[i] == b[i] {
			i++
		}
		t.Fatalf("same seed, different frames: transcripts of %d and %d bytes diverge at byte %d", len(a), len(b), i)
	}
	if bytes.Equal(a, transcript(t, 43)) {
		t.Fatal("a different seed gave the same transcript: the comparison cannot fail")
	}
}

// TestSessionsOrdered: Sessions is sorted by peer id whatever order the
// peers were configured or admitted in.
func TestSessionsOrdered(t *testing.T) {
	c := newCluster(t, 5, 9, nil)
	c.start()
	c.run(time.Second, nil)
	for _, n := range c.nodes {
		ss := n.ov.Sessions()
		for i := 1; i < len(ss); i++ {
			if ss[i-1].Peer.Compare(ss[i].Peer) >= 0 {
				t.Fatalf("%s: sessions not sorted", n.name)
			}
		}
	}
}

package envtest_test

import (
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/env/disktest"
	"github.com/ron-network/ron/core/env/envtest"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
)

// pinger is a test service: a request makes it send one frame to each
// peer; it counts the frames it receives and persists each count (put,
// then sync when the request asks), and recovers the count at start.
type pinger struct {
	e         env.Env
	peers     []proto.NodeID
	received  int
	recovered int
}

type ping struct{ sync bool }

func (p *pinger) Name() string        { return "pinger" }
func (p *pinger) Protocols() []uint16 { return []uint16{7} }
func (p *pinger) Init(e env.Env)      { p.e = e }
func (p *pinger) Handle(in env.Input) {
	switch in := in.(type) {
	case env.Start:
		p.e.Submit(env.DiskOp{Kind: env.DiskScan, Prefix: []byte("n/"), Limit: 1000})
	case env.DiskDone:
		if in.Op.Kind == env.DiskScan {
			p.recovered = len(in.Result.Pairs)
		}
	case env.Message:
		p.received++
	case env.Request:
		body := in.Body.(ping)
		for _, id := range p.peers {
			p.e.Send(id, frame())
		}
		p.e.Submit(env.DiskOp{Kind: env.DiskPut, Key: []byte{'n', '/', byte(in.ID)}, Value: []byte{1}})
		if body.sync {
			p.e.Submit(env.DiskOp{Kind: env.DiskSync})
		}
		p.e.Reply(in.ID, "ok")
	}
}

// frame is a minimal OAP/1 frame for app protocol 7.
func frame() []byte {
	b := make([]byte, 38)
	b[3] = 38
	b[5] = 1  // version
	b[11] = 7 // app_proto_id
	return b
}

func newPingCluster(t *testing.T, n int, net envtest.Net) *envtest.Cluster {
	ids := make([]proto.NodeID, n)
	for i := range ids {
		ids[i] = proto.NodeID{byte(i + 1)}
	}
	return envtest.NewCluster(envtest.ClusterConfig{IDs: ids, Seed: 3, Net: net,
		NewNode: func(i int, e env.Env) *node.Node {
			var peers []proto.NodeID
			for j, id := range ids {
				if j != i {
					peers = append(peers, id)
				}
			}
			return node.New(e, node.Config{Invariants: true}, &pinger{peers: peers})
		}})
}

func received(c *envtest.Cluster, i int) int {
	return c.Members[i].Node.Service("pinger").(*pinger).received
}

// TestClusterNetworkModel: a perfect network delivers each frame once;
// loss drops them all at 1.0; duplication doubles them at 1.0; a cut link
// carries nothing until healed.
func TestClusterNetworkModel(t *testing.T) {
	cases := []struct {
		name string
		net  envtest.Net
		want int
	}{
		{"perfect", envtest.Net{LatencyMin: time.Millisecond, LatencyMax: 5 * time.Millisecond}, 10},
		{"lossy", envtest.Net{Loss: 1}, 0},
		{"duplicating", envtest.Net{Duplicate: 1, Reorder: 0.5, LatencyMax: time.Millisecond}, 20},
	}
	for _, tc := range cases {
		c := newPingCluster(t, 2, tc.net)
		for k := 0; k < 10; k++ {
			c.Request(0, "pinger", ping{})
		}
		c.RunFor(time.Second)
		if got := received(c, 1); got != tc.want {
			t.Errorf("%s: node 1 received %d frames, want %d", tc.name, got, tc.want)
		}
	}
	c := newPingCluster(t, 3, envtest.Net{})
	c.Cut(0, 1)
	c.Request(0, "pinger", ping{})
	c.RunFor(time.Second)
	if received(c, 1) != 0 || received(c, 2) != 1 {
		t.Fatalf("across a cut: n1 got %d, n2 got %d", received(c, 1), received(c, 2))
	}
	c.Heal(0, 1)
	c.Request(0, "pinger", ping{})
	c.RunFor(time.Second)
	if received(c, 1) != 1 {
		t.Fatalf("after heal: n1 got %d", received(c, 1))
	}
}

// TestClusterCrashDropsUnsynced: a crash keeps synced writes only, and a
// restarted node recovers them; timers and frames of the old incarnation
// do not reach the new one.
func TestClusterCrashDropsUnsynced(t *testing.T) {
	c := newPingCluster(t, 2, envtest.Net{})
	id := c.Request(0, "pinger", ping{sync: true})
	if resp, ok := c.Await(0, id, time.Second); !ok || resp != "ok" {
		t.Fatalf("await: %v %v", resp, ok)
	}
	c.RunFor(time.Millisecond)
	c.Request(0, "pinger", ping{}) // unsynced
	c.RunFor(time.Millisecond)
	if n := len(c.Members[0].Disk.Keys("n/")); n != 2 {
		t.Fatalf("%d keys before the crash, want 2", n)
	}
	c.Crash(0)
	c.Request(1, "pinger", ping{}) // a frame to the crashed node is lost
	c.RunFor(time.Second)
	c.Restart(0)
	c.RunFor(time.Second)
	p := c.Members[0].Node.Service("pinger").(*pinger)
	if p.recovered != 1 || p.received != 0 {
		t.Fatalf("after restart: recovered %d keys (want the synced 1), received %d frames", p.recovered, p.received)
	}
}

// TestClusterAwaitLimit: Await gives up at its limit, with the clock there.
func TestClusterAwaitLimit(t *testing.T) {
	c := newPingCluster(t, 1, envtest.Net{})
	if _, ok := c.Await(0, 999, time.Second); ok {
		t.Fatal("a reply to an id never submitted")
	}
	if c.Now != time.Second {
		t.Fatalf("Await advanced to %v, want its limit", c.Now)
	}
}

// TestDiskConformance runs the shared disk suite on the cluster's disk.
func TestDiskConformance(t *testing.T) {
	disktest.Run(t, func(t *testing.T) disktest.Harness {
		return &diskHarness{d: envtest.NewDisk(env.NewRand(1))}
	})
}

type diskHarness struct {
	d       *envtest.Disk
	pending []env.DiskDone
	next    env.OpID
}

func (h *diskHarness) Submit(op env.DiskOp) env.OpID {
	h.next++
	h.pending = append(h.pending, env.DiskDone{ID: h.next, Op: op})
	return h.next
}

func (h *diskHarness) Drain() []env.DiskDone {
	out := h.pending
	h.pending = nil
	for i := range out {
		out[i].Result = h.d.Execute(&out[i].Op)
	}
	return out
}

func (h *diskHarness) Crash() { h.d.Crash() }

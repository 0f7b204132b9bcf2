package sim

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/sim/simdisk"
)

func TestCrashDropsTimersFramesAndDiskOpsRestartKeepsDurableData(t *testing.T) {
	cfg := Config{Seed: 2, Nodes: 2, Network: NetworkConfig{LatencyP50: 20 * ms},
		Disk: simdisk.Faults{Latency: 5 * ms}} // unsynced writes never survive a crash
	var restarted *probe
	h := newHarness(t, cfg, func(p *probe) {
		if p.idx != 1 {
			return
		}
		incarnation := 0
		if restarted == nil && len(p.h.probes) > 1 && p.h.probes[1] != nil {
			incarnation = 1
			restarted = p
		}
		p.onStart = func(p *probe) {
			if incarnation == 1 {
				p.e.Submit(env.DiskOp{Kind: env.DiskGet, Key: []byte("durable")})
				p.e.Submit(env.DiskOp{Kind: env.DiskGet, Key: []byte("volatile")})
				p.e.Submit(env.DiskOp{Kind: env.DiskGet, Key: []byte("pending")})
				return
			}
			p.e.SetTimer(100*ms, 7)
			p.e.Submit(env.DiskOp{Kind: env.DiskPut, Key: []byte("durable"), Value: []byte("d")})
			p.e.Submit(env.DiskOp{Kind: env.DiskSync})
		}
		p.onDisk = func(p *probe, d env.DiskDone) {
			if incarnation == 0 && d.Op.Kind == env.DiskSync {
				p.e.Submit(env.DiskOp{Kind: env.DiskPut, Key: []byte("volatile"), Value: []byte("v")})
			}
		}
	})
	w := h.w
	w.At(50*ms, func() { h.probes[0].send(1, 1) })          // in flight at the crash
	w.At(57*ms, func() { w.Request(1, "probe", "x", nil) }) // arrives, never answered
	w.At(58*ms, func() {                                    // completes after the crash
		h.probes[1].e.Submit(env.DiskOp{Kind: env.DiskPut, Key: []byte("pending"), Value: []byte("p")})
	})
	w.At(60*ms, func() { w.Crash(1) })
	w.At(65*ms, func() { h.probes[0].send(1, 2) }) // sent to a crashed node
	old := h.probes[1]
	h.run(150 * ms)
	if w.Up(1) || w.Node(1) != nil {
		t.Fatal("node 1 is up after Crash")
	}
	if len(old.timers) != 0 || len(old.messages) != 0 {
		t.Fatalf("crashed node saw timers %v and messages %d", old.timers, len(old.messages))
	}
	for _, d := range old.disks {
		if string(d.Op.Key) == "pending" {
			t.Fatal("crashed node saw the completion of a discarded disk op")
		}
	}
	if s := w.NetStats(); s.DroppedDown != 2 || s.Delivered != 0 {
		t.Fatalf("stats %+v, want both frames dropped", s)
	}
	if len(w.requests) != 0 {
		t.Fatalf("%d requests still pending for a crashed node", len(w.requests))
	}
	w.Restart(1)
	h.run(300 * ms)
	if restarted == nil || restarted == old || h.probes[1] != restarted || restarted.starts != 1 {
		t.Fatalf("restart did not build a new node and deliver Start once")
	}
	found := map[string]bool{}
	for _, d := range restarted.disks {
		found[string(d.Op.Key)] = d.Result.Found
	}
	if !found["durable"] || found["volatile"] || found["pending"] || len(found) != 3 {
		t.Fatalf("after restart found %v, want only the synced key", found)
	}
	if len(restarted.timers) != 0 {
		t.Fatal("restarted node inherited a timer")
	}
}

func TestPauseHoldsInputsInOrderUntilItEnds(t *testing.T) {
	cfg := Config{Seed: 1, Nodes: 2, Network: NetworkConfig{LatencyP50: ms}}
	h := newHarness(t, cfg, func(p *probe) {
		if p.idx == 1 {
			p.onStart = func(p *probe) { p.e.SetTimer(50*ms, 9) }
		}
	})
	w := h.w
	w.At(10*ms, func() { w.Pause(1, 100*ms) })
	for k, at := range []time.Duration{20 * ms, 30 * ms, 40 * ms, 110 * ms} {
		w.At(at, func() { h.probes[0].send(1, uint64(k+1)) })
	}
	h.run(200 * ms)
	p := h.probes[1]
	var order []string
	for _, m := range p.messages {
		order = append(order, fmt.Sprintf("m%d@%v", m.corrID, m.at.Sub(Epoch)))
	}
	for _, f := range p.timers {
		order = append(order, fmt.Sprintf("t%d@%v", f.tag, f.at.Sub(Epoch)))
	}
	want := "m1@110ms m2@110ms m3@110ms m4@111ms t9@110ms"
	if got := strings.Join(order, " "); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestPausedTimerOrderAgainstHeldFrames(t *testing.T) {
	cfg := Config{Seed: 1, Nodes: 2, Network: NetworkConfig{LatencyP50: ms}}
	var seq []string
	h := newHarness(t, cfg, func(p *probe) {
		if p.idx == 1 {
			p.onStart = func(p *probe) { p.e.SetTimer(25*ms, 9) }
			p.onTimer = func(*probe, env.TimerFired) { seq = append(seq, "timer") }
			p.onMessage = func(_ *probe, m env.Message) { seq = append(seq, "msg") }
		}
	})
	w := h.w
	w.At(10*ms, func() { w.Pause(1, 100*ms) })
	w.At(20*ms, func() { h.probes[0].send(1, 1) }) // arrives 21ms, before the timer
	w.At(30*ms, func() { h.probes[0].send(1, 2) }) // arrives 31ms, after it
	h.run(200 * ms)
	if got := strings.Join(seq, " "); got != "msg timer msg" {
		t.Fatalf("held inputs delivered as %q, want arrival order", got)
	}
}

func TestClockOffsetDriftAndTimerScaling(t *testing.T) {
	var fired = map[int]time.Duration{} // node -> virtual time its timer fired
	h := newHarness(t, Config{Seed: 1, Nodes: 4}, func(p *probe) {
		p.onStart = func(p *probe) { p.e.SetTimer(4*time.Second, 1) }
		p.onTimer = func(p *probe, _ env.TimerFired) {
			fired[p.idx] = p.world().Now()
			if now := p.e.Now(); now.Sub(Epoch) < 4*time.Second+p.world().nodes[p.idx].clockOffset {
				t.Errorf("node %d timer fired early: clock %v", p.idx, now.Sub(Epoch))
			}
		}
	})
	w := h.w
	w.SetClock(0, 5*time.Second, 0) // offset only
	w.SetClock(1, 0, 1.0)           // runs twice as fast from t=0
	w.At(time.Second, func() { w.SetClock(2, 0, 1.0) })
	w.At(time.Second, func() {
		if got := h.probes[0].e.Now().Sub(Epoch); got != 6*time.Second {
			t.Errorf("offset clock reads %v at 1s, want 6s", got)
		}
		if got := h.probes[1].e.Now().Sub(Epoch); got != 2*time.Second {
			t.Errorf("drifting clock reads %v at 1s, want 2s", got)
		}
		w.SetClock(3, -500*ms, 0) // a backward step: the clock stalls
	})
	w.At(1200*ms, func() {
		if got := h.probes[3].e.Now().Sub(Epoch); got != time.Second {
			t.Errorf("clock stepped back reads %v at 1.2s, want 1s (monotonic)", got)
		}
	})
	w.At(1600*ms, func() {
		if got := h.probes[3].e.Now().Sub(Epoch); got != 1100*ms {
			t.Errorf("clock stepped back reads %v at 1.6s, want 1.1s", got)
		}
	})
	h.run(10 * time.Second)
	want := map[int]time.Duration{0: 4 * time.Second, 1: 2 * time.Second, 2: 2500 * ms, 3: 4500 * ms}
	for i, v := range want {
		if fired[i] != v {
			t.Errorf("node %d timer fired at virtual %v, want %v", i, fired[i], v)
		}
	}
}

func TestRequestReplyRunsAfterTheStep(t *testing.T) {
	stepDone := false
	h := newHarness(t, Config{Seed: 1, Nodes: 3}, func(p *probe) {
		p.onRequest = func(p *probe, r env.Request) {
			stepDone = false
			switch r.Body {
			case "now":
				p.e.Reply(r.ID, "pong")
				p.e.Reply(r.ID, "again") // ignored
				stepDone = true
			case "later":
				p.e.SetTimer(10*ms, uint64(r.ID))
			}
		}
		p.onTimer = func(p *probe, f env.TimerFired) { p.e.Reply(env.RequestID(f.Tag), "late") }
	})
	w := h.w
	var replies []string
	reply := func(name string) func(any) {
		return func(resp any) {
			if !stepDone && resp == "pong" {
				t.Error("reply callback ran before the step finished")
			}
			replies = append(replies, fmt.Sprintf("%s:%v@%v", name, resp, w.Now()))
		}
	}
	w.At(5*ms, func() { w.Request(0, "probe", "now", reply("a")) })
	w.At(5*ms, func() { w.Request(0, "probe", "later", reply("b")) })
	w.At(5*ms, func() { w.Request(1, "probe", "later", reply("c")) }) // crashes first
	w.At(5*ms, func() { w.Request(0, "nosuch", nil, reply("d")) })    // node.Node replies with an error
	w.At(6*ms, func() { w.Crash(1); w.Crash(2) })
	w.At(7*ms, func() { w.Request(2, "probe", "now", reply("e")) }) // down: dropped
	h.run(time.Second)
	got := strings.Join(replies, " ")
	want := `a:pong@5ms d:node: no service "nosuch"@5ms b:late@15ms`
	if got != want {
		t.Fatalf("replies %q, want %q", got, want)
	}
	if len(w.requests) != 0 {
		t.Fatalf("%d requests leaked", len(w.requests))
	}
}

func TestNodePanicStopsTheRun(t *testing.T) {
	cfg := Config{Seed: 1, Nodes: 2, Network: NetworkConfig{LatencyP50: 3 * ms}}
	h := newHarness(t, cfg, func(p *probe) {
		p.onStart = func(p *probe) {
			if p.idx == 0 {
				p.send(1, 1)
			}
		}
		p.onMessage = func(p *probe, _ env.Message) { panic("boom") }
	})
	after := false
	h.w.At(10*ms, func() { after = true })
	err := h.w.RunUntil(time.Second)
	var np *NodePanic
	if !errors.As(err, &np) {
		t.Fatalf("RunUntil returned %v, want a *NodePanic", err)
	}
	if np.Node != 1 || np.At != 3*ms || np.Value != "boom" || !strings.Contains(np.Stack, "probe") {
		t.Fatalf("panic report %+v", np)
	}
	if !strings.Contains(err.Error(), "node 1") || !strings.Contains(err.Error(), "boom") || !strings.Contains(err.Error(), "3ms") {
		t.Fatalf("message %q does not name node, time and value", err)
	}
	if after {
		t.Fatal("the world kept running after the panic")
	}
	if again := h.w.RunUntil(2 * time.Second); again != err {
		t.Fatalf("second RunUntil returned %v", again)
	}
}

func TestUndeclaredMetricPanicsAsNodePanic(t *testing.T) {
	h := newHarness(t, Config{Seed: 1, Nodes: 1}, func(p *probe) {
		p.onStart = func(p *probe) { p.e.Metrics().Add("no_such_metric_total", "", 1) }
	})
	var np *NodePanic
	if err := h.w.RunUntil(time.Second); !errors.As(err, &np) || !strings.Contains(fmt.Sprint(np.Value), "no_such_metric_total") {
		t.Fatalf("got %v", err)
	}
}

// Wipe erases a crashed node's disk, synced data included, and the node
// comes back under the same identity; wiping a running node panics.
func TestWipeErasesDiskKeepsIdentity(t *testing.T) {
	h := newHarness(t, Config{Seed: 3, Nodes: 2}, func(p *probe) {})
	w := h.w
	w.Disk(1).Apply(&env.DiskOp{Kind: env.DiskPut, Key: []byte("k"), Value: []byte("v")})
	w.Disk(1).Apply(&env.DiskOp{Kind: env.DiskSync})
	id := w.NodeID(1)
	if p := func() (p any) { defer func() { p = recover() }(); w.Wipe(1); return nil }(); p == nil {
		t.Fatal("Wipe of a running node did not panic")
	}
	w.Crash(1)
	w.Wipe(1)
	if got := w.Disk(1).DurableSnapshot(); len(got) != 0 {
		t.Fatalf("disk after a wipe %q, want empty", got)
	}
	w.Restart(1)
	if !w.Up(1) || w.NodeID(1) != id {
		t.Fatal("the wiped node did not come back under its identity")
	}
	recs := w.Faults()
	if n := len(recs); n < 3 || recs[n-2].Kind != FaultWipe || recs[n-2].Node != 1 || recs[n-3].Kind != FaultCrash {
		t.Fatalf("fault records %v, want crash, wipe, restart", recs)
	}
}

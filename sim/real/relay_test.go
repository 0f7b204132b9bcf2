package real

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/sim/scenario"
)

const testDeadline = 30 * time.Second

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %v", what, testDeadline)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// echo is a UDP server that answers every packet with itself and counts
// what it received.
type echo struct {
	conn     *net.UDPConn
	received chan []byte
}

func newEcho(t *testing.T) *echo {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	e := &echo{conn: c, received: make(chan []byte, 64)}
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			p := append([]byte(nil), buf[:n]...)
			e.received <- p
			_, _ = c.WriteToUDP(p, from)
		}
	}()
	t.Cleanup(func() { c.Close() })
	return e
}

// TestRelayAppliesCutsPerDirection sends through the relay of link 0 -> 1:
// a packet and its reply pass when nothing is cut; a one-way cut 0 -> 1
// drops the packet before it reaches node 1; a cut 1 -> 0 lets the packet
// through and drops the reply; heal restores both.
func TestRelayAppliesCutsPerDirection(t *testing.T) {
	target := newEcho(t)
	state := newNetState(2, scenario.Network{})
	r, err := newRelay(0, 1, target.conn.LocalAddr().String(), state, env.NewRand(1))
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	dialer, err := net.Dial("udp", r.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer dialer.Close()
	roundTrip := func(msg string) {
		t.Helper()
		if _, err := dialer.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		_ = dialer.SetReadDeadline(time.Now().Add(testDeadline))
		buf := make([]byte, 2048)
		n, err := dialer.Read(buf)
		if err != nil || string(buf[:n]) != msg {
			t.Fatalf("round trip %q: %q %v", msg, buf[:n], err)
		}
		if got := <-target.received; string(got) != msg {
			t.Fatalf("target got %q, want %q", got, msg)
		}
	}
	roundTrip("hello")

	state.setCuts(func(from, to int) bool { return from == 0 && to == 1 })
	before := state.snapshot()
	if _, err := dialer.Write([]byte("cut")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the packet judged cut", func() bool { return state.snapshot().Cut == before.Cut+1 })
	if got := state.snapshot(); got.Forwarded != before.Forwarded {
		t.Fatalf("a cut packet was forwarded: %+v", got)
	}

	state.setCuts(func(from, to int) bool { return from == 1 && to == 0 })
	before = state.snapshot()
	if _, err := dialer.Write([]byte("one way")); err != nil {
		t.Fatal(err)
	}
	if got := <-target.received; string(got) != "one way" {
		t.Fatalf("target got %q", got)
	}
	eventually(t, "the reply judged cut", func() bool { return state.snapshot().Cut == before.Cut+1 })

	state.setCuts(func(int, int) bool { return false })
	roundTrip("healed")
}

// TestRelayLossAndDuplication: loss 1 drops every packet, duplicate 1
// delivers each twice.
func TestRelayLossAndDuplication(t *testing.T) {
	target := newEcho(t)
	state := newNetState(2, scenario.Network{Loss: 1})
	r, err := newRelay(0, 1, target.conn.LocalAddr().String(), state, env.NewRand(1))
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	dialer, err := net.Dial("udp", r.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer dialer.Close()
	_, _ = dialer.Write([]byte("lost"))
	eventually(t, "the packet judged lost", func() bool { return state.snapshot().Lost == 1 })
	state.setNetwork(scenario.Network{Duplicate: 1, Latency: scenario.Latency{P50: time.Millisecond, P99: 2 * time.Millisecond}})
	_, _ = dialer.Write([]byte("twice"))
	for k := 0; k < 2; k++ {
		select {
		case got := <-target.received:
			if string(got) != "twice" {
				t.Fatalf("copy %d: %q", k, got)
			}
		case <-time.After(testDeadline):
			t.Fatalf("copy %d never arrived", k)
		}
	}
}

// TestRelayCloseStopsServing: a closed relay's port no longer answers.
func TestRelayCloseStopsServing(t *testing.T) {
	target := newEcho(t)
	r, err := newRelay(0, 1, target.conn.LocalAddr().String(), newNetState(2, scenario.Network{}), env.NewRand(1))
	if err != nil {
		t.Fatal(err)
	}
	addr := r.addr()
	r.close()
	// The port is free again: binding it succeeds.
	c, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("relay port %s still bound after close: %v", addr, err)
	}
	c.Close()
}

func TestLatencyQuantiles(t *testing.T) {
	rand := env.NewRand(3)
	l := scenario.Latency{P50: 2 * time.Millisecond, P99: 20 * time.Millisecond}
	var below50, below99 int
	const draws = 20000
	for i := 0; i < draws; i++ {
		d := latency(l, rand)
		if d <= l.P50 {
			below50++
		}
		if d <= l.P99 {
			below99++
		}
	}
	if f := float64(below50) / draws; f < 0.47 || f > 0.53 {
		t.Fatalf("%.3f of draws at or below p50", f)
	}
	if f := float64(below99) / draws; f < 0.985 || f > 0.995 {
		t.Fatalf("%.3f of draws at or below p99", f)
	}
}

// TestValidateRefusesWithLines: every fault kind or field with no real
// injection is refused, naming its line; the supported ones pass.
func TestValidateRefusesWithLines(t *testing.T) {
	src := `name: refused
duration: 20s
nodes: {count: 3, registry_replicas: 3}
workload: {clients: 2, rate: 10/s, names: 4, mix: {claim: 1, set: 1}}
faults:
  - {at: 1s, for: 2s, partition: {isolate: leader}}
  - {at: 4s, for: 2s, disk: {node: n2, torn_write: 1}}
  - {at: 7s, for: 2s, network: {bandwidth: 1MB/s}}
  - {at: 10s, for: 2s, clock: {node: n1, offset: 1s}}
  - {at: 13s, for: 2s, disk: {node: n3, read_error: 0.1}}
  - {at: 16s, for: 1s, disk: {node: n1, unsynced_survive: 0.5}}
  - {at: 18s, for: 1s, disk: {node: n2, unsynced_survive: 1}}
  - {at: 19s, crash: n3, restart_after: 1s}
checks: [linearizable, sessions]
`
	s, err := scenario.Parse("refused.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	err = Validate(s)
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Validate: %v, want ErrUnsupported", err)
	}
	for _, want := range []string{"refused.yaml:7: fault disk.torn_write", "refused.yaml:8: fault network.bandwidth",
		"refused.yaml:11: fault disk.unsynced_survive", "checks.sessions"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal lacks %q:\n%v", want, err)
		}
	}
	for _, accepted := range []string{":6:", ":9:", ":10:", ":12:", ":13:"} {
		if strings.Contains(err.Error(), accepted) {
			t.Errorf("refusal names a supported fault (%s):\n%v", accepted, err)
		}
	}
}

// TestValidateUnsyncedSurvive: a crash drops every unsynced write or
// keeps them all, so the baseline disk.unsynced_survive must be 0 or 1.
func TestValidateUnsyncedSurvive(t *testing.T) {
	for _, v := range []struct {
		survive string
		ok      bool
	}{{"0", true}, {"1", true}, {"0.3", false}} {
		src := `name: survive
duration: 10s
nodes: {count: 3, registry_replicas: 3}
disk: {unsynced_survive: ` + v.survive + `}
workload: {clients: 2, rate: 10/s, names: 4, mix: {claim: 1, set: 1}}
faults:
  - {at: 1s, crash: n1, restart_after: 1s}
checks: [linearizable]
`
		s, err := scenario.Parse("survive.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		err = Validate(s)
		if v.ok != (err == nil) || (err != nil && !strings.Contains(err.Error(), "survive.yaml: disk.unsynced_survive")) {
			t.Errorf("unsynced_survive %s: Validate %v", v.survive, err)
		}
		if !powerLoss(s) {
			t.Errorf("a scenario with a crash does not run with the unsynced journal")
		}
	}
}

func TestDiskTerms(t *testing.T) {
	write, sync, read := diskTerms(scenario.Disk{WriteError: 0.25, ReadError: 0.5, CorruptRead: 0.1, Latency: 3 * time.Millisecond}, false)
	if write != "25%return(true)->sleep(3)" || sync != write {
		t.Fatalf("write %q sync %q", write, sync)
	}
	if read != `10%return("corruption")->50%return(true)->sleep(3)` {
		t.Fatalf("read %q", read)
	}
	if write, _, _ := diskTerms(scenario.Disk{}, true); write != `return("full")` {
		t.Fatalf("full: %q", write)
	}
	if w, s, r := diskTerms(scenario.Disk{}, false); w != "" || s != "" || r != "" {
		t.Fatalf("healthy disk: %q %q %q", w, s, r)
	}
}

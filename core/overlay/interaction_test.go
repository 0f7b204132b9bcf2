package overlay

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
)

// TestInteraction runs the scripts in testdata/*.txt. Commands:
//
//	cluster n=3 [seed=1] [latency=10ms] [backoff-max=10s]   build a fresh cluster
//	start                                                  deliver Start everywhere
//	tick 1s                                                run; print state changes
//	partition n1 [n2 ...]                                  cut the listed nodes off the rest
//	heal                                                   remove every cut
//	network [loss=0.1] [dup=0] [reorder=0]                 set random faults
//	enqueue from=n1 to=n2 [count=1]                        Enqueue application frames
//	close from=n1 to=n2                                    Close a session
//	sessions                                               every session, one per line
//	received n2                                            application frames received, by sender
//	events n1                                              bus events seen by n1
//	metrics n1                                             n1's overlay metrics
//	check-backoff n1 n2                                    verdict on n1's backoff delays towards n2
//
// Run with -rewrite to regenerate the expected output.
func TestInteraction(t *testing.T) {
	paths, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(paths) < 3 {
		t.Fatalf("want at least 3 scripts in testdata, found %v (%v)", paths, err)
	}
	for _, path := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			h := &scriptHandler{}
			datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
				return h.handle(t, d)
			})
		})
	}
}

type scriptHandler struct {
	c        *cluster
	names    map[proto.NodeID]string
	states   map[[2]int]State
	backoffs map[[2]int]*backoffRecorder
	appSeq   uint64
	backoff  [2]time.Duration // the cluster's BackoffMin, BackoffMax
}

func (h *scriptHandler) handle(t *testing.T, d *datadriven.TestData) string {
	if d.Cmd != "cluster" && h.c == nil {
		d.Fatalf(t, "no cluster: start the script with 'cluster'")
	}
	switch d.Cmd {
	case "cluster":
		return h.cluster(t, d)
	case "start":
		h.c.start()
		return h.changes()
	case "tick":
		return h.tick(t, d)
	case "partition":
		var group []int
		for _, a := range d.CmdArgs {
			group = append(group, h.node(t, d, a.Key))
		}
		h.c.partition(group...)
		return "ok"
	case "heal":
		h.c.heal()
		return "ok"
	case "network":
		d.MaybeScanArgs(t, "loss", &h.c.loss)
		d.MaybeScanArgs(t, "dup", &h.c.dup)
		d.MaybeScanArgs(t, "reorder", &h.c.reorder)
		return "ok"
	case "enqueue", "close":
		return h.enqueueOrClose(t, d)
	case "sessions":
		return h.sessions()
	case "received":
		return h.received(t, d)
	case "events":
		return h.events(t, d)
	case "metrics":
		return h.metrics(t, d)
	case "check-backoff":
		return h.checkBackoff(t, d)
	}
	d.Fatalf(t, "unknown command %q", d.Cmd)
	return ""
}

func (h *scriptHandler) cluster(t *testing.T, d *datadriven.TestData) string {
	n, seed := 3, uint64(1)
	latency := 10 * time.Millisecond
	backoffMax := BackoffMaxDefault
	d.MaybeScanArgs(t, "n", &n)
	d.MaybeScanArgs(t, "seed", &seed)
	if d.HasArg("latency") {
		latency = h.duration(t, d, "latency")
	}
	if d.HasArg("backoff-max") {
		backoffMax = h.duration(t, d, "backoff-max")
	}
	h.c = newCluster(t, n, seed, func(c *Config) { c.BackoffMax = backoffMax })
	h.c.latencyMin, h.c.latencyMax = latency, latency
	h.backoff = [2]time.Duration{BackoffMinDefault, backoffMax}
	h.names = map[proto.NodeID]string{}
	h.states = map[[2]int]State{}
	h.backoffs = map[[2]int]*backoffRecorder{}
	for i, nd := range h.c.nodes {
		h.names[nd.id] = nd.name
		for j := range h.c.nodes {
			if i != j {
				h.states[[2]int{i, j}] = StateIdle
				h.backoffs[[2]int{i, j}] = &backoffRecorder{}
			}
		}
	}
	return "ok"
}

func (h *scriptHandler) duration(t *testing.T, d *datadriven.TestData, key string) time.Duration {
	var s string
	d.ScanArgs(t, key, &s)
	v, err := time.ParseDuration(s)
	if err != nil {
		d.Fatalf(t, "%s: %v", key, err)
	}
	return v
}

func (h *scriptHandler) node(t *testing.T, d *datadriven.TestData, name string) int {
	for i, n := range h.c.nodes {
		if n.name == name {
			return i
		}
	}
	d.Fatalf(t, "no node %q", name)
	return -1
}

// tick runs for the duration given as the first argument, printing each
// session state change with its virtual time.
func (h *scriptHandler) tick(t *testing.T, d *datadriven.TestData) string {
	if len(d.CmdArgs) != 1 {
		d.Fatalf(t, "tick takes one duration")
	}
	span, err := time.ParseDuration(d.CmdArgs[0].Key)
	if err != nil {
		d.Fatalf(t, "tick: %v", err)
	}
	var out strings.Builder
	h.c.run(span, func() { out.WriteString(h.changes()) })
	if out.Len() == 0 {
		return "no changes"
	}
	return strings.TrimSuffix(out.String(), "\n")
}

// changes reports sessions whose state changed since the last call and
// feeds the backoff recorders.
func (h *scriptHandler) changes() string {
	var out strings.Builder
	for i, nd := range h.c.nodes {
		for _, s := range sortedByName(h, nd.ov.Sessions()) {
			j := h.c.index[s.Peer]
			key := [2]int{i, j}
			h.backoffs[key].sample(s)
			if old := h.states[key]; old != s.State {
				fmt.Fprintf(&out, "%7.3fs %s->%s %s -> %s", h.c.now().Seconds(), nd.name, h.c.nodes[j].name, old, s.State)
				if s.State == StateBackoff {
					fmt.Fprintf(&out, " (attempt %d, retry in %v)", s.Attempts, s.Backoff.Round(time.Millisecond))
				}
				out.WriteString("\n")
				h.states[key] = s.State
			}
		}
	}
	return out.String()
}

func (h *scriptHandler) enqueueOrClose(t *testing.T, d *datadriven.TestData) string {
	var from, to string
	d.ScanArgs(t, "from", &from)
	d.ScanArgs(t, "to", &to)
	a, b := h.node(t, d, from), h.node(t, d, to)
	if d.Cmd == "close" {
		h.c.nodes[a].ov.Close(h.c.nodes[b].id)
		return h.changes() + "ok"
	}
	count := 1
	d.MaybeScanArgs(t, "count", &count)
	accepted := 0
	for range count {
		h.appSeq++
		if h.c.nodes[a].ov.Enqueue(h.c.nodes[b].id, appFrame(h.appSeq)) {
			accepted++
		}
	}
	return fmt.Sprintf("accepted %d of %d", accepted, count)
}

func (h *scriptHandler) sessions() string {
	var out strings.Builder
	for _, nd := range h.c.nodes {
		for _, s := range sortedByName(h, nd.ov.Sessions()) {
			fmt.Fprintf(&out, "%s->%s %-9s rtt=%-6v reconnects=%d queued=%d sent=%d dropped_send=%d dropped_recv=%d\n",
				nd.name, h.names[s.Peer], s.State, s.RTT.Round(time.Millisecond), s.Reconnects, s.QueueDepth, s.Sent, s.DroppedSend, s.DroppedRecv)
		}
	}
	return strings.TrimSuffix(out.String(), "\n")
}

// sortedByName orders sessions by the script's node names, which read
// better than the id order Sessions guarantees.
func sortedByName(h *scriptHandler, ss []SessionInfo) []SessionInfo {
	slices.SortFunc(ss, func(a, b SessionInfo) int { return strings.Compare(h.names[a.Peer], h.names[b.Peer]) })
	return ss
}

func (h *scriptHandler) received(t *testing.T, d *datadriven.TestData) string {
	nd := h.c.nodes[h.node(t, d, d.CmdArgs[0].Key)]
	var out strings.Builder
	for _, from := range h.c.nodes {
		var seqs []string
		for _, m := range nd.probe.received {
			if m.From == from.id {
				f, _ := oap.Decode(m.Frame)
				seqs = append(seqs, fmt.Sprint(f.CorrID))
			}
		}
		if len(seqs) > 0 {
			fmt.Fprintf(&out, "from %s: %s\n", from.name, strings.Join(seqs, " "))
		}
	}
	if out.Len() == 0 {
		return "nothing"
	}
	return strings.TrimSuffix(out.String(), "\n")
}

func (h *scriptHandler) events(t *testing.T, d *datadriven.TestData) string {
	nd := h.c.nodes[h.node(t, d, d.CmdArgs[0].Key)]
	var lines []string
	for _, ev := range nd.probe.events {
		dir := "down"
		if ev.Up {
			dir = "up"
		}
		lines = append(lines, h.names[ev.Peer]+" "+dir)
	}
	if len(lines) == 0 {
		return "none"
	}
	return strings.Join(lines, "\n")
}

func (h *scriptHandler) metrics(t *testing.T, d *datadriven.TestData) string {
	nd := h.c.nodes[h.node(t, d, d.CmdArgs[0].Key)]
	var lines []string
	for k, v := range nd.env.Recorder.Values {
		if v != 0 && (strings.HasPrefix(k, "overlay_") || strings.HasPrefix(k, "transport_")) {
			lines = append(lines, fmt.Sprintf("%s %v", k, v))
		}
	}
	slices.Sort(lines)
	obs := nd.env.Recorder.Observations[MetricRPCLatency]
	lines = append(lines, fmt.Sprintf("%s count=%d", MetricRPCLatency, len(obs)))
	return strings.Join(lines, "\n")
}

func (h *scriptHandler) checkBackoff(t *testing.T, d *datadriven.TestData) string {
	if len(d.CmdArgs) != 2 {
		d.Fatalf(t, "check-backoff takes two nodes")
	}
	a, b := h.node(t, d, d.CmdArgs[0].Key), h.node(t, d, d.CmdArgs[1].Key)
	delays := h.backoffs[[2]int{a, b}].delays
	if err := checkBackoffs(delays, h.backoff[0], h.backoff[1]); err != nil {
		return "FAIL: " + err.Error()
	}
	capped := 0
	for _, x := range delays {
		if x >= time.Duration(float64(h.backoff[1])*0.8) {
			capped++
		}
	}
	return fmt.Sprintf("ok: %d delays within [%v, %v], growing until the cap, %d at the cap", len(delays), h.backoff[0], h.backoff[1], capped)
}

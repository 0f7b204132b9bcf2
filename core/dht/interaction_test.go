package dht

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// TestInteraction runs the scripts in testdata/*.txt on envtest.Cluster.
// Nodes are n1..nN; the run is fully determined by the seed. Commands:
//
//	net n=30 seeds=3 seed=1 [refresh=10s] [ttl=24h] [republish=12h] [loss=0]
//	                                build the nodes, all down
//	join [from=1] [to=N] [gap=10ms] [settle=10s]
//	                                start nodes from..to one gap apart, run settle
//	tables                          routing table sizes over the up nodes
//	lookup from=nI count=K [seed=S] K FindNode lookups of random targets; compare
//	                                each answer with the true closest up nodes
//	provide nI addr=TEXT            node I announces itself for AddrOf(TEXT)
//	find nI addr=TEXT               FindProviders from node I
//	crash nI                        take node I down
//	run 1m                          run the cluster
//	records                         provider records held, summed over nodes
//
// Run with -rewrite to regenerate the expected output.
func TestInteraction(t *testing.T) {
	paths, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(paths) < 3 {
		t.Fatalf("want at least 3 scripts in testdata, found %v (%v)", paths, err)
	}
	for _, path := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			h := &dhtScript{}
			datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
				return h.handle(t, d)
			})
		})
	}
}

type dhtScript struct {
	net *testNet
}

func (h *dhtScript) handle(t *testing.T, d *datadriven.TestData) string {
	if d.Cmd != "net" && h.net == nil {
		d.Fatalf(t, "no network: start the script with 'net'")
	}
	switch d.Cmd {
	case "net":
		var n, seeds int
		var seed uint64
		var loss float64
		cfg := netConfig()
		d.ScanArgs(t, "n", &n)
		d.ScanArgs(t, "seeds", &seeds)
		d.ScanArgs(t, "seed", &seed)
		d.MaybeScanArgs(t, "refresh", &cfg.RefreshInterval)
		d.MaybeScanArgs(t, "ttl", &cfg.ProviderTTL)
		d.MaybeScanArgs(t, "republish", &cfg.RepublishInterval)
		d.MaybeScanArgs(t, "loss", &loss)
		h.net = newTestNet(t, seed, n, seeds, cfg)
		h.net.setLoss(loss)
		return "ok"
	case "join":
		from, to := 1, len(h.net.nodes)
		gap, settle := 10*time.Millisecond, 10*time.Second
		d.MaybeScanArgs(t, "from", &from)
		d.MaybeScanArgs(t, "to", &to)
		d.MaybeScanArgs(t, "gap", &gap)
		d.MaybeScanArgs(t, "settle", &settle)
		for i := from - 1; i < to; i++ {
			h.net.start(i)
			h.net.run(gap)
		}
		h.net.run(settle)
		return fmt.Sprintf("n%d..n%d up", from, to)
	case "tables":
		return h.tables()
	case "lookup":
		return h.lookup(t, d)
	case "provide":
		var text string
		d.ScanArgs(t, "addr", &text)
		i := h.node(t, d)
		id := h.net.request(i, Provide{Addr: proto.AddrOf([]byte(text))})
		res, ok := h.net.await([]env.RequestID{id}, time.Minute)[id].(ProvideResult)
		if !ok {
			return "no reply"
		}
		return fmt.Sprintf("stored on %d nodes, err %v", res.Stored, res.Err)
	case "find":
		var text string
		d.ScanArgs(t, "addr", &text)
		i := h.node(t, d)
		id := h.net.request(i, FindProviders{Addr: proto.AddrOf([]byte(text))})
		res, ok := h.net.await([]env.RequestID{id}, time.Minute)[id].(ProvidersResult)
		if !ok {
			return "no reply"
		}
		var names []string
		for _, p := range res.Providers {
			names = append(names, h.name(p.Provider))
		}
		return fmt.Sprintf("%d providers %v, err %v", len(res.Providers), names, res.Err)
	case "crash":
		h.net.crash(h.node(t, d))
		return "ok"
	case "run":
		v, err := time.ParseDuration(d.CmdArgs[0].Key)
		if err != nil {
			d.Fatalf(t, "run: %v", err)
		}
		h.net.run(v)
		return "ok"
	case "records":
		return fmt.Sprintf("%v", h.net.metric(MetricProviderRecords, ""))
	}
	d.Fatalf(t, "unknown command %q", d.Cmd)
	return ""
}

func (h *dhtScript) node(t *testing.T, d *datadriven.TestData) int {
	for _, a := range d.CmdArgs {
		if strings.HasPrefix(a.Key, "n") && len(a.Vals) == 0 {
			if i, err := strconv.Atoi(a.Key[1:]); err == nil && i >= 1 && i <= len(h.net.nodes) {
				return i - 1
			}
		}
	}
	d.Fatalf(t, "%s needs a node n1..n%d", d.Cmd, len(h.net.nodes))
	return -1
}

func (h *dhtScript) name(id proto.NodeID) string {
	for i, nd := range h.net.nodes {
		if nd.id == id {
			return fmt.Sprintf("n%d", i+1)
		}
	}
	return "?"
}

func (h *dhtScript) tables() string {
	lo, hi, sum, up := -1, 0, 0, 0
	for i, nd := range h.net.nodes {
		if !h.net.up(i) {
			continue
		}
		n := nd.dht.TableSize()
		if lo < 0 || n < lo {
			lo = n
		}
		hi, sum, up = max(hi, n), sum+n, up+1
	}
	if up == 0 {
		return "no node up"
	}
	return fmt.Sprintf("%d up nodes: table size min %d max %d mean %.1f", up, lo, hi, float64(sum)/float64(up))
}

func (h *dhtScript) lookup(t *testing.T, d *datadriven.TestData) string {
	var count int
	seed := uint64(1)
	d.ScanArgs(t, "count", &count)
	d.MaybeScanArgs(t, "seed", &seed)
	from := h.node(t, d)
	r := env.NewRand(seed)
	exact, closest, hopsMax := 0, 0, 0
	for k := 0; k < count; k++ {
		var target proto.NodeID
		r.Fill(target[:])
		id := h.net.request(from, FindNode{Target: target})
		res, ok := h.net.await([]env.RequestID{id}, time.Minute)[id].(LookupResult)
		if !ok {
			return "no reply"
		}
		truth := h.net.trueClosest(target, KDefault)
		if equalIDs(res.Closest, truth) {
			exact++
		}
		if len(res.Closest) > 0 && res.Closest[0] == truth[0] {
			closest++
		}
		hopsMax = max(hopsMax, res.Hops)
	}
	return fmt.Sprintf("%d lookups: %d found the closest node, %d the exact K closest; hops max %d", count, closest, exact, hopsMax)
}

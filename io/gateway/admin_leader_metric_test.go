package gateway_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/io/gateway"
	"github.com/ron-network/ron/io/runtime"
)

// transferResults are registry_leader_transfers_total's result labels.
var transferResults = []string{"moved", "noop", "aborted", "other_winner", "unknown", "refused"}

// Every request POST /admin/registry/leader passes to the registry counts
// once in registry_leader_transfers_total under its result; requests
// refused before (no admin token) do not count.
func TestAdminRegistryLeaderTransfersCounted(t *testing.T) {
	f := newFixture(t, gateway.AdmissionConfig{}, 0)
	b := &transferBackend{Backend: f.rt}
	g := f.another(func(c *gateway.Config) { c.Backend = b })
	const name = "registry_leader_transfers_total"
	counts := func() map[string]float64 {
		m := map[string]float64{}
		for _, r := range transferResults {
			m[r] = metricValue(t, f, name, r)
		}
		return m
	}
	cases := []struct {
		res    registry.TransferResult
		result string
	}{
		{registry.TransferResult{Old: 1, OldNode: proto.NodeID{1}, New: 2, NewNode: proto.NodeID{2}}, "moved"},
		{registry.TransferResult{Old: 2, New: 2}, "noop"},
		{registry.TransferResult{Old: 1, Err: fmt.Errorf("%w: raft aborted it", registry.ErrTransferFailed)}, "aborted"},
		{registry.TransferResult{Old: 1, New: 3, NewNode: proto.NodeID{3}, Err: registry.ErrTransferFailed}, "other_winner"},
		{registry.TransferResult{Old: 1, Err: registry.ErrTransferUnknown}, "unknown"},
		{registry.TransferResult{Leader: 2, Err: registry.ErrNotLeader}, "refused"},
		{registry.TransferResult{Old: 1, Err: registry.ErrTargetNotCaughtUp}, "refused"},
	}
	for i, c := range cases {
		b.res = c.res
		before := counts()
		g.do("POST", leaderPath, []byte(`{"to": 2}`), g.bearer())
		after := counts()
		for _, r := range transferResults {
			want := before[r]
			if r == c.result {
				want++
			}
			if after[r] != want {
				t.Errorf("case %d (%v): %s{result=%q} %v -> %v, want %v", i, c.res.Err, name, r, before[r], after[r], want)
			}
		}
	}
	before := counts()
	if r := g.do("POST", leaderPath, []byte(`{}`), nil); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token: %d", r.StatusCode)
	}
	if after := counts(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("a request refused before the registry was asked counted: %v -> %v", before, after)
	}
	slow := f.another(func(c *gateway.Config) { c.Backend, c.CallTimeout = blockingBackend{f.rt}, 50*time.Millisecond })
	slow.do("POST", leaderPath, []byte(`{"to": 2}`), slow.bearer())
	if after := metricValue(t, f, name, "unknown"); after != before["unknown"]+1 {
		t.Fatalf("a call the gateway stopped waiting for: unknown %v -> %v, want one more", before["unknown"], after)
	}
}

// Every result of registry_leader_transfers_total is a series from the
// start, at 0, so a rate or an alert on one works before its first
// transfer (as oapgate_streams_refused_total's reasons).
func TestAdminRegistryLeaderTransfersDeclared(t *testing.T) {
	families, err := runtime.NewPromMetrics(slog.New(slog.DiscardHandler)).Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, fam := range families {
		if fam.GetName() != gateway.MetricLeaderTransfers {
			continue
		}
		for _, m := range fam.GetMetric() {
			if len(m.GetLabel()) == 1 && m.GetCounter().GetValue() == 0 {
				seen[m.GetLabel()[0].GetValue()] = true
			}
		}
	}
	for _, r := range transferResults {
		if !seen[r] {
			t.Errorf("%s{result=%q} is not a series at 0 before any transfer (have %v)", gateway.MetricLeaderTransfers, r, seen)
		}
	}
}

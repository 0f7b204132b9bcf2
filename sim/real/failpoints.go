package real

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/ron-network/ron/sim/scenario"
)

// Failpoints of rond that the faults drive (pingcap/failpoint names; sim/
// may not import io/, so they are spelled out and a test checks them
// against the binary's behaviour).
const (
	FailpointDiskWrite = "github.com/ron-network/ron/io/pebbledisk/write"
	FailpointDiskSync  = "github.com/ron-network/ron/io/pebbledisk/sync"
	FailpointDiskRead  = "github.com/ron-network/ron/io/pebbledisk/read"
	// FailpointUnsynced journals every node's unsynced writes, so that a
	// crash can drop them as a power loss would: "keep" at a start, or
	// "lose:PID" at a restart after the process PID was killed.
	FailpointUnsynced = "github.com/ron-network/ron/io/pebbledisk/unsynced"
	FailpointClock    = "github.com/ron-network/ron/io/runtime/clock"
	// FailpointSend and FailpointReceive drop or delay peer frames.
	FailpointSend    = "github.com/ron-network/ron/io/quicnet/send"
	FailpointReceive = "github.com/ron-network/ron/io/quicnet/receive"
	// FailpointRegistryBug selects registry canary bugs at node build.
	FailpointRegistryBug = "github.com/ron-network/ron/io/runtime/registry-bug"
	// FailpointRegistryVersionMax sets the registry's VersionMax at node
	// build (upgrade.go: an upgraded node reads the test-only version 2).
	FailpointRegistryVersionMax = "github.com/ron-network/ron/io/runtime/registry-version-max"
)

// FailpointRequestTimeout bounds one call to a node's failpoint endpoint.
const FailpointRequestTimeout = 5 * time.Second

// setFailpoint turns failpoint name on with terms ("" turns it off) in the
// running process through GO_FAILPOINTS_HTTP, and remembers it so that a
// restart of the node starts with it (GO_FAILPOINTS).
func (n *node) setFailpoint(name, terms string) error {
	n.mu.Lock()
	if n.failpoints == nil {
		n.failpoints = map[string]string{}
	}
	if terms == "" {
		delete(n.failpoints, name)
	} else {
		n.failpoints[name] = terms
	}
	running := n.cmd != nil
	n.mu.Unlock()
	if !running {
		return nil // applied at the next start
	}
	method, body := http.MethodPut, terms
	if terms == "" {
		method, body = http.MethodDelete, ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), FailpointRequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+n.fpAddr+"/"+name, strings.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s: failpoint %s: %w", n.name, name, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, ResponseBytesMax))
	if resp.StatusCode != http.StatusNoContent && !(terms == "" && resp.StatusCode == http.StatusBadRequest) {
		return fmt.Errorf("%s: failpoint %s=%s: %d %s", n.name, name, terms, resp.StatusCode, strings.TrimSpace(string(msg)))
	}
	return nil
}

// failpointEnv is GO_FAILPOINTS for the failpoints in force (called with
// n.mu held), in a stable order.
func (n *node) failpointEnv() []string {
	if len(n.failpoints) == 0 {
		return nil
	}
	var parts []string
	for name, terms := range n.failpoints {
		parts = append(parts, name+"="+terms)
	}
	sort.Strings(parts)
	return []string{"GO_FAILPOINTS=" + strings.Join(parts, ";")}
}

// percent formats a probability as failpoint's percentage modifier.
func percent(p float64) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.6f", p*100), "0"), ".") + "%"
}

// diskTerms maps a disk fault to the pebbledisk failpoints' terms (""
// leaves a failpoint off). Full fails every write as a full disk; errors
// and corrupt reads fail that share of ops; latency delays every op (in
// whole milliseconds, Validate refuses less).
func diskTerms(d scenario.Disk, full bool) (write, sync, read string) {
	var w, sy, r []string
	if full {
		w = append(w, `return("full")`)
	}
	if d.WriteError > 0 {
		w = append(w, percent(d.WriteError)+"return(true)")
		sy = append(sy, percent(d.WriteError)+"return(true)")
	}
	if d.CorruptRead > 0 {
		r = append(r, percent(d.CorruptRead)+`return("corruption")`)
	}
	if d.ReadError > 0 {
		r = append(r, percent(d.ReadError)+"return(true)")
	}
	if ms := d.Latency.Milliseconds(); ms > 0 {
		sleep := fmt.Sprintf("sleep(%d)", ms)
		w, sy, r = append(w, sleep), append(sy, sleep), append(r, sleep)
	}
	return strings.Join(w, "->"), strings.Join(sy, "->"), strings.Join(r, "->")
}

// clockTerms is the clock failpoint's value for a skew.
func clockTerms(c *scenario.Clock) string {
	return fmt.Sprintf(`return("%d:%g")`, c.Offset.Nanoseconds(), c.Drift)
}

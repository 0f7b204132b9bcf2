package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/io/oapgate"
)

// dialOAP connects one OAP/1 client to n, pinned to its node id, and
// says HELLO.
func dialOAP(t *testing.T, n *started) (*oapgate.Client, error) {
	t.Helper()
	id, err := proto.ParseNodeID(n.id)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startDeadline)
	defer cancel()
	c, err := oapgate.Dial(ctx, n.oap, oapgate.ClientConfig{NodeID: id})
	if err == nil {
		t.Cleanup(func() { _ = c.Close() })
	}
	return c, err
}

// TestProcessOAPLimits: a rond started with --oap-conns-max 2 and
// --oap-conn-idle-timeout 5s applies them: a third and a fourth client
// each evict the connection idle longest (oapgate_conns_evicted_total,
// two open), and the two left, idle, are closed after the timeout
// (oapgate_conns_idle_closed_total); one started with
// --oap-conns-per-source-max 1 refuses a second connection from the same
// address at the handshake (transport_handshake_fail_total per_source).
// With the defaults (1024 connections, 64 per source, 2 minutes) none of
// this happens within the test's deadlines.
func TestProcessOAPLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	n := startRond(t, "--quic-addr", "127.0.0.1:0", "--oap-addr", "127.0.0.1:0", "--oap-conns-max", "2", "--oap-conn-idle-timeout", "5s")
	for i := range 4 {
		// A dial right after an eviction may be refused at the
		// handshake while the evicted connection is still closing
		// (oapgate's handshake room at a small cap is one): the client
		// dials again, as a real one would.
		var err error
		eventually(t, startDeadline, "an OAP/1 client connected", func() (bool, string) {
			_, err = dialOAP(t, n)
			if err != nil && !strings.Contains(err.Error(), "CONNECTION_REFUSED") {
				t.Fatalf("client %d: %v\n%s", i, err, n.stderr)
			}
			return err == nil, fmt.Sprint(err)
		})
	}
	waitFor(t, startDeadline, "two evictions at --oap-conns-max 2", func() bool {
		return metricValue(t, n.url, "oapgate_conns_evicted_total") >= 2
	})
	if open := metricValue(t, n.url, "oapgate_connections"); open > 2 {
		t.Fatalf("oapgate_connections %v with --oap-conns-max 2", open)
	}
	waitFor(t, startDeadline, "the idle connections closed after --oap-conn-idle-timeout 5s", func() bool {
		return metricValue(t, n.url, "oapgate_conns_idle_closed_total") >= 1
	})
	if !strings.Contains(n.stderr.String(), "conns_max=2") || !strings.Contains(n.stderr.String(), "conn_idle_timeout=5s") {
		t.Errorf("the start's log does not name the limits:\n%s", n.stderr)
	}

	one := startRond(t, "--quic-addr", "127.0.0.1:0", "--oap-addr", "127.0.0.1:0", "--oap-conns-per-source-max", "1")
	if _, err := dialOAP(t, one); err != nil {
		t.Fatalf("first client: %v\n%s", err, one.stderr)
	}
	if _, err := dialOAP(t, one); err == nil {
		t.Fatal("a second connection from the same address was accepted with --oap-conns-per-source-max 1")
	} else if errors.Is(err, oapgate.ErrPinMismatch) {
		t.Fatalf("second client: %v", err)
	}
	waitFor(t, startDeadline, "a per_source handshake refusal", func() bool {
		return metricValue(t, one.url, `transport_handshake_fail_total{reason="per_source"}`) >= 1
	})
}

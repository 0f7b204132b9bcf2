package loopback

import (
	"net"
	"strconv"
	"testing"
)

// TestListenFixedBelowEphemeralRange: where the kernel's range can be
// read, the port bound is in [PortMin, range start), not one port 0
// could also be handed.
func TestListenFixedBelowEphemeralRange(t *testing.T) {
	lo := ephemeralPortLow()
	if lo <= PortMin+1 {
		t.Skipf("ephemeral range starts at %d: ListenFixed falls back to port 0", lo)
	}
	c, addr, err := ListenFixed(UDP)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < PortMin || port >= lo {
		t.Fatalf("bound %s (%v), want a port in [%d, %d)", addr, err, PortMin, lo)
	}
}

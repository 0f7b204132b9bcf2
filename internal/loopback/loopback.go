// Package loopback picks fixed loopback ports for the tests and harnesses
// that run real processes (cmd/rond's process tests, sim/real).
//
// A node keeps its ports across restarts, and a port of the kernel's
// ephemeral range, free at the first start, may be taken by then: the
// kernel hands those out to every socket bound to port 0 and to every
// outgoing connection on the machine (a relay's, another test's, every
// QUIC client on a busy CI machine), and the restarted node then failed
// with "address already in use". Below the range only an explicit bind
// takes a port, so that is where these ports come from.
package loopback

import (
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net"
	"os"
)

// PortMin: the ports ListenFixed picks are at least this (well above
// the ports services listen on).
const PortMin = 20000

// ListenFixed binds a loopback port below the kernel's ephemeral range
// (from PortMin, at random) with listen, which returns what it bound and
// its address. When the range cannot be read or no port tried there is
// free, it falls back to port 0 (the kernel picks).
func ListenFixed(listen func(addr string) (io.Closer, string, error)) (io.Closer, string, error) {
	if lo := ephemeralPortLow(); lo > PortMin+1 {
		for range 64 {
			// Not a scenario's seeded rand: ports are not part of a run.
			// #nosec G404 -- a test port needs spread, not secrecy
			port := PortMin + mathrand.IntN(lo-PortMin)
			if c, addr, err := listen(fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
				return c, addr, nil
			}
		}
	}
	return listen("127.0.0.1:0")
}

// ephemeralPortLow is the first port of the kernel's ephemeral range, or 0
// when it cannot be read.
func ephemeralPortLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	var lo, hi int
	if _, err := fmt.Sscan(string(b), &lo, &hi); err != nil {
		return 0
	}
	return lo
}

// UDP is ListenFixed's listen for a UDP port: it returns the bound
// socket and its address.
func UDP(addr string) (io.Closer, string, error) {
	c, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, "", err
	}
	return c, c.LocalAddr().String(), nil
}

// TCP is ListenFixed's listen for a TCP port: it returns the listener
// and its address.
func TCP(addr string) (io.Closer, string, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	return l, l.Addr().String(), nil
}

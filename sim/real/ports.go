package real

import (
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net"
	"os"
)

// fixedPortMin: a node's ports are at least this (well above the ports
// services listen on).
const fixedPortMin = 20000

// listenFixed binds a loopback port below the kernel's ephemeral range
// (from fixedPortMin, at random) with listen, the way cmd/rond's process
// tests pick theirs. A node keeps its ports across restarts, and a port
// of the ephemeral range, free at the first start, may be taken by then:
// the kernel hands those out to every socket bound to port 0 and to
// every outgoing connection on the machine (a relay's, another test's),
// and the restarted node then failed with "address already in use".
// Below the range only an explicit bind takes a port. When the range
// cannot be read or no port there is free, it falls back to port 0.
func listenFixed(listen func(addr string) (io.Closer, string, error)) (io.Closer, string, error) {
	if lo := ephemeralPortLow(); lo > fixedPortMin+1 {
		for range 64 {
			// Not the scenario's seeded rand: ports are not part of a run.
			// #nosec G404 -- a test port needs spread, not secrecy
			port := fixedPortMin + mathrand.IntN(lo-fixedPortMin)
			if c, addr, err := listen(fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
				return c, addr, nil
			}
		}
	}
	return listen("127.0.0.1:0")
}

func listenUDP(addr string) (io.Closer, string, error) {
	c, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, "", err
	}
	return c, c.LocalAddr().String(), nil
}

func listenTCP(addr string) (io.Closer, string, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	return l, l.Addr().String(), nil
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

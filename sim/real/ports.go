package real

import (
	"io"
	"net"
)

// listenUDP and listenTCP are loopback.ListenFixed's listen for a node's
// UDP and TCP ports: they return what they bound and its address.
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

//go:build !(linux || darwin || freebsd)

package quicnet

import (
	"errors"
	"net"
)

func socketBufferBytes(*net.UDPConn) (recv, send int, err error) {
	return 0, 0, errors.New("quicnet: socket buffer sizes are not inspectable on this platform")
}

//go:build linux || darwin || freebsd

package quicnet

import (
	"net"
	"syscall"
)

// socketBufferBytes reads SO_RCVBUF and SO_SNDBUF as the kernel reports
// them (Linux reports twice the requested size, and so does quic-go's own
// check, so the comparison with UDPBufferBytesWanted matches quic-go's).
func socketBufferBytes(conn *net.UDPConn) (recv, send int, err error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return 0, 0, err
	}
	var recvErr, sendErr error
	err = raw.Control(func(fd uintptr) {
		recv, recvErr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
		send, sendErr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF)
	})
	for _, e := range []error{err, recvErr, sendErr} {
		if e != nil {
			return 0, 0, e
		}
	}
	return recv, send, nil
}

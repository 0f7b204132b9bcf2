package quicnet

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
)

// quicGoBufferWarningEnv is the variable quic-go reads before printing its
// own UDP buffer warning through the standard log package.
const quicGoBufferWarningEnv = "QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING"

// bufferHint is what an operator runs to let quic-go get its buffers; the
// kernel doubles the requested size, so half of the wanted size plus some
// headroom is enough (quic-go's wiki suggests 7500000).
const bufferHint = "sysctl -w net.core.rmem_max=7500000 net.core.wmem_max=7500000"

var bufferWarningOnce sync.Once

// silenceQuicGoBufferWarning turns off quic-go's log.Printf warning, which
// would bypass our structured logger, unless the operator set the variable
// explicitly. checkUDPBuffers logs the same condition once, through slog.
func silenceQuicGoBufferWarning() {
	if _, set := os.LookupEnv(quicGoBufferWarningEnv); !set {
		_ = os.Setenv(quicGoBufferWarningEnv, "true")
	}
}

// checkUDPBuffers runs after quic-go has tried to enlarge the socket
// buffers (it does so when the transport starts) and reports once per
// process when it could not.
func checkUDPBuffers(conn *net.UDPConn, logger *slog.Logger) {
	recv, send, err := socketBufferBytes(conn)
	if err != nil {
		return // not inspectable on this platform; nothing useful to say
	}
	if msg, ok := bufferWarning(recv, send); ok {
		bufferWarningOnce.Do(func() {
			logger.Warn(msg, "recv_bytes", recv, "send_bytes", send,
				"want_bytes", UDPBufferBytesWanted, "fix", bufferHint)
		})
	}
}

// bufferWarning decides whether socket buffers of recv and send bytes (as
// the kernel reports them) deserve a warning, and phrases it.
func bufferWarning(recv, send int) (string, bool) {
	if recv >= UDPBufferBytesWanted && send >= UDPBufferBytesWanted {
		return "", false
	}
	return fmt.Sprintf("quicnet: UDP socket buffers are smaller than the %d bytes QUIC wants (receive %d, send %d); "+
		"throughput under load will suffer and packets may be dropped; raise the kernel limits with `%s`",
		UDPBufferBytesWanted, recv, send, bufferHint), true
}

package quicnet

import (
	"context"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/qlog"
	"github.com/quic-go/quic-go/qlogwriter"

	"github.com/ron-network/ron/core/env"
)

// MetricDatagrams is the counter of UDP datagrams a QUIC endpoint dropped
// before any connection owned them: garbage, packets for connections that
// do not exist, unsupported versions, packets shed to stop a flood.
// Without it an attacker spraying the port is invisible: quic-go drops
// such datagrams silently. Not counted: a short-header datagram for no
// connection that is long enough to be answered with a stateless reset
// (quic-go answers it, within a bounded queue, instead of dropping it).
const MetricDatagrams = "transport_datagrams_dropped_total"

// DatagramNotQUIC is the reason of a datagram whose first byte cannot
// start a QUIC packet (RFC 9000 fixes the second-highest bit to 1). The
// other reasons are quic-go's qlog drop triggers ("header_parse_error",
// "unknown_connection_id", "unsupported_version", "dos_prevention",
// "unexpected_packet", ...).
const DatagramNotQUIC = "not_quic"

var _ = env.Declare(env.MetricDef{Name: MetricDatagrams, Kind: env.Counter, Label: "reason",
	Help: "UDP datagrams a QUIC endpoint dropped before any connection owned them, by reason."})

// dropRecorder is a transport-level qlog recorder that keeps nothing but a
// count of dropped datagrams. quic-go calls it from its read loop and its
// server goroutine; env.Metrics is safe for concurrent use.
type dropRecorder struct{ metrics env.Metrics }

func (r dropRecorder) RecordEvent(ev qlogwriter.Event) {
	if d, ok := ev.(qlog.PacketDropped); ok {
		r.metrics.Add(MetricDatagrams, string(d.Trigger), 1)
	}
}

func (dropRecorder) Close() error { return nil }

// CountNonQUIC reads the datagrams quic-go sets aside as not QUIC (it
// drops them silently unless someone reads them) and counts them in
// metrics. Run it on its own goroutine after Listen; it returns when ctx
// ends or tr closes.
func CountNonQUIC(ctx context.Context, tr *quic.Transport, metrics env.Metrics) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := tr.ReadNonQUICPacket(ctx, buf); err != nil {
			return
		}
		metrics.Add(MetricDatagrams, DatagramNotQUIC, 1)
	}
}

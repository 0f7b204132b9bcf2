package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/io/oapgate"
	"github.com/ron-network/ron/io/quicnet"
)

// oapOff as --oap-addr turns the OAP/1 client endpoint off.
const oapOff = "off"

// oapAddrDefault serves the OAP/1 client API on loopback, on a port the
// kernel picks (the banner prints it): several nodes on one host, and the
// tests that start many, never collide, and nothing is exposed by default.
const oapAddrDefault = "127.0.0.1:0"

// checkOAPAddr validates oap_addr: "off" or host:port.
func checkOAPAddr(addr string) error {
	if addr == oapOff {
		return nil
	}
	if err := checkHostPort(addr, 0); err != nil {
		return badSetting("oap_addr", "%q: %v (host:port, or %q)", addr, err, oapOff)
	}
	return nil
}

// Bounds of oap_conn_idle_timeout. The least is the longest of the
// waits oapgate gives a new connection and a new request (HelloTimeout,
// StartTimeout): a connection closed as idle sooner could be closed
// while its client is still inside them. The most is a day: an idle
// connection holds one of oap_conns_max's places all that time, and a
// client's next request simply dials again.
var (
	oapConnIdleMin = max(oapgate.HelloTimeoutDefault, oapgate.StartTimeoutDefault)
	oapConnIdleCap = 24 * time.Hour
)

// oapConnIdleTimeout is OAPConnIdleTimeout parsed (0: oapgate's default).
func (c Config) oapConnIdleTimeout() (time.Duration, error) {
	if c.OAPConnIdleTimeout == "" || c.OAPConnIdleTimeout == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(c.OAPConnIdleTimeout)
	switch {
	case err != nil:
		return 0, badSetting("oap_conn_idle_timeout", "%q is not a duration (e.g. 2m, 30s)", c.OAPConnIdleTimeout)
	case d == 0: // "0s": as "0"
		return 0, nil
	case d < oapConnIdleMin || d > oapConnIdleCap:
		return 0, badSetting("oap_conn_idle_timeout", "%v is outside %v..%v (at least oapgate's wait for a HELLO and a START; 0 or unset takes the default, %v)",
			d, oapConnIdleMin, oapConnIdleCap, oapgate.ConnIdleTimeoutDefault)
	}
	return d, nil
}

// checkOAP checks the OAP/1 connection limits: oap_conns_max within
// oapgate's ConnsMaxLimit, oap_conns_per_source_max at most the
// connection cap (a default where unset), and the idle timeout's bounds.
func (c Config) checkOAP() error {
	if c.OAPConnsMax < 0 || c.OAPConnsMax > oapgate.ConnsMaxLimit {
		return badSetting("oap_conns_max", "%d is outside 1..%d (0 or unset takes the default, %d)",
			c.OAPConnsMax, oapgate.ConnsMaxLimit, oapgate.ConnsDefault)
	}
	conns := c.OAPConnsMax
	if conns == 0 {
		conns = oapgate.ConnsDefault
	}
	if c.OAPConnsPerSourceMax < 0 || c.OAPConnsPerSourceMax > conns {
		return badSetting("oap_conns_per_source_max", "%d is outside 1..%d, oap_conns_max (0 or unset takes the default, %d)",
			c.OAPConnsPerSourceMax, conns, quicnet.ConnsPerSourceDefault)
	}
	_, err := c.oapConnIdleTimeout()
	return err
}

// startOAP serves the gateway's client API over OAP/1 (io/oapgate) on
// cfg.OAPAddr, with the node's certificate, unless it is off.
func startOAP(n *node, cfg Config, key ed25519.PrivateKey, gw http.Handler, log *slog.Logger) error {
	if cfg.OAPAddr == oapOff {
		return nil
	}
	idle, err := cfg.oapConnIdleTimeout()
	if err != nil {
		return err // validate refused it already
	}
	srv, err := oapgate.Listen(oapgate.Config{Key: key, ListenAddr: cfg.OAPAddr, Handler: gw,
		UA: "rond/" + version, Metrics: n.rt.Prom(), Logger: log,
		ConnsMax: cfg.OAPConnsMax, ConnsPerSourceMax: cfg.OAPConnsPerSourceMax, ConnIdleTimeout: idle})
	if err != nil {
		return listenError("oap_addr", cfg.OAPAddr, "UDP", err)
	}
	n.oap = srv
	conns, perSource := cfg.OAPConnsMax, cfg.OAPConnsPerSourceMax
	if conns == 0 {
		conns = oapgate.ConnsDefault
	}
	if perSource == 0 {
		perSource = quicnet.ConnsPerSourceDefault
	}
	if idle == 0 {
		idle = oapgate.ConnIdleTimeoutDefault
	}
	log.Info("rond: OAP/1 client API", "addr", srv.Addr().String(), "alpn", oapgate.ALPN,
		"conns_max", conns, "conns_per_source_max", perSource, "conn_idle_timeout", idle.String())
	return nil
}

// shutdownOAP drains the OAP/1 requests in flight, as HTTP's are.
func (n *node) shutdownOAP(ctx context.Context) error {
	if n.oap == nil {
		return nil
	}
	return n.oap.Shutdown(ctx)
}

// printOAPBanner is the banner's line for the OAP/1 endpoint.
func printOAPBanner(w io.Writer, n *node) {
	if n.oap == nil {
		fmt.Fprintf(w, "  oap       off\n")
		return
	}
	fmt.Fprintf(w, "  oap       %s (OAP/1 client API over QUIC, ALPN %s)\n", n.oap.Addr(), oapgate.ALPN)
}

// printOAPExample is the banner's example of ronctl over OAP/1, pinning
// the node id.
func printOAPExample(w io.Writer, n *node, id proto.NodeID) {
	if n.oap == nil {
		return
	}
	fmt.Fprintf(w, "  go run ./cmd/ronctl --oap %s --node-id %s put README.md\n", n.oap.Addr(), id)
}

package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/io/oapgate"
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

// startOAP serves the gateway's client API over OAP/1 (io/oapgate) on
// cfg.OAPAddr, with the node's certificate, unless it is off.
func startOAP(n *node, cfg Config, key ed25519.PrivateKey, gw http.Handler, log *slog.Logger) error {
	if cfg.OAPAddr == oapOff {
		return nil
	}
	srv, err := oapgate.Listen(oapgate.Config{Key: key, ListenAddr: cfg.OAPAddr, Handler: gw,
		UA: "rond/" + version, Metrics: n.rt.Prom(), Logger: log})
	if err != nil {
		return listenError("oap_addr", cfg.OAPAddr, "UDP", err)
	}
	n.oap = srv
	log.Info("rond: OAP/1 client API", "addr", srv.Addr().String(), "alpn", oapgate.ALPN)
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

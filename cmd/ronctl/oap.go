package main

import (
	"flag"
	"fmt"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/io/oapgate"
)

// oapFlags send every request over OAP/1 (the node's QUIC client
// endpoint, io/oapgate) instead of HTTP: --oap ADDR, with --node-id ID to
// pin the node (recommended) or --oap-insecure to accept any. The token
// travels as the START frame's capability bytes; commands do not change.
type oapFlags struct {
	addr, nodeID string
	insecure     bool
	client       *oapgate.Client
}

func (o *oapFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&o.addr, "oap", "", "")
	fs.StringVar(&o.nodeID, "node-id", "", "")
	fs.BoolVar(&o.insecure, "oap-insecure", false, "")
}

// useOAP makes c's HTTP client a front for an OAP/1 client when --oap is
// given: the oapgate.Client is an http.RoundTripper, so every command
// (put, get, cat, name, providers, status, token revoke, audit) goes over
// it unchanged.
func (c *client) useOAP() error {
	o := &c.oap
	if o.addr == "" {
		if o.nodeID != "" || o.insecure {
			return usageError{"--node-id and --oap-insecure go with --oap ADDR"}
		}
		return nil
	}
	cfg := oapgate.ClientConfig{InsecureSkipVerify: o.insecure, UA: "ronctl"}
	if o.nodeID != "" {
		id, err := proto.ParseNodeID(o.nodeID)
		if err != nil {
			return usageError{fmt.Sprintf("--node-id: %v", err)}
		}
		cfg.NodeID = id
	}
	if cfg.NodeID.IsZero() == !cfg.InsecureSkipVerify {
		return usageError{"--oap needs exactly one of --node-id ID (rond's banner prints it) and --oap-insecure"}
	}
	client, err := oapgate.NewClient(o.addr, cfg)
	if err != nil {
		return usageError{err.Error()}
	}
	o.client = client
	c.http.Transport = client
	c.node = "oap://" + o.addr
	return nil
}

// closeOAP closes the OAP/1 connection, if one was opened, so the node
// frees it at once rather than after its idle timeout.
func (c *client) closeOAP() {
	if c.oap.client != nil {
		_ = c.oap.client.Close()
	}
}

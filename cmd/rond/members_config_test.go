package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ron-network/ron/core/proto"
)

// TestMembersSetting: none when unset, then file < env < flag; an id
// that is not hex is refused with exit 2 naming the setting.
func TestMembersSetting(t *testing.T) {
	a, b := proto.NodeID{1}.String(), proto.NodeID{2}.String()
	checkSetting(t, settingSpec[string]{
		key: "members", env: "RON_MEMBERS", flag: "--members",
		get:   func(c Config) string { return strings.Join(c.Members, ",") },
		def:   "",
		layer: [3]settingValue[string]{{"[" + a + "]", a}, {b, b}, {a + "," + b, a + "," + b}},
		bad:   []string{"abc", a + ",zz"},
		names: "members",
	})
}

// TestOpenNetworkSetting: off when unset, then file < env < flag; on
// with members listed, or with a policy file (a policy requiring tokens
// for reads would be bypassed over the peer protocol), rond refuses to
// start with exit 2 naming open_network.
func TestOpenNetworkSetting(t *testing.T) {
	def, _, err := loadConfig(nil, envOf(nil), &bytes.Buffer{})
	if err != nil || def.OpenNetwork {
		t.Fatalf("default open_network %v (%v), want false", def.OpenNetwork, err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "rond.yaml")
	if err := os.WriteFile(file, []byte("open_network: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"RON_OPEN_NETWORK": "false"}
	for _, c := range []struct {
		args []string
		env  map[string]string
		want bool
	}{
		{[]string{"--config", file}, nil, true},
		{[]string{"--config", file}, env, false},
		{[]string{"--config", file, "--open-network"}, env, true},
		{[]string{"--config", file, "--open-network=false"}, nil, false},
	} {
		cfg, _, err := loadConfig(c.args, envOf(c.env), &bytes.Buffer{})
		if err != nil || cfg.OpenNetwork != c.want {
			t.Errorf("%v %v: open_network %v (%v), want %v", c.args, c.env, cfg.OpenNetwork, err, c.want)
		}
	}
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte("rules: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--open-network", "--members", proto.NodeID{1}.String()},
		{"--open-network", "--policy", policy},
		{"--config", file, "--policy", policy},
	} {
		var stderr bytes.Buffer
		if code := run(args, envOf(nil), &bytes.Buffer{}, &stderr); code != 2 || !strings.Contains(stderr.String(), "open_network") {
			t.Errorf("%v: exit %d, stderr %q; want 2 naming open_network", args, code, stderr.String())
		}
	}
}

// TestLoopbackAddr: a node alone runs the membership of itself unless its
// QUIC address is loopback only (ClosedAlone in main.go): anything that
// may be reached from outside counts as not loopback.
func TestLoopbackAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:7070": true, "127.9.9.9:1": true, "[::1]:7070": true, "localhost:7070": true,
		"0.0.0.0:7070": false, "[::]:7070": false, ":7070": false, "10.0.0.5:7070": false,
		"node1.example:7070": false, "127.0.0.1": false, "": false,
	} {
		if got := loopbackAddr(addr); got != want {
			t.Errorf("loopbackAddr(%q) = %v, want %v", addr, got, want)
		}
	}
}

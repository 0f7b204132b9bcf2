package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestOAPConnsMaxSetting: 0 (oapgate's default, 1024) when unset, then
// file < env < flag up to oapgate.ConnsMaxLimit.
func TestOAPConnsMaxSetting(t *testing.T) {
	checkSetting(t, settingSpec[int]{
		key: "oap_conns_max", env: "RON_OAP_CONNS_MAX", flag: "--oap-conns-max",
		get:   func(c Config) int { return c.OAPConnsMax },
		def:   0,
		layer: [3]settingValue[int]{{"16", 16}, {"2", 2}, {"65536", 65536}},
		bad:   []string{"-1", "65537"},
		names: "oap_conns_max",
	})
}

// TestOAPConnsPerSourceMaxSetting: 0 (64) when unset, then file < env <
// flag, at most the connection cap.
func TestOAPConnsPerSourceMaxSetting(t *testing.T) {
	checkSetting(t, settingSpec[int]{
		key: "oap_conns_per_source_max", env: "RON_OAP_CONNS_PER_SOURCE_MAX", flag: "--oap-conns-per-source-max",
		get:   func(c Config) int { return c.OAPConnsPerSourceMax },
		def:   0,
		layer: [3]settingValue[int]{{"8", 8}, {"256", 256}, {"1024", 1024}},
		bad:   []string{"-1", "1025"},
		names: "oap_conns_per_source_max",
	})
}

// TestOAPConnIdleTimeoutSetting: "" (2m) when unset, then file < env <
// flag, from 5s (oapgate's START wait) to 24h.
func TestOAPConnIdleTimeoutSetting(t *testing.T) {
	checkSetting(t, settingSpec[string]{
		key: "oap_conn_idle_timeout", env: "RON_OAP_CONN_IDLE_TIMEOUT", flag: "--oap-conn-idle-timeout",
		get:   func(c Config) string { return c.OAPConnIdleTimeout },
		def:   "",
		layer: [3]settingValue[string]{{"5s", "5s"}, {"10m", "10m"}, {"24h", "24h"}},
		bad:   []string{"4s", "1ms", "-1m", "25h", "soon"},
		names: "oap_conn_idle_timeout",
	})
	for _, zero := range []string{"0", "0s"} {
		cfg, _, err := loadConfig([]string{"--oap-conn-idle-timeout", zero}, envOf(nil), &bytes.Buffer{})
		if d, derr := cfg.oapConnIdleTimeout(); err != nil || derr != nil || d != 0 {
			t.Errorf("--oap-conn-idle-timeout %s: %v, %v %v; want the default (0)", zero, err, d, derr)
		}
	}
}

// TestOAPLimitsRefused: each bad value stops rond with exit 2 and a
// message naming the setting, the value and the allowed range, before
// anything listens; a file's bad value names its line.
func TestOAPLimitsRefused(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  map[string]string
		want []string
	}{
		{[]string{"--oap-conns-max", "-1"}, nil, []string{"oap_conns_max", "-1", "1..65536"}},
		{[]string{"--oap-conns-max", "65537"}, nil, []string{"oap_conns_max", "65537", "1..65536"}},
		{[]string{"--oap-conns-max", "many"}, nil, []string{"--oap-conns-max", `"many"`, "whole number of connections"}},
		{nil, map[string]string{"RON_OAP_CONNS_MAX": "1e3"}, []string{"RON_OAP_CONNS_MAX", `"1e3"`}},
		{[]string{"--oap-conns-per-source-max", "-2"}, nil, []string{"oap_conns_per_source_max", "-2", "1..1024"}},
		{[]string{"--oap-conns-max", "4", "--oap-conns-per-source-max", "5"}, nil, []string{"oap_conns_per_source_max", "5", "1..4, oap_conns_max"}},
		{[]string{"--oap-conn-idle-timeout", "1s"}, nil, []string{"oap_conn_idle_timeout", "1s", "5s..24h0m0s"}},
		{[]string{"--oap-conn-idle-timeout", "48h"}, nil, []string{"oap_conn_idle_timeout", "48h0m0s", "5s..24h0m0s"}},
		{[]string{"--oap-conn-idle-timeout", "-5m"}, nil, []string{"oap_conn_idle_timeout", "-5m0s", "5s..24h0m0s"}},
		{[]string{"--oap-conn-idle-timeout", "2"}, nil, []string{"oap_conn_idle_timeout", `"2"`, "not a duration"}},
	} {
		var stdout, stderr bytes.Buffer
		code := run(c.args, envOf(c.env), &stdout, &stderr)
		if code != 2 {
			t.Errorf("%v %v: exit %d, stderr %q; want 2", c.args, c.env, code, stderr.String())
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(stderr.String(), w) {
				t.Errorf("%v %v: stderr %q lacks %q", c.args, c.env, stderr.String(), w)
			}
		}
	}
	file := filepath.Join(t.TempDir(), "rond.yaml")
	if err := os.WriteFile(file, []byte("log_level: info\noap_conns_max: 100\noap_conns_per_source_max: 200\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	if code := run([]string{"--config", file}, envOf(nil), &bytes.Buffer{}, &stderr); code != 2 ||
		!strings.Contains(stderr.String(), file+":3: oap_conns_per_source_max: 200 is outside 1..100") {
		t.Errorf("a file's per-source cap above its connection cap: exit %d, stderr %q; want 2 naming line 3", code, stderr.String())
	}
	if err := os.WriteFile(file, []byte("oap_conn_idle_timeout: 2s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stderr.Reset()
	if code := run([]string{"config", "check", file}, envOf(nil), &bytes.Buffer{}, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), file+":1: oap_conn_idle_timeout: 2s is outside 5s..24h0m0s") {
		t.Errorf("rond config check of a short idle timeout: exit %d, stderr %q", code, stderr.String())
	}
}

// TestOAPLimitsNeedRestart: a reload that changes an OAP/1 limit names
// it among the settings that need a restart (oapgate cannot change them
// on a running server), and --help lists the three flags with an example.
func TestOAPLimitsNeedRestart(t *testing.T) {
	a := defaults()
	b := a
	b.OAPConnsMax, b.OAPConnsPerSourceMax, b.OAPConnIdleTimeout = 8, 4, "10m"
	got := restartSettings(a, b)
	for _, want := range []string{"oap_conns_max", "oap_conns_per_source_max", "oap_conn_idle_timeout"} {
		if !slices.Contains(got, want) {
			t.Errorf("restartSettings %v lacks %s", got, want)
		}
	}
	var help bytes.Buffer
	printUsage(&help)
	for _, want := range []string{"-oap-conns-max N", "-oap-conns-per-source-max N", "-oap-conn-idle-timeout DURATION", "Needs a restart",
		"rond --oap-conns-max 4096 --oap-conns-per-source-max 256 --oap-conn-idle-timeout 10m"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("rond --help lacks %q", want)
		}
	}
}

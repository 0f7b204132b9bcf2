package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestByteSizesTakeUnits: every byte-size setting (edge_cache_bytes,
// memory_max) takes bytes or a human size, the same from a flag, a RON_*
// variable and the YAML file.
func TestByteSizesTakeUnits(t *testing.T) {
	cases := []struct {
		text string
		want int64
	}{
		{"0", 0}, {"1048576", 1 << 20}, {"512B", 512},
		{"64KiB", 64 << 10}, {"64MiB", 64 << 20}, {"1GiB", 1 << 30}, {"1.5GiB", 3 << 29}, {"1TiB", 1 << 40},
		{"500KB", 500e3}, {"64MB", 64e6}, {"1GB", 1e9}, {"1TB", 1e12}, {"64 MiB", 64 << 20},
	}
	for _, c := range cases {
		got, err := parseByteSize(c.text)
		if err != nil || got != c.want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d", c.text, got, err, c.want)
		}
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "rond.yaml")
	if err := os.WriteFile(file, []byte("edge_cache_bytes: 32MiB\nmemory_max: 2GB\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := loadConfig([]string{"--config", file}, envOf(nil), &bytes.Buffer{})
	if err != nil || cfg.EdgeCacheBytes != 32<<20 || cfg.MemoryMax != 2e9 {
		t.Fatalf("file: edge %d memory %d (%v); want 32MiB, 2GB", cfg.EdgeCacheBytes, cfg.MemoryMax, err)
	}
	cfg, _, err = loadConfig([]string{"--memory-max", "512MiB"}, envOf(map[string]string{"RON_EDGE_CACHE_BYTES": "16MB"}), &bytes.Buffer{})
	if err != nil || cfg.EdgeCacheBytes != 16e6 || cfg.MemoryMax != 512<<20 {
		t.Fatalf("flag/env: edge %d memory %d (%v); want 16MB, 512MiB", cfg.EdgeCacheBytes, cfg.MemoryMax, err)
	}
}

// TestBadInputNamesWhatAndWhere: each bad value exits 2 with a message
// naming the flag, variable or key (and, in the file, its line), and for
// a size, the forms a size takes.
func TestBadInputNamesWhatAndWhere(t *testing.T) {
	dir := t.TempDir()
	yamlFile := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	huge := yamlFile("huge.yaml", "http_addr: 127.0.0.1:1\nedge_cache_bytes: 1e20\n")
	word := yamlFile("word.yaml", "memory_max: lots\n")
	list := yamlFile("list.yaml", "log_level: info\n\nmemory_max: [1, 2]\n")
	rate := yamlFile("rate.yaml", "anonymous_read_rate: fast\n")
	replica := yamlFile("replica.yaml", "log_level: info\nregistry_replica: maybe\n")
	cases := []struct {
		args []string
		env  map[string]string
		want []string
	}{
		{[]string{"--edge-cache-bytes", "1TBx"}, nil, []string{"--edge-cache-bytes", `"1TBx" is not a size`, "KiB", "TB"}},
		{[]string{"--edge-cache-bytes", "-1"}, nil, []string{"--edge-cache-bytes", "negative"}},
		{[]string{"--edge-cache-bytes", "1.5"}, nil, []string{"--edge-cache-bytes", "whole"}},
		{[]string{"--memory-max", "10EiB"}, nil, []string{"--memory-max", "not a size"}},
		{[]string{"--memory-max", "99999999TiB"}, nil, []string{"--memory-max", "larger than the largest size"}},
		{nil, map[string]string{"RON_EDGE_CACHE_BYTES": "64 parsecs"}, []string{"RON_EDGE_CACHE_BYTES", "not a size"}},
		{[]string{"--config", huge}, nil, []string{huge + ":2: edge_cache_bytes:", `"1e20" is not a size`}},
		{[]string{"--config", word}, nil, []string{word + ":1: memory_max:", "not a size"}},
		{[]string{"--config", list}, nil, []string{list + ":3: memory_max:", "single value"}},
		{[]string{"--config", rate}, nil, []string{rate + ":1: anonymous_read_rate:"}},
		{[]string{"--config", replica}, nil, []string{replica + ":2: registry_replica:"}},
		// A cache larger than a micronode's memory budget, or than the
		// machine, is refused with the key named.
		{[]string{"--edge-cache-bytes", "1000000000000000"}, nil, []string{"edge_cache_bytes", "memory_max, 1GiB"}},
		{[]string{"--edge-cache-bytes", "2GiB", "--memory-max", "1GiB"}, nil, []string{"edge_cache_bytes", "memory_max, 1GiB"}},
		{[]string{"--data-dir", dir, "--edge-cache-bytes", "1000TB"}, nil, []string{"edge_cache_bytes", "1000TB", "memory"}},
		{[]string{"--anonymous-read-rate", "fast"}, nil, []string{"--anonymous-read-rate", `"fast" is not a number`}},
		{nil, map[string]string{"RON_REGISTRY_REPLICA": "maybe"}, []string{"RON_REGISTRY_REPLICA", `"maybe" is not true or false`}},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		code := run(c.args, envOf(c.env), &stdout, &stderr)
		if code != 2 {
			t.Errorf("%v %v: exit %d, want 2 (stderr %q)", c.args, c.env, code, stderr.String())
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(stderr.String(), w) {
				t.Errorf("%v %v: stderr %q does not say %q", c.args, c.env, stderr.String(), w)
			}
		}
		if strings.Contains(stderr.String(), "strconv") || strings.Contains(stderr.String(), "!!float") {
			t.Errorf("%v %v: stderr %q shows the parser's internals", c.args, c.env, stderr.String())
		}
	}
}

// TestUnknownRONVariableWarns: a RON_* variable nothing in the project
// reads is named in a warning with the closest known one (or the list);
// the project's own (rond's settings, RON_TOKEN, the test switches) are
// not.
func TestUnknownRONVariableWarns(t *testing.T) {
	got := unknownEnvWarnings([]string{"RON_NOSUCH=1", "RON_HTTP_ADR=x", "RON_TOKEN=t", "RON_CONFIG=f",
		"RON_EDGE_CACHE_BYTES=1", "RON_REAL_CANARY=1", "RON_FLAGS_OFF_SEEDS=2", "RON_PEBBLEDISK_KILL_CHILD=1", "HOME=/root"})
	if len(got) != 2 {
		t.Fatalf("warnings %q; want 2 (RON_NOSUCH, RON_HTTP_ADR)", got)
	}
	if !strings.Contains(got[0], "RON_NOSUCH") || !strings.Contains(got[0], "RON_HTTP_ADDR") {
		t.Errorf("warning %q: want RON_NOSUCH named and the known variables listed", got[0])
	}
	if !strings.Contains(got[1], "RON_HTTP_ADR") || !strings.Contains(got[1], "did you mean RON_HTTP_ADDR?") {
		t.Errorf("warning %q: want RON_HTTP_ADR named with the suggestion RON_HTTP_ADDR", got[1])
	}
	// loadConfig hands them to run, which logs them (and starts).
	saved := environ
	defer func() { environ = saved }()
	environ = func() []string { return []string{"RON_NOSUCH=1"} }
	cfg, _, err := loadConfig(nil, envOf(nil), &bytes.Buffer{})
	if err != nil || len(cfg.warnings) == 0 || !strings.Contains(cfg.warnings[0], "RON_NOSUCH") {
		t.Fatalf("loadConfig: warnings %q (%v); want one naming RON_NOSUCH and no error", cfg.warnings, err)
	}
}

// TestConfigFileOfNoEndIsRefused: a config path naming /dev/zero is
// refused as a character device (config_irregular_test.go), and a huge
// regular file by mistake after configFileBytesMax with the bound named,
// not read until memory runs out (4 GB in 10 s before, a red-team run).
func TestConfigFileOfNoEndIsRefused(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err == nil {
		_, stderr, code := runRond("--config", "/dev/zero")
		if code == 0 || !strings.Contains(stderr, "/dev/zero is a character device, not a regular file") {
			t.Fatalf("exit %d, stderr %q; want a refusal naming the file's type", code, stderr)
		}
	}
	huge := filepath.Join(t.TempDir(), "huge.yaml")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(64 << 20); err != nil { // sparse: 64 MiB of zeros
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runRond("--config", huge)
	if code == 0 || !strings.Contains(stderr, huge+" is larger than 1024 KiB") {
		t.Fatalf("exit %d, stderr %q; want a refusal naming the bound", code, stderr)
	}
}

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadAheadBytesSetting: unset (0: the gateway's default), then file
// < env < flag in any size form; negative, non-size and below one largest
// chunk refused with exit 2 naming the setting.
func TestReadAheadBytesSetting(t *testing.T) {
	def, _, err := loadConfig(nil, envOf(nil), &bytes.Buffer{})
	if err != nil || def.ReadAheadBytes != 0 {
		t.Fatalf("default read-ahead %d bytes (%v), want 0 (the gateway's default)", def.ReadAheadBytes, err)
	}
	file := filepath.Join(t.TempDir(), "rond.yaml")
	if err := os.WriteFile(file, []byte("read_ahead_bytes: 64MiB\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		env  map[string]string
		want int64
	}{
		{[]string{"--config", file}, nil, 64 << 20},
		{[]string{"--config", file}, map[string]string{"RON_READ_AHEAD_BYTES": "1GiB"}, 1 << 30},
		{[]string{"--config", file, "--read-ahead-bytes", "0"}, map[string]string{"RON_READ_AHEAD_BYTES": "1GiB"}, 0},
	}
	for _, c := range cases {
		cfg, _, err := loadConfig(c.args, envOf(c.env), &bytes.Buffer{})
		if err != nil || cfg.ReadAheadBytes != c.want {
			t.Errorf("%v %v: %d bytes (%v), want %d", c.args, c.env, cfg.ReadAheadBytes, err, c.want)
		}
	}
	for _, bad := range []string{"-1", "lots", "1000", "1MB"} {
		var stderr bytes.Buffer
		code := run([]string{"--read-ahead-bytes", bad}, envOf(nil), &bytes.Buffer{}, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), "read_ahead_bytes") && !strings.Contains(stderr.String(), "read-ahead-bytes") {
			t.Errorf("--read-ahead-bytes %s: exit %d, stderr %q; want 2 naming the setting", bad, code, stderr.String())
		}
	}
}

// TestReadAheadBytesFitsMicronodeMemory: a micronode's read-ahead buffers
// live in the memory its memory_max bounds, so a larger budget is a
// configuration error naming read_ahead_bytes (as an edge cache larger
// than memory_max is); one that fits, and a macronode's, are accepted.
// Before, any value was accepted.
func TestReadAheadBytesFitsMicronodeMemory(t *testing.T) {
	_, _, err := loadConfig([]string{"--read-ahead-bytes", "65MiB", "--memory-max", "64MiB"}, envOf(nil), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "read_ahead_bytes") || !strings.Contains(err.Error(), "memory_max") {
		t.Fatalf("a micronode's read-ahead above its memory_max: %v, want an error naming read_ahead_bytes and memory_max", err)
	}
	for _, args := range [][]string{
		{"--read-ahead-bytes", "64MiB", "--memory-max", "64MiB"},
		{"--read-ahead-bytes", "65MiB", "--memory-max", "64MiB", "--data-dir", t.TempDir()},
	} {
		if _, _, err := loadConfig(args, envOf(nil), &bytes.Buffer{}); err != nil {
			t.Errorf("%v: %v", args, err)
		}
	}
}

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEdgeCacheBytesSetting: 64 MiB by default, then file < env < flag,
// 0 allowed (disables), negative and non-size values refused with exit 2
// (64MiB was refused before sizes took units; bad_input_test.go has the
// units).
func TestEdgeCacheBytesSetting(t *testing.T) {
	def, _, err := loadConfig(nil, envOf(nil), &bytes.Buffer{})
	if err != nil || def.EdgeCacheBytes != 64<<20 {
		t.Fatalf("default edge cache %d bytes (%v), want 64 MiB", def.EdgeCacheBytes, err)
	}
	file := filepath.Join(t.TempDir(), "rond.yaml")
	if err := os.WriteFile(file, []byte("edge_cache_bytes: 1000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		env  map[string]string
		want int64
	}{
		{[]string{"--config", file}, nil, 1000},
		{[]string{"--config", file}, map[string]string{"RON_EDGE_CACHE_BYTES": "2000"}, 2000},
		{[]string{"--config", file, "--edge-cache-bytes", "0"}, map[string]string{"RON_EDGE_CACHE_BYTES": "2000"}, 0},
	}
	for _, c := range cases {
		cfg, _, err := loadConfig(c.args, envOf(c.env), &bytes.Buffer{})
		if err != nil || cfg.EdgeCacheBytes != c.want {
			t.Errorf("%v %v: %d bytes (%v), want %d", c.args, c.env, cfg.EdgeCacheBytes, err, c.want)
		}
	}
	for _, bad := range []string{"-1", "64 parsecs"} {
		var stderr bytes.Buffer
		code := run([]string{"--edge-cache-bytes", bad}, envOf(nil), &bytes.Buffer{}, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), "edge") {
			t.Errorf("--edge-cache-bytes %s: exit %d, stderr %q; want 2 naming the setting", bad, code, stderr.String())
		}
	}
}

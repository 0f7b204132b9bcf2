package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRequestsPerSourceSetting: 0 (the gateway's default) when unset,
// then file < env < flag; negative, above the in-flight cap and
// non-numeric values are refused with exit 2 naming the setting, and a
// file's bad value names its line.
func TestRequestsPerSourceSetting(t *testing.T) {
	def, _, err := loadConfig(nil, envOf(nil), &bytes.Buffer{})
	if err != nil || def.RequestsPerSource != 0 {
		t.Fatalf("default requests per source %d (%v), want 0 (the gateway's default)", def.RequestsPerSource, err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "rond.yaml")
	if err := os.WriteFile(file, []byte("requests_per_source: 16\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		env  map[string]string
		want int
	}{
		{[]string{"--config", file}, nil, 16},
		{[]string{"--config", file}, map[string]string{"RON_REQUESTS_PER_SOURCE": "32"}, 32},
		{[]string{"--config", file, "--requests-per-source", "256"}, map[string]string{"RON_REQUESTS_PER_SOURCE": "32"}, 256},
	}
	for _, c := range cases {
		cfg, _, err := loadConfig(c.args, envOf(c.env), &bytes.Buffer{})
		if err != nil || cfg.RequestsPerSource != c.want {
			t.Errorf("%v %v: %d (%v), want %d", c.args, c.env, cfg.RequestsPerSource, err, c.want)
		}
	}
	for _, bad := range []string{"-1", "257", "many", "1.5"} {
		var stderr bytes.Buffer
		code := run([]string{"--requests-per-source", bad}, envOf(nil), &bytes.Buffer{}, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), "requests") {
			t.Errorf("--requests-per-source %s: exit %d, stderr %q; want 2 naming the setting", bad, code, stderr.String())
		}
	}
	badFile := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badFile, []byte("log_level: info\nrequests_per_source: lots\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	if code := run([]string{"--config", badFile}, envOf(nil), &bytes.Buffer{}, &stderr); code != 2 ||
		!strings.Contains(stderr.String(), ":2: requests_per_source") {
		t.Errorf("a file's non-numeric value: exit %d, stderr %q; want 2 naming line 2 and the key", code, stderr.String())
	}
	if err := os.WriteFile(badFile, []byte("requests_per_source: -3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stderr.Reset()
	if code := run([]string{"--config", badFile}, envOf(nil), &bytes.Buffer{}, &stderr); code != 2 ||
		!strings.Contains(stderr.String(), "requests_per_source") {
		t.Errorf("a file's negative value: exit %d, stderr %q; want 2 naming the key", code, stderr.String())
	}
}

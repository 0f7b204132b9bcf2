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
	checkSetting(t, settingSpec[int]{
		key: "requests_per_source", env: "RON_REQUESTS_PER_SOURCE", flag: "--requests-per-source",
		get:   func(c Config) int { return c.RequestsPerSource },
		def:   0, // the gateway's default
		layer: [3]settingValue[int]{{"16", 16}, {"32", 32}, {"256", 256}},
		bad:   []string{"-1", "257", "many", "1.5"},
		names: "requests",
	})
	dir := t.TempDir()
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

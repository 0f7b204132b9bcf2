package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestMemoryMaxSetting: 1 GiB by default, env < flag, 0 allowed
// (disables), negative and non-numeric values refused with exit 2.
func TestMemoryMaxSetting(t *testing.T) {
	def, _, err := loadConfig(nil, envOf(nil), &bytes.Buffer{})
	if err != nil || def.MemoryMax != 1<<30 {
		t.Fatalf("default memory budget %d bytes (%v), want 1 GiB", def.MemoryMax, err)
	}
	cfg, _, err := loadConfig([]string{"--memory-max", "0"}, envOf(map[string]string{"RON_MEMORY_MAX": "4096"}), &bytes.Buffer{})
	if err != nil || cfg.MemoryMax != 0 {
		t.Fatalf("--memory-max 0 over RON_MEMORY_MAX: %d (%v)", cfg.MemoryMax, err)
	}
	// 1GiB was refused before sizes took units (bad_input_test.go).
	for _, bad := range []string{"-1", "1 parsec"} {
		var stderr bytes.Buffer
		code := run([]string{"--memory-max", bad}, envOf(nil), &bytes.Buffer{}, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), "memory") {
			t.Errorf("--memory-max %s: exit %d, stderr %q; want 2 naming the setting", bad, code, stderr.String())
		}
	}
}

package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTenantRateSettings: tenant_rate and tenant_burst (the gateway's
// per-tenant bucket) and anonymous_read_burst are 0 (the gate's default) when unset, then file <
// env < flag, reach the gate's configuration, and a negative, NaN,
// infinite, too large or (burst) below-one value is refused with exit 2
// naming the setting; a non-number names the flag.
func TestTenantRateSettings(t *testing.T) {
	for _, spec := range []settingSpec[float64]{
		{key: "tenant_rate", env: "RON_TENANT_RATE", flag: "--tenant-rate", get: func(c Config) float64 { return c.TenantRate },
			layer: [3]settingValue[float64]{{"50", 50}, {"0.5", 0.5}, {"1000", 1000}}, bad: []string{"-1", "NaN", "+Inf", "2e9"}, names: "tenant_rate: "},
		{key: "tenant_burst", env: "RON_TENANT_BURST", flag: "--tenant-burst", get: func(c Config) float64 { return c.TenantBurst },
			layer: [3]settingValue[float64]{{"1", 1}, {"800", 800}, {"2.5", 2.5}}, bad: []string{"0.5", "-1", "NaN", "2e9"}, names: "tenant_burst: "},
		{key: "anonymous_read_burst", env: "RON_ANONYMOUS_READ_BURST", flag: "--anonymous-read-burst", get: func(c Config) float64 { return c.AnonymousReadBurst },
			layer: [3]settingValue[float64]{{"1", 1}, {"20000", 20000}, {"7.5", 7.5}}, bad: []string{"0.5", "-1", "NaN", "2e9"}, names: "anonymous_read_burst: "},
	} {
		t.Run(spec.key, func(t *testing.T) {
			checkSetting(t, spec)
			var stderr bytes.Buffer
			if code := run([]string{spec.flag, "lots"}, envOf(nil), &bytes.Buffer{}, &stderr); code != 2 || !strings.Contains(stderr.String(), spec.flag+": ") {
				t.Errorf("%s lots: exit %d, stderr %q; want 2 naming the flag", spec.flag, code, stderr.String())
			}
		})
	}
	cfg, _, err := loadConfig([]string{"--tenant-rate", "20", "--tenant-burst", "30", "--anonymous-read-burst", "40"}, envOf(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if gate, err := cfg.admission(); err != nil || gate.TenantRate != 20 || gate.TenantBurst != 30 || gate.AnonymousBurst != 40 {
		t.Errorf("gate rate %v burst %v anonymous burst %v (%v), want 20, 30 and 40", gate.TenantRate, gate.TenantBurst, gate.AnonymousBurst, err)
	}
}

// TestTenantRateSettingsFile: a bad tenant_rate or tenant_burst in the
// file is refused by rond (exit 2) and by rond config check (exit 1),
// naming the setting.
func TestTenantRateSettingsFile(t *testing.T) {
	dir := t.TempDir()
	for i, b := range []struct{ yaml, names string }{
		{"tenant_rate: -2\n", "tenant_rate: -2 is not a rate above 0"},
		{"tenant_burst: 0.5\n", "tenant_burst: 0.5 is outside 1..1e+09"},
	} {
		bad := filepath.Join(dir, fmt.Sprintf("bad%d.yaml", i))
		if err := os.WriteFile(bad, []byte(b.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		if code := run([]string{"--config", bad}, envOf(nil), &bytes.Buffer{}, &stderr); code != 2 || !strings.Contains(stderr.String(), b.names) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", b.yaml, code, stderr.String(), b.names)
		}
		stderr.Reset()
		if code := configCmd([]string{"check", bad}, &bytes.Buffer{}, &stderr); code != 1 || !strings.Contains(stderr.String(), b.names) {
			t.Errorf("config check %q: exit %d, stderr %q; want 1 and %q", b.yaml, code, stderr.String(), b.names)
		}
	}
}

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ron-network/ron/io/gateway"
)

// TestAnonymousReadRateSetting: gateway.AnonymousRateDefault by default,
// then file < env < flag; zero, negative, infinite and non-numeric rates
// are refused with exit 2 naming the setting.
func TestAnonymousReadRateSetting(t *testing.T) {
	def, _, err := loadConfig(nil, envOf(nil), &bytes.Buffer{})
	if err != nil || def.AnonymousReadRate != gateway.AnonymousRateDefault {
		t.Fatalf("default anonymous read rate %v (%v), want %v", def.AnonymousReadRate, err, gateway.AnonymousRateDefault)
	}
	file := filepath.Join(t.TempDir(), "rond.yaml")
	if err := os.WriteFile(file, []byte("anonymous_read_rate: 1000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		env  map[string]string
		want float64
	}{
		{[]string{"--config", file}, nil, 1000},
		{[]string{"--config", file}, map[string]string{"RON_ANONYMOUS_READ_RATE": "2000"}, 2000},
		{[]string{"--config", file, "--anonymous-read-rate", "12.5"}, map[string]string{"RON_ANONYMOUS_READ_RATE": "2000"}, 12.5},
	}
	for _, c := range cases {
		cfg, _, err := loadConfig(c.args, envOf(c.env), &bytes.Buffer{})
		if err != nil || cfg.AnonymousReadRate != c.want {
			t.Errorf("%v %v: %v (%v), want %v", c.args, c.env, cfg.AnonymousReadRate, err, c.want)
		}
	}
	for _, bad := range []string{"0", "-5", "+Inf", "NaN", "2e9", "fast"} {
		var stderr bytes.Buffer
		code := run([]string{"--anonymous-read-rate", bad}, envOf(nil), &bytes.Buffer{}, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), "anonymous") {
			t.Errorf("--anonymous-read-rate %s: exit %d, stderr %q; want 2 naming the setting", bad, code, stderr.String())
		}
	}
}

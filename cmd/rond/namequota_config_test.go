package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ron-network/ron/io/gateway"
)

// TestNamesPerTenantSetting: gateway.NamesPerTenantDefault when unset,
// then file < env < flag; zero, negative, above NamesMax and non-numeric values are
// refused with exit 2 naming the setting.
func TestNamesPerTenantSetting(t *testing.T) {
	def, _, err := loadConfig(nil, envOf(nil), &bytes.Buffer{})
	if err != nil || def.NamesPerTenant != gateway.NamesPerTenantDefault {
		t.Fatalf("default names per tenant %d (%v), want %d", def.NamesPerTenant, err, gateway.NamesPerTenantDefault)
	}
	file := filepath.Join(t.TempDir(), "rond.yaml")
	if err := os.WriteFile(file, []byte("names_per_tenant: 16\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		env  map[string]string
		want int
	}{
		{[]string{"--config", file}, nil, 16},
		{[]string{"--config", file}, map[string]string{"RON_NAMES_PER_TENANT": "32"}, 32},
		{[]string{"--config", file, "--names-per-tenant", "1024"}, map[string]string{"RON_NAMES_PER_TENANT": "32"}, 1024},
	}
	for _, c := range cases {
		cfg, _, err := loadConfig(c.args, envOf(c.env), &bytes.Buffer{})
		if err != nil || cfg.NamesPerTenant != c.want {
			t.Errorf("%v %v: %d (%v), want %d", c.args, c.env, cfg.NamesPerTenant, err, c.want)
		}
	}
	for _, bad := range []string{"0", "-1", "1025", "many", "1.5"} {
		var stderr bytes.Buffer
		code := run([]string{"--names-per-tenant", bad}, envOf(nil), &bytes.Buffer{}, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), "names") {
			t.Errorf("--names-per-tenant %s: exit %d, stderr %q; want 2 naming the setting", bad, code, stderr.String())
		}
	}
}

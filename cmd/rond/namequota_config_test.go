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
	checkSetting(t, settingSpec[int]{
		key: "names_per_tenant", env: "RON_NAMES_PER_TENANT", flag: "--names-per-tenant",
		get:   func(c Config) int { return c.NamesPerTenant },
		def:   gateway.NamesPerTenantDefault,
		layer: [3]settingValue[int]{{"16", 16}, {"32", 32}, {"1024", 1024}},
		bad:   []string{"0", "-1", "1025", "many", "1.5"},
		names: "names",
	})
}

// TestClusterNameQuotaSetting: off when unset, then file < env < flag; a
// value that is not a boolean is refused with exit 2 naming the setting.
func TestClusterNameQuotaSetting(t *testing.T) {
	def, _, err := loadConfig(nil, envOf(nil), &bytes.Buffer{})
	if err != nil || def.ClusterNameQuota {
		t.Fatalf("default cluster_name_quota %v (%v), want false", def.ClusterNameQuota, err)
	}
	file := filepath.Join(t.TempDir(), "rond.yaml")
	if err := os.WriteFile(file, []byte("cluster_name_quota: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	off := map[string]string{"RON_CLUSTER_NAME_QUOTA": "false"}
	for _, c := range []struct {
		args []string
		env  map[string]string
		want bool
	}{
		{[]string{"--config", file}, nil, true},
		{[]string{"--config", file}, off, false},
		{[]string{"--config", file, "--cluster-name-quota"}, off, true},
		{[]string{"--config", file, "--cluster-name-quota=false"}, nil, false},
	} {
		cfg, _, err := loadConfig(c.args, envOf(c.env), &bytes.Buffer{})
		if err != nil || cfg.ClusterNameQuota != c.want {
			t.Errorf("%v %v: cluster_name_quota %v (%v), want %v", c.args, c.env, cfg.ClusterNameQuota, err, c.want)
		}
	}
	for _, bad := range []struct {
		args []string
		env  map[string]string
		name string
	}{
		{[]string{"--cluster-name-quota=maybe"}, nil, "--cluster-name-quota"},
		{nil, map[string]string{"RON_CLUSTER_NAME_QUOTA": "3"}, "RON_CLUSTER_NAME_QUOTA"},
	} {
		var stderr bytes.Buffer
		if code := run(bad.args, envOf(bad.env), &bytes.Buffer{}, &stderr); code != 2 || !strings.Contains(stderr.String(), bad.name) {
			t.Errorf("%v %v: exit %d, stderr %q; want 2 naming %s", bad.args, bad.env, code, stderr.String(), bad.name)
		}
	}
	bad := filepath.Join(t.TempDir(), "rond.yaml")
	if err := os.WriteFile(bad, []byte("cluster_name_quota: sometimes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	if code := run([]string{"--config", bad}, envOf(nil), &bytes.Buffer{}, &stderr); code != 2 || !strings.Contains(stderr.String(), "cluster_name_quota") {
		t.Errorf("file value sometimes: exit %d, stderr %q; want 2 naming cluster_name_quota", code, stderr.String())
	}
}

package main

import (
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
	checkBoolSetting(t, "cluster_name_quota", "RON_CLUSTER_NAME_QUOTA", "--cluster-name-quota",
		func(c Config) bool { return c.ClusterNameQuota })
}

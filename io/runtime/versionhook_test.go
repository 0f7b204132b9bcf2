package runtime

import (
	"testing"

	"github.com/pingcap/failpoint"

	"github.com/ron-network/ron/core/registry"
)

func TestRegistryVersionMaxFailpoint(t *testing.T) {
	if got := registryVersionMax(); got != 0 {
		t.Fatalf("off: %d", got)
	}
	t.Cleanup(func() { _ = failpoint.Disable(FailpointRegistryVersionMax) })
	for terms, want := range map[string]uint64{"return(2)": registry.VersionTest, "return(1)": registry.VersionBase,
		"return(3)": registry.VersionQuota, "return(4)": 0, "return(0)": 0, `return("2")`: 0} {
		if err := failpoint.Enable(FailpointRegistryVersionMax, terms); err != nil {
			t.Fatal(err)
		}
		if got := registryVersionMax(); got != want {
			t.Errorf("%s: %d, want %d", terms, got, want)
		}
	}
}

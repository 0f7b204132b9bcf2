package runtime

import (
	"crypto/ed25519"
	"strings"
	"testing"

	"github.com/pingcap/failpoint"

	"github.com/ron-network/ron/core/proto"
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

// TestRegistryVersionMaxSpec: NodeSpec.RegistryVersionMax (rond's
// cluster_name_quota) reaches the registry's Config.VersionMax, the
// failpoint takes its place when on, and a version this build does not
// read is refused by Validate.
func TestRegistryVersionMaxSpec(t *testing.T) {
	spec := NodeSpec{Key: ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))}
	spec.Replicas = []proto.NodeID{spec.Self()}
	if got := spec.Describe().Registry.VersionMax; got != 0 {
		t.Fatalf("unset: VersionMax %d, want 0 (VersionBase)", got)
	}
	spec.RegistryVersionMax = registry.VersionQuota
	if got := spec.Describe().Registry.VersionMax; got != registry.VersionQuota {
		t.Fatalf("set: VersionMax %d, want %d", got, registry.VersionQuota)
	}
	if err := spec.Validate(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = failpoint.Disable(FailpointRegistryVersionMax) })
	if err := failpoint.Enable(FailpointRegistryVersionMax, "return(2)"); err != nil {
		t.Fatal(err)
	}
	if got := spec.Describe().Registry.VersionMax; got != registry.VersionTest {
		t.Fatalf("failpoint on: VersionMax %d, want its %d", got, registry.VersionTest)
	}
	spec.RegistryVersionMax = registry.VersionQuota + 1
	if err := spec.Validate(); err == nil || !strings.Contains(err.Error(), "RegistryVersionMax") {
		t.Fatalf("VersionMax %d: %v, want a refusal naming RegistryVersionMax", spec.RegistryVersionMax, err)
	}
}

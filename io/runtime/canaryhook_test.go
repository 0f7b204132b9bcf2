package runtime

import (
	"testing"

	"github.com/pingcap/failpoint"

	"github.com/ron-network/ron/core/registry"
)

func TestRegistryBugFailpoint(t *testing.T) {
	if got := registryBug(); got != (registry.Bug{}) {
		t.Fatalf("off: %+v", got)
	}
	if err := failpoint.Enable(FailpointRegistryBug, `return("local_resolve,skip_sync")`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = failpoint.Disable(FailpointRegistryBug) })
	if got, want := registryBug(), (registry.Bug{LocalResolve: true, SkipSync: true}); got != want {
		t.Fatalf("on: %+v, want %+v", got, want)
	}
}

package runtime

import (
	"github.com/pingcap/failpoint"

	"github.com/ron-network/ron/core/registry"
)

// FailpointRegistryVersionMax sets core/registry's Config.VersionMax when
// a node is built, so that `ronsim real` can run its upgrades onto a
// build whose registry reads the test-only entry version 2, as the
// simulator does, and show the cluster version gate on real processes:
//
//	GO_FAILPOINTS='github.com/ron-network/ron/io/runtime/registry-version-max=return(2)'
//
// Off (the default, and every production start) the registry reads up
// to NodeSpec.RegistryVersionMax (rond's cluster_name_quota: VersionQuota;
// else VersionBase); on, it takes that field's place, and a value outside
// VersionBase..VersionQuota is ignored. return(3) reads
// registry.VersionQuota, whose Claims carry the tenant's name quota into
// the replicated state.
const FailpointRegistryVersionMax = "github.com/ron-network/ron/io/runtime/registry-version-max"

// registryVersionMax reads FailpointRegistryVersionMax (0 when it is off).
func registryVersionMax() uint64 {
	v, err := failpoint.Eval(FailpointRegistryVersionMax)
	if err != nil {
		return 0
	}
	n, ok := v.(int)
	if !ok || n < registry.VersionBase || n > registry.VersionQuota {
		return 0
	}
	return uint64(n)
}

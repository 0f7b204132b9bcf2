package runtime

import (
	"strings"

	"github.com/pingcap/failpoint"

	"github.com/ron-network/ron/core/registry"
)

// FailpointRegistryBug selects core/registry's deliberately wrong
// behaviours (registry.Bug) when a node is built, so that `ronsim real`
// can show its checks catch them on real processes. Its value is a
// comma-separated list of local_resolve, ack_before_commit, skip_sync:
//
//	GO_FAILPOINTS='github.com/ron-network/ron/io/runtime/registry-bug=return("local_resolve")'
//
// Two locks keep it out of production: the failpoint is off unless the
// environment turns it on, and core/registry ignores Bug (logging and
// counting the fact) in every build without the canary tag.
const FailpointRegistryBug = "github.com/ron-network/ron/io/runtime/registry-bug"

// registryBug reads FailpointRegistryBug (the zero Bug when it is off).
func registryBug() registry.Bug {
	v, err := failpoint.Eval(FailpointRegistryBug)
	if err != nil {
		return registry.Bug{}
	}
	s, _ := v.(string)
	var bug registry.Bug
	for _, name := range strings.Split(s, ",") {
		switch strings.TrimSpace(name) {
		case "local_resolve":
			bug.LocalResolve = true
		case "ack_before_commit":
			bug.AckBeforeCommit = true
		case "skip_sync":
			bug.SkipSync = true
		}
	}
	return bug
}

package registry

import (
	"slices"

	"github.com/ron-network/ron/core/membership"
	"github.com/ron-network/ron/core/proto"
)

// SetMembers is a client request that replaces the closed membership
// (Config.Members) of a running registry; it is answered with the
// request itself (not a Result). rond sends it when its members setting is
// reloaded (cmd/rond's doc, "Membership"). From the next input on,
// forwards and revocation pulls are served only to the new list's nodes.
// The raft voters (Config.Replicas) do not change: raft and version
// messages still require a replica, and a replica stays a member in rond.
// An empty list lets any node forward and pull, as at New.
type SetMembers struct {
	Members []proto.NodeID
}

// Service names the registry (node.Call).
func (SetMembers) Service() string { return ServiceName }

// Answer: the registry replies with the request.
func (SetMembers) Answer(SetMembers) {}

// setMembers installs ids as Config.Members and its set.
func (r *Registry) setMembers(ids []proto.NodeID) {
	r.cfg.Members = slices.Clone(ids)
	r.members = membership.New(ids)
}

package overlay

import (
	"slices"

	"github.com/ron-network/ron/core/membership"
	"github.com/ron-network/ron/core/proto"
)

// SetMembers is a client request that replaces the closed membership
// (Config.Members) of a running overlay; the overlay replies with the
// request. rond sends it when its members setting is reloaded (cmd/rond's
// doc, "Membership"). From the next input on a HELLO request from a node
// outside the new list is dropped as not_member and one from a node on it
// is admitted; sessions already open stay (rond's transport closes a
// dropped member's connections). An empty list is an open membership, as
// at New.
type SetMembers struct {
	Members []proto.NodeID
}

// setMembers installs ids as Config.Members and its set.
func (o *Overlay) setMembers(ids []proto.NodeID) {
	o.cfg.Members = slices.Clone(ids)
	o.members = membership.New(ids)
}

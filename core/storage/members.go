package storage

import (
	"slices"

	"github.com/ron-network/ron/core/proto"
)

// SetMembers is a client request that replaces the closed membership
// (Config.Members) of a running machine; the machine replies with the
// request. rond sends it when its members setting is reloaded (cmd/rond's
// doc, "Membership"). From the next input on, placement draws from the
// new list and the peer protocol serves only its nodes: a node dropped
// from it is refused (not_member) and placed on no more, and the objects
// it holds are not moved. Operations already running keep the placement
// they chose. An empty list is no membership (any sender is served and
// the DHT places), as at New; R and W stay as configured.
type SetMembers struct {
	Members []proto.NodeID
}

// setMembers installs ids as Config.Members and its set.
func (s *Storage) setMembers(ids []proto.NodeID) {
	s.cfg.Members = slices.Clone(ids)
	s.members = nil
	if len(ids) > 0 {
		s.members = make(map[proto.NodeID]struct{}, len(ids))
		for _, id := range ids {
			s.members[id] = struct{}{}
		}
	}
}

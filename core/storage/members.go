package storage

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/ron-network/ron/core/membership"
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
// the DHT places), as at New. Replicas and WriteQuorum, when not zero,
// replace R and W (Config.Replicas, Config.WriteQuorum) the same way:
// placement and the next put use them (rond sets them as at start from
// the new membership, so a lone node closed by a reload places three
// copies); zero keeps the running one. A W outside 1..R is refused
// (ErrBadRequest) and changes nothing.
type SetMembers struct {
	Members     []proto.NodeID
	Replicas    int // R from now on; 0: unchanged
	WriteQuorum int // W from now on; 0: unchanged
}

// setQuorum checks and installs m's R and W.
func (s *Storage) setQuorum(m SetMembers) error {
	r, w := cmp.Or(m.Replicas, s.cfg.Replicas), cmp.Or(m.WriteQuorum, s.cfg.WriteQuorum)
	if m.Replicas < 0 || m.WriteQuorum < 0 || r < 1 || w < 1 || w > r {
		return fmt.Errorf("%w: SetMembers: Replicas %d, WriteQuorum %d: W must be within 1..R (running R %d, W %d)",
			ErrBadRequest, m.Replicas, m.WriteQuorum, s.cfg.Replicas, s.cfg.WriteQuorum)
	}
	s.cfg.Replicas, s.cfg.WriteQuorum = r, w
	return nil
}

// setMembers installs ids as Config.Members and its set.
func (s *Storage) setMembers(ids []proto.NodeID) {
	s.cfg.Members = slices.Clone(ids)
	s.members = membership.New(ids)
}

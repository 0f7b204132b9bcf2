package dht

import (
	"slices"

	"github.com/ron-network/ron/core/membership"
	"github.com/ron-network/ron/core/proto"
)

// SetMembers is a client request that replaces the closed membership
// (Config.Members) of a running machine; the machine replies with the
// request. rond sends it when its members setting is reloaded (cmd/rond's
// doc, "Membership"). From the next input on the machine learns and
// serves only the new list's nodes, and a node dropped from it leaves the
// routing table at once; provider records it announced earlier stay
// until they expire (storage fetches from members only). An empty list is
// an open DHT, as at New.
type SetMembers struct {
	Members []proto.NodeID
}

// setMembers installs ids as Config.Members and its set, and drops from
// the routing table every contact that is no longer a member.
func (d *DHT) setMembers(ids []proto.NodeID) {
	d.cfg.Members = slices.Clone(ids)
	d.members = membership.New(ids)
	if d.members.Open() {
		return
	}
	var gone []proto.NodeID
	for _, b := range d.table.buckets {
		for _, e := range b.entries {
			if !d.member(e.id) {
				gone = append(gone, e.id)
			}
		}
	}
	for _, id := range gone {
		d.table.remove(id)
	}
}

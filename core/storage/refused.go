package storage

import (
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// RefusedLogIDsMax bounds the peer ids a node remembers having logged as
// refused non-members; RefusedLogEvery is how long (env time) one id's
// line is not repeated.
const (
	RefusedLogIDsMax = 64
	RefusedLogEvery  = 10 * time.Minute
)

// refusedLog remembers when each refused peer id was last logged, so a
// misconfigured membership is named in the log once per id per
// RefusedLogEvery instead of on every frame. Full, it forgets the id
// logged longest ago (ties: the lowest id), so it stays bounded and
// deterministic whatever the map's iteration order.
type refusedLog map[proto.NodeID]env.Time

// due reports whether id should be logged now, and records it if so.
func (r *refusedLog) due(id proto.NodeID, now env.Time) bool {
	if *r == nil {
		*r = refusedLog{}
	}
	if at, ok := (*r)[id]; ok && now.Sub(at) < RefusedLogEvery {
		return false
	}
	if _, ok := (*r)[id]; !ok && len(*r) >= RefusedLogIDsMax {
		var oldest proto.NodeID
		var oldestAt env.Time
		first := true
		// map order ok: the minimum of (time, id), a total order, whatever the visiting order
		for k, at := range *r {
			if first || at.Before(oldestAt) || at == oldestAt && k.Compare(oldest) < 0 {
				oldest, oldestAt, first = k, at, false
			}
		}
		delete(*r, oldest)
	}
	(*r)[id] = now
	return true
}

// refusedNotMember counts a peer request refused for coming from outside
// Config.Members and logs its sender (refusedLog): the operator of a
// cluster whose nodes disagree on membership learns which id is missing.
func (s *Storage) refusedNotMember(from proto.NodeID) {
	s.reject(ReasonNotMember)
	if s.refused.due(from, s.env.Now()) {
		s.env.Log().Warn("storage: refused peer "+from.String()+": not a member (storage); list it in members on this node if it belongs to the cluster",
			"peer", from.String())
	}
}

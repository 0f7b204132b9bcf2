package storage

import (
	"github.com/ron-network/ron/core/internal/refusedlog"
	"github.com/ron-network/ron/core/proto"
)

// RefusedLogIDsMax bounds the peer ids a node remembers having logged as
// refused non-members; RefusedLogEvery is how long (env time) one id's
// line is not repeated (core/internal/refusedlog).
const (
	RefusedLogIDsMax = refusedlog.IDsMax
	RefusedLogEvery  = refusedlog.Every
)

// refusedNotMember counts a peer request refused for coming from outside
// Config.Members and logs its sender (refusedLog): the operator of a
// cluster whose nodes disagree on membership learns which id is missing.
func (s *Storage) refusedNotMember(from proto.NodeID) {
	s.reject(ReasonNotMember)
	s.refused.Warn(s.env.Log(), s.env.Now(), "storage", from)
}

// refusedSenderShare counts a StoreChunk refused for its sender's share
// of the staged table and logs the sender, paced like the non-members
// (refusedlog: once per id per RefusedLogEvery, LinesMax lines per
// window): the operator learns which member floods pushes it never
// commits.
func (s *Storage) refusedSenderShare(from proto.NodeID) {
	s.reject(ReasonSenderShare)
	due, suppressed := s.shareLog.Due(from, s.env.Now())
	if !due {
		return
	}
	log := s.env.Log()
	if suppressed > 0 {
		log.Warn("storage: staged share refusals not logged", "count", suppressed)
	}
	sh := s.index.shares[from]
	log.Warn("storage: refused a member's pushes over its share of the staged table (it pushes chunks it does not commit)",
		"peer", from.String(), "chunks", sh.chunks, "bytes", sh.bytes)
}

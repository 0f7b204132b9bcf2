package membership

import "github.com/ron-network/ron/core/proto"

// Set is an open or closed membership (doc.go). The zero value is open.
type Set struct {
	ids map[proto.NodeID]struct{} // nil: open; never modified once built
}

// New returns the membership listing ids: closed when ids holds at least
// one id (an id listed twice counts once), open when it is nil or empty.
// The Set keeps no reference to ids.
func New(ids []proto.NodeID) Set {
	if len(ids) == 0 {
		return Set{}
	}
	set := make(map[proto.NodeID]struct{}, len(ids))
	for _, id := range ids {
		set[id] = struct{}{}
	}
	return Set{ids: set}
}

// Open reports whether the membership is open: no list, every id admitted.
func (s Set) Open() bool { return s.ids == nil }

// Admits reports whether id may talk to this node: always when the
// membership is open, else when id is listed.
func (s Set) Admits(id proto.NodeID) bool { return s.ids == nil || s.Lists(id) }

// Lists reports whether the membership is closed and lists id; an open
// membership lists no one (though it admits everyone).
func (s Set) Lists(id proto.NodeID) bool {
	_, ok := s.ids[id]
	return ok
}

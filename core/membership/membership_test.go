package membership

import (
	"slices"
	"testing"

	"github.com/ron-network/ron/core/proto"
	"pgregory.net/rapid"
)

// smallID draws ids from a domain of eight, so that lists repeat ids and
// probes hit both listed and unlisted ones.
func smallID() *rapid.Generator[proto.NodeID] {
	return rapid.Custom(func(t *rapid.T) proto.NodeID {
		return proto.NodeID{0xa0, byte(rapid.IntRange(0, 7).Draw(t, "id"))}
	})
}

// TestZeroIsOpen: the zero Set is the open membership.
func TestZeroIsOpen(t *testing.T) {
	var s Set
	id := proto.NodeID{1}
	if !s.Open() || !s.Admits(id) || s.Lists(id) {
		t.Fatalf("zero Set: Open %v, Admits %v, Lists %v; want open, admitting, listing no one", s.Open(), s.Admits(id), s.Lists(id))
	}
}

// TestEmptyListIsOpen: nil and empty lists both give the open membership,
// as every service's SetMembers documents.
func TestEmptyListIsOpen(t *testing.T) {
	for _, ids := range [][]proto.NodeID{nil, {}} {
		if s := New(ids); !s.Open() || !s.Admits(proto.NodeID{7}) {
			t.Fatalf("New(%#v) is closed, want open", ids)
		}
	}
}

// TestModel: against the list itself as the model, for any list (with
// repeats) and any id, a Set is open exactly when the list is empty,
// lists exactly the list's ids, and admits what it lists or, open,
// everything.
func TestModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		list := rapid.SliceOfN(smallID(), 0, 12).Draw(t, "list")
		s := New(list)
		if s.Open() != (len(list) == 0) {
			t.Fatalf("list %v: Open %v", list, s.Open())
		}
		for _, id := range append(rapid.SliceOfN(smallID(), 1, 8).Draw(t, "probes"), list...) {
			listed := slices.Contains(list, id)
			if s.Lists(id) != listed {
				t.Fatalf("list %v: Lists(%v) = %v, want %v", list, id.Short(), s.Lists(id), listed)
			}
			if want := len(list) == 0 || listed; s.Admits(id) != want {
				t.Fatalf("list %v: Admits(%v) = %v, want %v", list, id.Short(), s.Admits(id), want)
			}
		}
	})
}

// TestKeepsNoReference: changing the list after New changes nothing, so a
// caller may reuse its slice (SetMembers' request is the caller's).
func TestKeepsNoReference(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		list := rapid.SliceOfN(smallID(), 1, 12).Draw(t, "list")
		original := slices.Clone(list)
		s := New(list)
		for i := range list {
			list[i] = proto.NodeID{0xff, byte(i)}
		}
		for _, id := range original {
			if !s.Lists(id) {
				t.Fatalf("listed %v forgotten after its list was overwritten", id.Short())
			}
		}
		for _, id := range list {
			if s.Lists(id) {
				t.Fatalf("%v, written into the list after New, is listed", id.Short())
			}
		}
	})
}

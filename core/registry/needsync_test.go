package registry

import (
	"testing"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

// TestNeedsSync: a Ready is synced when it carries entries, a snapshot, or
// a hard state whose term or vote changed; one whose only durable change
// is a higher commit index is not (raft's MustSync rule), and the term and
// vote it carries become the reference for the next Ready.
func TestNeedsSync(t *testing.T) {
	hs := func(term, vote, commit uint64) *pb.HardState {
		return &pb.HardState{Term: new(term), Vote: new(vote), Commit: new(commit)}
	}
	entry := &pb.Entry{Term: new(uint64(3)), Index: new(uint64(8)), Type: new(pb.EntryNormal)}
	snap := &pb.Snapshot{Data: []byte("s"), Metadata: &pb.SnapshotMetadata{Index: new(uint64(7)), Term: new(uint64(3))}}
	for _, c := range []struct {
		name string
		rd   raft.Ready
		want bool
	}{
		{"commit only", raft.Ready{HardState: hs(3, 2, 9)}, false},
		{"commit only, with committed entries", raft.Ready{HardState: hs(3, 2, 9), CommittedEntries: []*pb.Entry{entry}}, false},
		{"entries", raft.Ready{Entries: []*pb.Entry{entry}}, true},
		{"entries and commit", raft.Ready{HardState: hs(3, 2, 9), Entries: []*pb.Entry{entry}}, true},
		{"new term", raft.Ready{HardState: hs(4, 2, 9)}, true},
		{"new vote", raft.Ready{HardState: hs(3, 1, 9)}, true},
		{"snapshot", raft.Ready{HardState: hs(3, 2, 9), Snapshot: snap}, true},
		{"nothing durable", raft.Ready{CommittedEntries: []*pb.Entry{entry}}, false},
	} {
		r := &Registry{hsTerm: 3, hsVote: 2}
		if got := r.needsSync(&c.rd); got != c.want {
			t.Errorf("%s: needsSync = %v, want %v", c.name, got, c.want)
		}
	}
	// The reference moves with every hard state written: after a vote for
	// 1 in term 4, a commit-only Ready of term 4 needs no sync, one that
	// still says term 3 does.
	r := &Registry{hsTerm: 3, hsVote: 2}
	if !r.needsSync(&raft.Ready{HardState: hs(4, 1, 9)}) {
		t.Fatal("new term and vote: want a sync")
	}
	if r.needsSync(&raft.Ready{HardState: hs(4, 1, 10)}) {
		t.Fatal("then a higher commit alone: want no sync")
	}
	if !r.needsSync(&raft.Ready{HardState: hs(3, 2, 10)}) {
		t.Fatal("back to the old term and vote: want a sync")
	}
}

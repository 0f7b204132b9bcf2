package registry

import (
	"errors"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// durablePairs is a replica's disk holding entries 1..len(versions), the
// i-th written under versions[i] (0: an empty entry, as a new leader
// appends), committed up to commit, plus a pair outside the registry.
func durablePairs(versions []uint64, commit uint64) []env.KV {
	pairs := []env.KV{{Key: []byte("storage/x"), Value: []byte("not sealed")}}
	prev := uint64(0) // the version of the entry before (0 before the first)
	for i, v := range versions {
		e := &pb.Entry{Term: new(uint64(1)), Index: new(uint64(i + 1)), Type: pb.EntryNormal.Enum()}
		if v != 0 {
			kind := opClaim
			if i > 0 && v > prev {
				kind = opClusterVersion
			}
			e.Data = encodeEntry(&entry{version: v, from: origin{node: proto.NodeID{1}, session: 1, seq: uint64(i + 1)},
				op: op{kind: kind, name: "a.org", seq: v}})
		}
		pairs = append(pairs, env.KV{Key: entryKey(uint64(i + 1)), Value: sealEntry(e)})
		prev = v
	}
	pairs = append(pairs, env.KV{Key: []byte(keyHardState), Value: sealProto(&pb.HardState{Term: new(uint64(1)), Commit: new(commit)})})
	return pairs
}

// withSnapshot adds a snapshot of cluster version v at index to pairs
// (only its version byte is read here).
func withSnapshot(pairs []env.KV, v, index uint64) []env.KV {
	snap := &pb.Snapshot{Data: []byte{byte(v), 0}, Metadata: &pb.SnapshotMetadata{Index: new(index), Term: new(uint64(1))}}
	return append(pairs, env.KV{Key: []byte(keySnapshot), Value: sealProto(snap)})
}

// TestDurableClusterVersion: the version a disk's committed entries
// reached, VersionBase for an empty disk or one whose raise is not
// committed yet; an unreadable pair is corruption.
func TestDurableClusterVersion(t *testing.T) {
	for _, c := range []struct {
		name     string
		pairs    []env.KV
		want     uint64
		corrupts bool
	}{
		{"empty", nil, VersionBase, false},
		{"base", durablePairs([]uint64{0, VersionBase, VersionBase}, 3), VersionBase, false},
		{"raised", durablePairs([]uint64{0, VersionBase, VersionQuota, VersionQuota}, 4), VersionQuota, false},
		{"raise applied, later entries not committed", durablePairs([]uint64{0, VersionBase, VersionQuota, VersionQuota}, 3), VersionQuota, false},
		{"raise not committed", durablePairs([]uint64{0, VersionBase, VersionQuota}, 2), VersionBase, false},
		{"snapshot raised", withSnapshot(durablePairs([]uint64{0, VersionBase, VersionBase}, 3), VersionQuota, 2), VersionQuota, false},
		{"snapshot base", withSnapshot(durablePairs([]uint64{0, VersionBase, VersionBase}, 3), VersionBase, 2), VersionBase, false},
		{"unreadable", append(durablePairs([]uint64{VersionBase}, 1), env.KV{Key: []byte(keySnapshot), Value: []byte("junk")}), 0, true},
	} {
		got, err := DurableClusterVersion(c.pairs)
		if c.corrupts {
			if err == nil {
				t.Errorf("%s: version %d, want an error", c.name, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: version %d (%v), want %d", c.name, got, err, c.want)
		}
	}
	_, err := DurableClusterVersion(append(durablePairs([]uint64{VersionBase}, 1), env.KV{Key: []byte(keyHardState), Value: env.Seal([]byte{0xff})}))
	if !errors.Is(err, errCorrupt) {
		t.Errorf("bad hard state: %v, want corruption", err)
	}
}

package registry

import (
	"fmt"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto/wire"
)

// newerEntry reports an entry written by a newer build: its codec version
// is above the one this build reads. Such an entry must stop the replica
// (by name, not as corruption) rather than be skipped as malformed: the
// replicas that can read it apply it, so skipping it here would make this
// replica's state silently diverge from theirs. An upgraded cluster must
// therefore write a new entry version only once every replica reads it.
// Only normal entries carry this package's encoding.
func newerEntry(e *pb.Entry) error {
	index, data := e.GetIndex(), e.GetData()
	if e.GetType() != pb.EntryNormal || len(data) == 0 {
		return nil
	}
	r := wire.NewReader(data)
	if v := r.Uvarint(); r.Err() == nil && v > codecVersion {
		return fmt.Errorf("registry: entry %d has version %d, this build reads %d (upgrade this replica): %w",
			index, v, codecVersion, env.ErrNewerFormat)
	}
	return nil
}

package registry

import (
	"crypto/ed25519"
	"slices"
	"strings"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// DurableWrite is one claim or set found in a replica's durable log.
type DurableWrite struct {
	Set    bool // false: a claim
	Name   string
	Owner  ed25519.PublicKey
	Target proto.Addr // Set only
	Seq    uint64     // Set only
}

// Durable is what a replica's disk holds of the name table: the state of
// its durable snapshot and every claim and set in the log entries after it,
// committed or not, in log order. Unreadable counts the pairs that could
// not be read (a corrupted write); a reader must not conclude that a write
// is missing from a disk with unreadable pairs.
type Durable struct {
	Names      map[string]Record
	Writes     []DurableWrite
	Unreadable int
}

// ReadDurable decodes a replica's durable state from its disk's key/value
// pairs, as recovery would read them: for the simulator's checks, which
// ask after every crash whether each acknowledged write survived on a
// majority of replicas (sim/check.SyncedWrites). The snapshot's signature
// is not checked: the pairs are the replica's own.
func ReadDurable(pairs map[string][]byte) Durable {
	out := Durable{Names: map[string]Record{}}
	keys := make([]string, 0, len(pairs))
	// map order ok: the keys are sorted below
	for k := range pairs {
		if strings.HasPrefix(k, keyPrefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys) // entry keys are fixed-width hex: log order
	var rc recovery
	for _, k := range keys {
		if err := rc.add(env.KV{Key: []byte(k), Value: pairs[k]}); err != nil {
			out.Unreadable++
		}
	}
	snapIndex := uint64(0)
	if rc.snap != nil {
		// The reader is a checker, not a replica: it reads every version
		// this build knows, whatever VersionMax the replica ran with.
		m, err := openSnapshot(rc.snap.GetData(), func(ed25519.PublicKey) bool { return true }, versionLast)
		if err != nil {
			out.Unreadable++
		} else {
			snapIndex = rc.snap.GetMetadata().GetIndex()
			// map order ok: filling a map
			for name := range m.names {
				out.Names[name] = m.lookup(name)
			}
		}
	}
	for _, e := range rc.entries {
		if e.GetIndex() <= snapIndex || e.GetType() != pb.EntryNormal || len(e.GetData()) == 0 {
			continue
		}
		en, err := decodeEntry(e.GetData())
		if err != nil {
			out.Unreadable++
			continue
		}
		switch en.op.kind {
		case opClaim:
			out.Writes = append(out.Writes, DurableWrite{Name: en.op.name, Owner: slices.Clone(en.op.owner[:])})
		case opSet:
			out.Writes = append(out.Writes, DurableWrite{Set: true, Name: en.op.name, Owner: slices.Clone(en.op.owner[:]),
				Target: en.op.target, Seq: en.op.seq})
		}
	}
	return out
}

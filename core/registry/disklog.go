package registry

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto/wire"
)

// Disk layout. Every value is env.Seal'ed.
//
//	raft/e/<index, 16 hex>  one raftpb.Entry
//	raft/hs                 the raftpb.HardState
//	raft/snap               the latest raftpb.Snapshot (Data: signedSnapshot)
//	raft/unconfirmed        present (empty) while the replica, started with
//	                        no raft state, may not vote yet (amnesia.go)
//	raft/confirmed          present (empty) once it was confirmed: it
//	                        counts as a replica with state from then on
const (
	keyPrefix      = "raft/"
	keyEntryPrefix = "raft/e/"
	keyHardState   = "raft/hs"
	keySnapshot    = "raft/snap"
	keyUnconfirmed = "raft/unconfirmed"
	keyConfirmed   = "raft/confirmed"
)

// Disk limits.
const (
	// RecoveryScanLimit is the page size of the recovery scan.
	RecoveryScanLimit = 256
	// LogEntriesMax bounds the entries recovery accepts from disk; compaction
	// keeps the log far shorter (SnapshotEntries + LogRetainEntries plus the
	// uncommitted tail), so more means the disk is not ours.
	LogEntriesMax = 1 << 16
	// LogRetainEntries is how many applied entries a snapshot leaves in the
	// log so that slightly lagging followers catch up without a snapshot.
	LogRetainEntries = 100
)

var errCorrupt = errors.New("registry: corrupt durable state")

// entryKey is keyEntryPrefix and index as 16 lowercase hex digits.
func entryKey(index uint64) []byte {
	const digits = "0123456789abcdef"
	b := make([]byte, len(keyEntryPrefix)+16)
	copy(b, keyEntryPrefix)
	for i := len(b) - 1; i >= len(keyEntryPrefix); i-- {
		b[i] = digits[index&0xf]
		index >>= 4
	}
	return b
}

var marshalOpts = proto.MarshalOptions{Deterministic: true}

func sealProto(m proto.Message) []byte {
	b, err := marshalOpts.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("registry: marshalling %T: %v", m, err))
	}
	return env.Seal(b)
}

// sealEntry is sealProto(e), encoded by hand (raftcodec.go).
func sealEntry(e *pb.Entry) []byte {
	b, err := appendRaftEntry(make([]byte, 0, entrySize(e)), e)
	if err != nil {
		panic(fmt.Sprintf("registry: marshalling entry %d: %v", e.GetIndex(), err))
	}
	return env.Seal(b)
}

// diskLog tracks which entries are on disk, [first, last] (empty when
// last < first), and turns raft's durable outputs into disk writes.
type diskLog struct {
	first, last uint64
}

// readyWrites returns the writes that make rd's snapshot, entries and hard
// state durable, in an order that is safe to split into several batches:
// the snapshot before the entries it replaces, deletions of a truncated
// tail before the entries that replace it, the hard state last.
func (d *diskLog) readyWrites(rd *raft.Ready) []env.DiskWrite {
	var w []env.DiskWrite
	if !raft.IsEmptySnap(rd.Snapshot) {
		w = append(w, env.DiskWrite{Key: []byte(keySnapshot), Value: sealProto(rd.Snapshot)})
		w = d.deleteRange(w, d.first, d.last)
		idx := rd.Snapshot.GetMetadata().GetIndex()
		d.first, d.last = idx+1, idx
	}
	if n := len(rd.Entries); n > 0 {
		first, last := rd.Entries[0].GetIndex(), rd.Entries[n-1].GetIndex()
		if first > d.last+1 {
			panic(fmt.Sprintf("registry: appending entries from %d after %d on disk", first, d.last))
		}
		w = d.deleteRange(w, last+1, d.last)
		for _, e := range rd.Entries {
			w = append(w, env.DiskWrite{Key: entryKey(e.GetIndex()), Value: sealEntry(e)})
		}
		if d.last < d.first {
			d.first = first
		}
		d.last = last
	}
	if !raft.IsEmptyHardState(rd.HardState) {
		w = append(w, env.DiskWrite{Key: []byte(keyHardState), Value: sealProto(rd.HardState)})
	}
	return w
}

// compactWrites persists a locally taken snapshot and deletes the entries
// up to compactTo.
func (d *diskLog) compactWrites(snap *pb.Snapshot, compactTo uint64) []env.DiskWrite {
	w := []env.DiskWrite{{Key: []byte(keySnapshot), Value: sealProto(snap)}}
	if compactTo >= d.first {
		w = d.deleteRange(w, d.first, compactTo)
		d.first = compactTo + 1
	}
	return w
}

func (d *diskLog) deleteRange(w []env.DiskWrite, from, to uint64) []env.DiskWrite {
	for i := to; i >= from && i > 0; i-- { // descending: a partial delete leaves a prefix
		w = append(w, env.DiskWrite{Key: entryKey(i), Delete: true})
	}
	return w
}

// recovery accumulates the durable raft state read at start.
type recovery struct {
	entries []*pb.Entry
	hs      *pb.HardState
	snap    *pb.Snapshot
	lastKey []byte
	// unconfirmed: keyUnconfirmed is on disk (amnesia.go).
	unconfirmed bool
	// confirmed: keyConfirmed is on disk (amnesia.go), with the term floor
	// it holds (0 when empty).
	confirmed bool
	termFloor uint64
}

// add parses one scanned pair. An unreadable value is corruption.
func (rc *recovery) add(kv env.KV) error {
	rc.lastKey = kv.Key
	value, err := env.Unseal(kv.Value)
	if err != nil {
		return fmt.Errorf("registry: key %q: %w", kv.Key, err)
	}
	key := string(kv.Key)
	switch {
	case strings.HasPrefix(key, keyEntryPrefix):
		e := &pb.Entry{}
		idx, perr := strconv.ParseUint(key[len(keyEntryPrefix):], 16, 64)
		if err := proto.Unmarshal(value, e); err != nil || perr != nil || e.GetIndex() != idx {
			return fmt.Errorf("registry: entry key %q: %w", key, errCorrupt)
		}
		if len(rc.entries) >= LogEntriesMax {
			return fmt.Errorf("registry: more than %d log entries on disk: %w", LogEntriesMax, errCorrupt)
		}
		rc.entries = append(rc.entries, e)
	case key == keyHardState:
		rc.hs = &pb.HardState{}
		if err := proto.Unmarshal(value, rc.hs); err != nil {
			return fmt.Errorf("registry: hard state: %w", errCorrupt)
		}
	case key == keyUnconfirmed:
		rc.unconfirmed = true
	case key == keyConfirmed:
		rc.confirmed = true
		if len(value) > 0 {
			rd := wire.NewReader(value)
			rc.termFloor = rd.Uvarint()
			if rd.Done() != nil {
				return fmt.Errorf("registry: %s: %w", keyConfirmed, errCorrupt)
			}
		}
	case key == keySnapshot:
		rc.snap = &pb.Snapshot{}
		if err := proto.Unmarshal(value, rc.snap); err != nil {
			return fmt.Errorf("registry: snapshot: %w", errCorrupt)
		}
	}
	return nil
}

// build returns the log entries after the snapshot (checked contiguous) and
// the hard state clamped to them. Entries at or below the snapshot index
// are leftovers of an interrupted compaction.
func (rc *recovery) build(snapIndex uint64) ([]*pb.Entry, *pb.HardState, error) {
	var ents []*pb.Entry
	for _, e := range rc.entries {
		if e.GetIndex() <= snapIndex {
			continue
		}
		if e.GetIndex() != snapIndex+uint64(len(ents))+1 {
			return nil, nil, fmt.Errorf("registry: log gap before entry %d: %w", e.GetIndex(), errCorrupt)
		}
		ents = append(ents, e)
	}
	hs := rc.hs
	if hs == nil {
		hs = &pb.HardState{}
	}
	last := snapIndex + uint64(len(ents))
	if hs.GetCommit() > last {
		return nil, nil, fmt.Errorf("registry: commit %d beyond last entry %d: %w", hs.GetCommit(), last, errCorrupt)
	}
	if hs.GetCommit() < snapIndex {
		hs = &pb.HardState{Term: new(hs.GetTerm()), Vote: new(hs.GetVote()), Commit: new(snapIndex)}
	}
	return ents, hs, nil
}

// Snapshot data: the canonical state encoding signed by the replica that
// took it.
//
//	version | state bytes | signer public key (32) | signature (64)
func signSnapshot(key ed25519.PrivateKey, state []byte, version uint64) []byte {
	b := []byte{byte(version)}
	b = wire.AppendBytes(b, state)
	b = append(b, key.Public().(ed25519.PublicKey)...)
	return append(b, ed25519.Sign(key, state)...)
}

// openSnapshot verifies snapshot data against the replica set and decodes
// the state. isReplica says whether a public key belongs to a replica.
func openSnapshot(data []byte, isReplica func(ed25519.PublicKey) bool, versionMax uint64) (*machine, error) {
	r := wire.NewReader(data)
	v := r.Uvarint()
	if v > versionMax && r.Err() == nil {
		return nil, fmt.Errorf("registry: snapshot of cluster version %d, this replica reads up to %d (upgrade its binary): %w",
			v, versionMax, env.ErrNewerFormat)
	} else if v < VersionBase && r.Err() == nil {
		return nil, fmt.Errorf("registry: snapshot version %d: %w", v, errCorrupt)
	}
	state := r.Bytes(SnapshotBytesMax)
	pub := make([]byte, ed25519.PublicKeySize)
	sig := make([]byte, ed25519.SignatureSize)
	r.Fixed(pub)
	r.Fixed(sig)
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("registry: snapshot: %v: %w", err, errCorrupt)
	}
	if !isReplica(pub) || !ed25519.Verify(pub, state, sig) {
		return nil, fmt.Errorf("registry: snapshot signature: %w", errCorrupt)
	}
	m, err := decodeMachine(state)
	if err != nil {
		return nil, fmt.Errorf("registry: snapshot state: %v: %w", err, errCorrupt)
	}
	if m.clusterVersion != v {
		return nil, fmt.Errorf("registry: snapshot version %d holds a state of cluster version %d: %w", v, m.clusterVersion, errCorrupt)
	}
	return m, nil
}

// readNonceCtx builds a ReadIndex request context: this incarnation's nonce
// and a counter, so a late answer to a previous incarnation's read can
// never match.
func readNonceCtx(nonce, counter uint64) []byte {
	b := binary.BigEndian.AppendUint64(nil, nonce)
	return binary.BigEndian.AppendUint64(b, counter)
}

package registry

import (
	"bytes"
	"testing"

	"github.com/ron-network/ron/internal/golden"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/ron-network/ron/core/env"
)

// goldenBytes is golden.Bytes: testdata/golden/name.hex, rewritten from
// encoded under -golden-rewrite.
func goldenBytes(t *testing.T, name string, encoded []byte) []byte {
	t.Helper()
	return golden.Bytes(t, name, encoded)
}

// TestGoldenRaftLogEntry: a sealed raft log entry as stored on disk
// decodes (checksum, then protobuf) and is written back byte for byte by
// the hand-written entry codec.
func TestGoldenRaftLogEntry(t *testing.T) {
	e := &pb.Entry{Term: new(uint64(3)), Index: new(uint64(7)), Type: new(pb.EntryNormal), Data: []byte("claim alice -> addr")}
	want := goldenBytes(t, "raft-entry", sealEntry(e))
	raw, err := env.Unseal(want)
	if err != nil {
		t.Fatalf("golden does not unseal: %v", err)
	}
	var got pb.Entry
	if err := proto.Unmarshal(raw, &got); err != nil {
		t.Fatalf("golden does not decode: %v", err)
	}
	if again := sealEntry(&got); !bytes.Equal(again, want) {
		t.Fatalf("golden re-encodes differently:\n got %x\nwant %x", again, want)
	}
	if enc := sealEntry(e); !bytes.Equal(enc, want) {
		t.Fatalf("the encoder drifted from the golden:\n got %x\nwant %x", enc, want)
	}
}

// TestGoldenRaftHardState: the sealed hard state record, likewise.
func TestGoldenRaftHardState(t *testing.T) {
	hs := &pb.HardState{Term: new(uint64(9)), Vote: new(uint64(2)), Commit: new(uint64(41))}
	want := goldenBytes(t, "raft-hardstate", sealProto(hs))
	raw, err := env.Unseal(want)
	if err != nil {
		t.Fatalf("golden does not unseal: %v", err)
	}
	var got pb.HardState
	if err := proto.Unmarshal(raw, &got); err != nil {
		t.Fatalf("golden does not decode: %v", err)
	}
	if again := sealProto(&got); !bytes.Equal(again, want) {
		t.Fatalf("golden re-encodes differently:\n got %x\nwant %x", again, want)
	}
	if enc := sealProto(hs); !bytes.Equal(enc, want) {
		t.Fatalf("the encoder drifted from the golden:\n got %x\nwant %x", enc, want)
	}
}

// TestGoldenRaftPeerMessage: a raft message as one replica sends it to
// another (the payload after the registry envelope) decodes with the
// hand-written decoder and re-encodes byte for byte.
func TestGoldenRaftPeerMessage(t *testing.T) {
	m := &pb.Message{Type: new(pb.MsgApp), To: new(uint64(2)), From: new(uint64(1)), Term: new(uint64(4)),
		LogTerm: new(uint64(3)), Index: new(uint64(10)), Commit: new(uint64(10)),
		Entries: []*pb.Entry{{Term: new(uint64(4)), Index: new(uint64(11)), Type: new(pb.EntryNormal), Data: []byte("set b")}}}
	enc, err := appendRaftMessage(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	want := goldenBytes(t, "raft-message", enc)
	var arena messageArena
	got, err := readRaftMessage(want, &arena)
	if err != nil {
		t.Fatalf("golden does not decode: %v", err)
	}
	again, err := appendRaftMessage(nil, got)
	if err != nil || !bytes.Equal(again, want) {
		t.Fatalf("golden re-encodes differently (%v):\n got %x\nwant %x", err, again, want)
	}
	if !bytes.Equal(enc, want) {
		t.Fatalf("the encoder drifted from the golden:\n got %x\nwant %x", enc, want)
	}
}

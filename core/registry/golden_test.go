package registry

import (
	"bytes"
	"encoding/hex"
	"flag"
	"os"
	"strings"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/ron-network/ron/core/env"
)

var goldenRewrite = flag.Bool("golden-rewrite", false, "rewrite testdata/golden from the encoder")

// goldenBytes returns the golden record testdata/golden/name.hex, first
// writing encoded there under -golden-rewrite. The file is hex, 32 bytes
// a line, so a diff shows which bytes moved.
func goldenBytes(t *testing.T, name string, encoded []byte) []byte {
	t.Helper()
	path := "testdata/golden/" + name + ".hex"
	if *goldenRewrite {
		var b strings.Builder
		for s := hex.EncodeToString(encoded); len(s) > 0; s = s[min(64, len(s)):] {
			b.WriteString(s[:min(64, len(s))] + "\n")
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (create it with -golden-rewrite)", err)
	}
	want, err := hex.DecodeString(strings.ReplaceAll(string(text), "\n", ""))
	if err != nil {
		t.Fatal(err)
	}
	return want
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

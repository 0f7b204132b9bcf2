package fuzz

import (
	"context"
	"crypto/ed25519"
	"slices"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	coreproto "github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
)

// Registry envelope bytes a peer puts before a raft message (the
// registry's codec version and its raft envelope kind, core/registry
// codec.go). Written out here on purpose: a change to the wire is a
// change this target should notice.
const (
	registryCodecVersion = 1
	registryEnvelopeRaft = 1
)

// FuzzRegistryRaftMessage frames a raft message as a replica peer sends it
// (OAP/1 EVENT frame, registry protocol, codec envelope) and delivers it
// to a running replica of a three-replica registry through the runtime,
// as quicnet would: the bytes go through the OAP decoder, the registry's
// envelope and hand-written raft codec, into raft's Step. Nothing may
// panic, and the replica must still answer afterwards.
func FuzzRegistryRaftMessage(f *testing.F) {
	for _, m := range []*pb.Message{
		{Type: new(pb.MsgVote), Term: new(uint64(5)), From: new(uint64(2)), To: new(uint64(1)), LogTerm: new(uint64(4)), Index: new(uint64(9))},
		{Type: new(pb.MsgApp), Term: new(uint64(3)), From: new(uint64(2)), To: new(uint64(1)), Index: new(uint64(0)), LogTerm: new(uint64(0)),
			Entries: []*pb.Entry{{Term: new(uint64(3)), Index: new(uint64(1)), Data: []byte("x")}}, Commit: new(uint64(1))},
		{Type: new(pb.MsgHeartbeat), Term: new(uint64(7)), From: new(uint64(3)), To: new(uint64(1)), Commit: new(uint64(2))},
		{Type: new(pb.MsgSnap), Term: new(uint64(2)), From: new(uint64(2)), To: new(uint64(1)), Snapshot: &pb.Snapshot{Data: []byte("s")}},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(1))
	}
	keys := []ed25519.PrivateKey{nodeKey(21), nodeKey(22), nodeKey(23)}
	ids := make([]coreproto.NodeID, len(keys))
	for i, k := range keys {
		ids[i] = coreproto.NodeIDFromPublicKey(k.Public().(ed25519.PublicKey))
	}
	replicas := slices.Clone(ids)
	slices.SortFunc(replicas, coreproto.NodeID.Compare)
	rt := startNode(f, keys[0], replicas)
	f.Fuzz(func(t *testing.T, raw []byte, sender uint8) {
		payload := append([]byte{registryCodecVersion, registryEnvelopeRaft}, raw...)
		frame, err := oap.Encode(&oap.Frame{Header: oap.Header{Flags: oap.FlagEVENT, AppProto: oap.ProtoRegistry}, Payload: payload})
		if err != nil {
			return // larger than a frame: the transport would not deliver it
		}
		rt.Deliver(ids[1+int(sender)%2], frame)
		// The loop is alive: a call goes through it and is answered at
		// once (an unknown service is an error reply, not a wait on quorum).
		ctx, cancel := context.WithTimeout(context.Background(), readyWait)
		defer cancel()
		if _, err := rt.Call(ctx, "probe-no-such-service", nil); ctx.Err() != nil {
			t.Fatalf("replica stopped answering after %x: %v", raw, err)
		}
	})
}

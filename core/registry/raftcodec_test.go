package registry

import (
	"bytes"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"pgregory.net/rapid"
)

// optionalUint64 draws an absent field, zero, a small or a large value.
func optionalUint64(t *rapid.T, label string) *uint64 {
	if !rapid.Bool().Draw(t, label+"Set") {
		return nil
	}
	v := rapid.OneOf(rapid.Just(uint64(0)), rapid.Uint64Range(1, 300), rapid.Uint64()).Draw(t, label)
	return &v
}

// optionalBytes draws nil, empty (present) or some bytes.
func optionalBytes(t *rapid.T, label string) []byte {
	switch rapid.IntRange(0, 2).Draw(t, label+"Kind") {
	case 0:
		return nil
	case 1:
		return []byte{}
	}
	return rapid.SliceOfN(rapid.Byte(), 1, 200).Draw(t, label)
}

func drawEntry(t *rapid.T) *pb.Entry {
	e := &pb.Entry{Term: optionalUint64(t, "term"), Index: optionalUint64(t, "index"), Data: optionalBytes(t, "data")}
	if rapid.Bool().Draw(t, "typeSet") {
		e.Type = new(pb.EntryType(rapid.OneOf(rapid.Int32Range(0, 3), rapid.Int32()).Draw(t, "type"))) // 3 is not an EntryType
	}
	return e
}

// drawRaftMessage draws a message of the shapes replicas exchange, with
// every optional field present or absent, sometimes with an enum value
// raftpb does not know, and sometimes with a snapshot (protobuf's path).
func drawRaftMessage(t *rapid.T) *pb.Message {
	m := &pb.Message{
		To: optionalUint64(t, "to"), From: optionalUint64(t, "from"), Term: optionalUint64(t, "term"),
		LogTerm: optionalUint64(t, "logTerm"), Index: optionalUint64(t, "index"), Commit: optionalUint64(t, "commit"),
		Vote: optionalUint64(t, "vote"), RejectHint: optionalUint64(t, "rejectHint"), Context: optionalBytes(t, "context"),
	}
	if rapid.Bool().Draw(t, "typeSet") {
		m.Type = new(pb.MessageType(rapid.OneOf(rapid.Int32Range(-1, 30), rapid.Int32()).Draw(t, "type")))
	}
	if rapid.Bool().Draw(t, "rejectSet") {
		m.Reject = new(rapid.Bool().Draw(t, "reject"))
	}
	for range rapid.IntRange(0, 4).Draw(t, "entries") {
		m.Entries = append(m.Entries, drawEntry(t))
	}
	if rapid.IntRange(0, 9).Draw(t, "snapshot") == 0 {
		m.Snapshot = &pb.Snapshot{Data: []byte("s"), Metadata: &pb.SnapshotMetadata{Index: new(uint64(7))}}
	}
	return m
}

// The hand encoder writes exactly protobuf's deterministic bytes, and the
// hand decoder gives exactly what proto.Unmarshal gives, for every
// message shape, with and without the fields it leaves to protobuf.
func TestRaftCodecMatchesProtobuf(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := drawRaftMessage(t)
		want, err := marshalOpts.Marshal(m)
		if err != nil {
			t.Fatalf("protobuf: %v", err)
		}
		prefix := []byte{codecVersion, envRaft}
		got, err := appendRaftMessage(bytes.Clone(prefix), m)
		if err != nil {
			t.Fatalf("appendRaftMessage: %v", err)
		}
		if !bytes.Equal(got, append(prefix, want...)) {
			t.Fatalf("encoding differs from protobuf:\n got %x\nwant %x", got[len(prefix):], want)
		}
		assertDecodesLikeProtobuf(t, want)
		for _, e := range m.Entries {
			want, err := marshalOpts.Marshal(e)
			if err != nil {
				t.Fatalf("protobuf: %v", err)
			}
			if got, _ := appendRaftEntry(nil, e); !bytes.Equal(got, want) {
				t.Fatalf("entry encoding differs from protobuf:\n got %x\nwant %x", got, want)
			}
		}
	})
}

// Damaged, truncated or unusual encodings (repeated fields, unknown
// fields, wrong wire types, overlong varints) decode exactly as
// proto.Unmarshal decodes them, or fail where it fails.
func TestRaftDecoderMatchesProtobufOnAnyInput(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		b, err := marshalOpts.Marshal(drawRaftMessage(t))
		if err != nil {
			t.Fatalf("protobuf: %v", err)
		}
		for range rapid.IntRange(0, 3).Draw(t, "edits") {
			switch rapid.IntRange(0, 3).Draw(t, "edit") {
			case 0: // flip a byte
				if len(b) > 0 {
					b[rapid.IntRange(0, len(b)-1).Draw(t, "at")] ^= rapid.Byte().Draw(t, "mask")
				}
			case 1: // truncate
				b = b[:rapid.IntRange(0, len(b)).Draw(t, "len")]
			case 2: // append a raw field: any number, any wire type
				num := protowire.Number(rapid.Int32Range(1, 16).Draw(t, "num"))
				b = protowire.AppendTag(b, num, protowire.Type(rapid.IntRange(0, 5).Draw(t, "wireType")))
				b = append(b, rapid.SliceOfN(rapid.Byte(), 0, 12).Draw(t, "raw")...)
			case 3: // append a well-formed varint field, repeating a known one
				num := protowire.Number(rapid.SampledFrom([]int32{1, 2, 4, 10, 13}).Draw(t, "num"))
				b = protowire.AppendTag(b, num, protowire.VarintType)
				b = protowire.AppendVarint(b, rapid.Uint64().Draw(t, "value"))
			}
		}
		assertDecodesLikeProtobuf(t, b)
	})
}

func assertDecodesLikeProtobuf(t interface {
	Fatalf(string, ...any)
}, b []byte) {
	want := &pb.Message{}
	wantErr := proto.Unmarshal(b, want)
	got, err := readRaftMessage(bytes.Clone(b), nil)
	switch {
	case (err == nil) != (wantErr == nil):
		t.Fatalf("readRaftMessage error %v, proto.Unmarshal error %v, input %x", err, wantErr, b)
	case err == nil && !proto.Equal(got, want):
		t.Fatalf("decoded %v, protobuf %v, input %x", got, want, b)
	}
}

// The hand path must carry the traffic: a heartbeat, an append with
// entries and a vote decode without protobuf (the fallback is for what
// replicas do not send each other).
func TestRaftDecoderHandlesReplicaTraffic(t *testing.T) {
	for _, m := range []*pb.Message{
		{Type: new(pb.MsgHeartbeat), To: new(uint64(2)), From: new(uint64(1)), Term: new(uint64(3)), Commit: new(uint64(9)),
			Context: []byte("read-ctx")},
		{Type: new(pb.MsgApp), To: new(uint64(2)), From: new(uint64(1)), Term: new(uint64(3)), LogTerm: new(uint64(3)),
			Index: new(uint64(8)), Commit: new(uint64(8)), Entries: []*pb.Entry{
				{Term: new(uint64(3)), Index: new(uint64(9)), Type: new(pb.EntryNormal), Data: []byte("op")},
				{Term: new(uint64(3)), Index: new(uint64(10)), Type: new(pb.EntryNormal)}}},
		{Type: new(pb.MsgVoteResp), To: new(uint64(1)), From: new(uint64(3)), Term: new(uint64(4)), Reject: new(true)},
	} {
		b, err := appendRaftMessage(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := decodeRaftMessage(b, nil)
		if !ok {
			t.Fatalf("%v: left to protobuf", m.GetType())
		}
		if !proto.Equal(got, m) {
			t.Fatalf("decoded %v, sent %v", got, m)
		}
	}
}

// Messages decoded through one arena must stay independent: each keeps
// its own values after later decodes (over several chunks), and a decode
// the hand path refuses does not spend or dirty the next message.
func TestRaftDecoderArenaKeepsMessagesApart(t *testing.T) {
	var a messageArena
	var sent, got []*pb.Message
	for i := range 2*messageArenaChunk + 3 {
		m := &pb.Message{Type: new(pb.MsgHeartbeat), To: new(uint64(2)), From: new(uint64(1)),
			Term: new(uint64(i + 1)), Commit: new(uint64(i))}
		if i%2 == 1 {
			m.Type, m.Reject, m.Context = new(pb.MsgAppResp), new(true), []byte{byte(i)}
		}
		b, err := appendRaftMessage(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		d, ok := decodeRaftMessage(b, &a)
		if !ok {
			t.Fatalf("message %d: left to protobuf", i)
		}
		sent, got = append(sent, m), append(got, d)
		// Index 7, then field 15, which the hand decoder leaves to protobuf.
		if _, ok := decodeRaftMessage([]byte{0x30, 0x07, 0x78, 0x01}, &a); ok {
			t.Fatal("an unknown field decoded by hand")
		}
	}
	for i := range sent {
		if !proto.Equal(got[i], sent[i]) {
			t.Fatalf("message %d became %v, sent %v", i, got[i], sent[i])
		}
	}
}

func FuzzRaftDecoder(f *testing.F) {
	for _, m := range []*pb.Message{
		{Type: new(pb.MsgApp), Term: new(uint64(1)), Entries: []*pb.Entry{{Index: new(uint64(1)), Data: []byte("x")}}},
		{Type: new(pb.MsgHeartbeatResp), Context: []byte{}},
		{Type: new(pb.MsgSnap), Snapshot: &pb.Snapshot{Data: []byte("s")}},
	} {
		b, err := marshalOpts.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		assertDecodesLikeProtobuf(t, b)
	})
}

// TestRaftCodecCoversDescriptor: every field raftpb's Message and Entry
// descriptors declare is either encoded by hand (appendRaftMessage,
// appendEntryFields, with the number its constant names) or sent to
// protobuf by handEncodable. A field raftpb gains fails here, not on the
// wire.
func TestRaftCodecCoversDescriptor(t *testing.T) {
	messageFields := map[string]protowire.Number{
		"type": msgFieldType, "to": msgFieldTo, "from": msgFieldFrom, "term": msgFieldTerm,
		"logTerm": msgFieldLogTerm, "index": msgFieldIndex, "entries": msgFieldEntries,
		"commit": msgFieldCommit, "reject": msgFieldReject, "rejectHint": msgFieldRejectHint,
		"context": msgFieldContext, "vote": msgFieldVote,
		"snapshot": msgFieldSnapshot, "responses": msgFieldResponses,
	}
	entryFields := map[string]protowire.Number{
		"Type": entryFieldType, "Term": entryFieldTerm, "Index": entryFieldIndex, "Data": entryFieldData,
	}
	check := func(what string, fields protoreflect.FieldDescriptors, known map[string]protowire.Number) {
		if fields.Len() != len(known) {
			t.Errorf("%s declares %d fields, the codec knows %d", what, fields.Len(), len(known))
		}
		for i := 0; i < fields.Len(); i++ {
			f := fields.Get(i)
			want, ok := known[string(f.Name())]
			if !ok {
				t.Errorf("%s field %s (%d) is neither hand-encoded nor left to protobuf", what, f.Name(), f.Number())
			} else if want != f.Number() {
				t.Errorf("%s field %s is number %d, the codec says %d", what, f.Name(), f.Number(), want)
			}
		}
	}
	check("raftpb.Message", (&pb.Message{}).ProtoReflect().Descriptor().Fields(), messageFields)
	check("raftpb.Entry", (&pb.Entry{}).ProtoReflect().Descriptor().Fields(), entryFields)
	// The fields left to protobuf really are: a message holding one is not
	// hand-encoded.
	snap := &pb.Message{Snapshot: &pb.Snapshot{}}
	resp := &pb.Message{Responses: []*pb.Message{{}}}
	if handEncodable(snap) || handEncodable(resp) {
		t.Error("a message with a snapshot or responses takes the hand encoder")
	}
}

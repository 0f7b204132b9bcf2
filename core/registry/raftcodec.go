package registry

import (
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Raft messages and entries on the wire and on disk are raftpb's protobuf
// encoding. raftpb is generated code with a pointer per optional field, and
// protobuf's generic marshalling of it (one allocation per decoded field)
// was an eighth of a simulated run's CPU. The functions here encode and
// decode the shapes replicas exchange (every scalar field, the context and
// the entries) by hand, with exactly protobuf's bytes and values; anything
// else (a snapshot, storage responses, fields raftpb does not know, a
// malformed encoding) takes protobuf's own path. So the format is
// unchanged, and the tests hold both paths to byte and value equality.

// Field numbers of raftpb.Message and raftpb.Entry (raft.proto).
// TestRaftCodecCoversDescriptor holds these lists to the generated
// descriptors, so a raftpb that gains a field fails a test instead of
// having the field silently dropped by the hand encoder.
const (
	msgFieldType       = 1
	msgFieldTo         = 2
	msgFieldFrom       = 3
	msgFieldTerm       = 4
	msgFieldLogTerm    = 5
	msgFieldIndex      = 6
	msgFieldEntries    = 7
	msgFieldCommit     = 8
	msgFieldReject     = 10
	msgFieldRejectHint = 11
	msgFieldContext    = 12
	msgFieldVote       = 13
	// Fields left to protobuf: handEncodable sends a message that holds
	// one to marshalOpts.
	msgFieldSnapshot  = 9
	msgFieldResponses = 14

	entryFieldType  = 1
	entryFieldTerm  = 2
	entryFieldIndex = 3
	entryFieldData  = 4
)

// appendRaftMessage appends m's protobuf encoding (as marshalOpts gives
// it) to b.
func appendRaftMessage(b []byte, m *pb.Message) ([]byte, error) {
	if !handEncodable(m) {
		return marshalOpts.MarshalAppend(b, m)
	}
	if m.Type != nil {
		b = appendVarintField(b, msgFieldType, uint64(int64(*m.Type)))
	}
	b = appendOptionalUint64(b, msgFieldTo, m.To)
	b = appendOptionalUint64(b, msgFieldFrom, m.From)
	b = appendOptionalUint64(b, msgFieldTerm, m.Term)
	b = appendOptionalUint64(b, msgFieldLogTerm, m.LogTerm)
	b = appendOptionalUint64(b, msgFieldIndex, m.Index)
	for _, e := range m.Entries {
		b = protowire.AppendTag(b, msgFieldEntries, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(entrySize(e)))
		b = appendEntryFields(b, e)
	}
	b = appendOptionalUint64(b, msgFieldCommit, m.Commit)
	if m.Reject != nil {
		b = appendVarintField(b, msgFieldReject, protowire.EncodeBool(*m.Reject))
	}
	b = appendOptionalUint64(b, msgFieldRejectHint, m.RejectHint)
	if m.Context != nil {
		b = protowire.AppendTag(b, msgFieldContext, protowire.BytesType)
		b = protowire.AppendBytes(b, m.Context)
	}
	return appendOptionalUint64(b, msgFieldVote, m.Vote), nil
}

// appendRaftEntry appends e's protobuf encoding (as marshalOpts gives it)
// to b.
func appendRaftEntry(b []byte, e *pb.Entry) ([]byte, error) {
	if !handEncodableEntry(e) {
		return marshalOpts.MarshalAppend(b, e)
	}
	return appendEntryFields(b, e), nil
}

// handEncodable reports whether m has only fields appendRaftMessage
// encodes by hand.
func handEncodable(m *pb.Message) bool {
	if m.Snapshot != nil || m.Responses != nil || len(m.ProtoReflect().GetUnknown()) > 0 {
		return false
	}
	for _, e := range m.Entries {
		if !handEncodableEntry(e) {
			return false
		}
	}
	return true
}

func handEncodableEntry(e *pb.Entry) bool {
	return e != nil && len(e.ProtoReflect().GetUnknown()) == 0
}

// entrySize is the length of e's encoding by appendEntryFields.
func entrySize(e *pb.Entry) int {
	n := 0
	if e.Type != nil {
		n += protowire.SizeTag(entryFieldType) + protowire.SizeVarint(uint64(int64(*e.Type)))
	}
	if e.Term != nil {
		n += protowire.SizeTag(entryFieldTerm) + protowire.SizeVarint(*e.Term)
	}
	if e.Index != nil {
		n += protowire.SizeTag(entryFieldIndex) + protowire.SizeVarint(*e.Index)
	}
	if e.Data != nil {
		n += protowire.SizeTag(entryFieldData) + protowire.SizeBytes(len(e.Data))
	}
	return n
}

// appendEntryFields appends e's fields in field-number order, as protobuf
// does.
func appendEntryFields(b []byte, e *pb.Entry) []byte {
	if e.Type != nil {
		b = appendVarintField(b, entryFieldType, uint64(int64(*e.Type)))
	}
	b = appendOptionalUint64(b, entryFieldTerm, e.Term)
	b = appendOptionalUint64(b, entryFieldIndex, e.Index)
	if e.Data != nil {
		b = protowire.AppendTag(b, entryFieldData, protowire.BytesType)
		b = protowire.AppendBytes(b, e.Data)
	}
	return b
}

func appendOptionalUint64(b []byte, field protowire.Number, v *uint64) []byte {
	if v == nil {
		return b
	}
	return appendVarintField(b, field, *v)
}

func appendVarintField(b []byte, field protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, field, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// readRaftMessage decodes a raft message as proto.Unmarshal does. The
// message's context and entry data alias b, which the caller hands over;
// the hand decoder takes the message from a (nil: its own allocation).
func readRaftMessage(b []byte, a *messageArena) (*pb.Message, error) {
	if m, ok := decodeRaftMessage(b, a); ok {
		return m, nil
	}
	m := &pb.Message{}
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, err
	}
	return m, nil
}

// decodedMessage holds a decoded message and the values its optional
// fields point to, so that decoding allocates once per message rather
// than once per field.
type decodedMessage struct {
	msg                                                      pb.Message
	typ                                                      pb.MessageType
	to, from, term, logTerm, index, commit, vote, rejectHint uint64
	reject                                                   bool
}

// messageArenaChunk is how many decodedMessages a messageArena allocates
// at once.
const messageArenaChunk = 16

// messageArena hands out zeroed decodedMessages from chunks: a replica
// decodes a message per delivered raft frame, and one allocation per
// chunk is cheaper than one per message. raft may keep a message (a read
// index request waits for its quorum), which keeps its chunk reachable;
// no message is ever handed out twice, so none is overwritten.
type messageArena struct {
	free []decodedMessage
}

// next returns a zeroed message without taking it (take does).
func (a *messageArena) next() *decodedMessage {
	if a == nil {
		return &decodedMessage{}
	}
	if len(a.free) == 0 {
		a.free = make([]decodedMessage, messageArenaChunk)
	}
	return &a.free[0]
}

// take marks the message next returned as used.
func (a *messageArena) take() {
	if a != nil {
		a.free = a.free[1:]
	}
}

// entryFields are one decoded entry's fields.
type entryFields struct {
	typ                        pb.EntryType
	term, index                uint64
	data                       []byte
	hasType, hasTerm, hasIndex bool
}

// entriesStackMax is how many entries decodeRaftMessage gathers without a
// heap allocation.
const entriesStackMax = 4

// decodedEntry is decodedMessage's counterpart for one entry.
type decodedEntry struct {
	entry       pb.Entry
	typ         pb.EntryType
	term, index uint64
}

// decodeRaftMessage decodes b by hand into a message from a; ok is false
// (and a keeps the message) when b holds anything but the fields
// appendRaftMessage writes, each with its own wire type (proto.Unmarshal
// then decides). Like protobuf it keeps an enum value
// raftpb does not name, truncated to int32.
func decodeRaftMessage(b []byte, a *messageArena) (m *pb.Message, ok bool) {
	d := a.next()
	if m, ok = decodeInto(d, b); ok {
		a.take()
	} else {
		*d = decodedMessage{} // next hands it out again
	}
	return m, ok
}

// decodeInto is decodeRaftMessage's body, decoding into the zeroed d.
func decodeInto(d *decodedMessage, b []byte) (m *pb.Message, ok bool) {
	// Entries are gathered on the stack while there are few (an append
	// usually carries one or two), then boxed together below.
	var entriesStack [entriesStackMax]entryFields
	entries := entriesStack[:0]
	for len(b) > 0 {
		field, wireType, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, false
		}
		b = b[n:]
		if field == msgFieldEntries || field == msgFieldContext {
			if wireType != protowire.BytesType {
				return nil, false
			}
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, false
			}
			b = b[n:]
			if field == msgFieldContext {
				d.msg.Context = nonNil(v)
				continue
			}
			e, ok := decodeRaftEntry(v)
			if !ok {
				return nil, false
			}
			entries = append(entries, e)
			continue
		}
		if wireType != protowire.VarintType {
			return nil, false
		}
		v, n := protowire.ConsumeVarint(b)
		if n < 0 || !d.setVarint(field, v) {
			return nil, false
		}
		b = b[n:]
	}
	if len(entries) > 0 {
		boxes := make([]decodedEntry, len(entries))
		d.msg.Entries = make([]*pb.Entry, len(entries))
		for i := range entries {
			d.msg.Entries[i] = boxes[i].link(&entries[i])
		}
	}
	return &d.msg, true
}

// setVarint stores one varint field of a message; false for a field the
// hand decoder leaves to protobuf.
func (d *decodedMessage) setVarint(field protowire.Number, v uint64) bool {
	m := &d.msg
	switch field {
	case msgFieldType:
		d.typ, m.Type = pb.MessageType(v), &d.typ
	case msgFieldTo:
		d.to, m.To = v, &d.to
	case msgFieldFrom:
		d.from, m.From = v, &d.from
	case msgFieldTerm:
		d.term, m.Term = v, &d.term
	case msgFieldLogTerm:
		d.logTerm, m.LogTerm = v, &d.logTerm
	case msgFieldIndex:
		d.index, m.Index = v, &d.index
	case msgFieldCommit:
		d.commit, m.Commit = v, &d.commit
	case msgFieldReject:
		d.reject, m.Reject = protowire.DecodeBool(v), &d.reject
	case msgFieldRejectHint:
		d.rejectHint, m.RejectHint = v, &d.rejectHint
	case msgFieldVote:
		d.vote, m.Vote = v, &d.vote
	default:
		return false
	}
	return true
}

// decodeRaftEntry decodes one entry's fields.
func decodeRaftEntry(b []byte) (entryFields, bool) {
	var e entryFields
	for len(b) > 0 {
		field, wireType, n := protowire.ConsumeTag(b)
		if n < 0 {
			return e, false
		}
		b = b[n:]
		if field == entryFieldData {
			if wireType != protowire.BytesType {
				return e, false
			}
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return e, false
			}
			b = b[n:]
			e.data = nonNil(v)
			continue
		}
		if wireType != protowire.VarintType {
			return e, false
		}
		v, n := protowire.ConsumeVarint(b)
		if n < 0 {
			return e, false
		}
		b = b[n:]
		switch field {
		case entryFieldType:
			e.typ, e.hasType = pb.EntryType(v), true
		case entryFieldTerm:
			e.term, e.hasTerm = v, true
		case entryFieldIndex:
			e.index, e.hasIndex = v, true
		default:
			return e, false
		}
	}
	return e, true
}

// link fills d's entry from f, its optional fields pointing into d.
func (d *decodedEntry) link(f *entryFields) *pb.Entry {
	e := &d.entry
	e.Data = f.data
	if f.hasType {
		d.typ, e.Type = f.typ, &d.typ
	}
	if f.hasTerm {
		d.term, e.Term = f.term, &d.term
	}
	if f.hasIndex {
		d.index, e.Index = f.index, &d.index
	}
	return e
}

// nonNil returns v, or an empty non-nil slice: protobuf decodes a present
// bytes field as non-nil even when it is empty.
func nonNil(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}

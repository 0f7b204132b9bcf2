package storage

import (
	"bytes"
	"testing"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
)

// lieFrames is a sample of frames a liar sends: replies with a 3-chunk
// and a 1-chunk manifest, a chunk reply, a FetchChunk, a StoreChunk,
// Commits of a 3-chunk and a 1-chunk manifest, Check replies "held" and
// "not held" (lies[checkReplies:] answer Checks), and frames no lie
// applies to.
func lieFrames(t *testing.T) (lies, others [][]byte) {
	t.Helper()
	const cb = 64 << 10
	data := randomData(7, 2*cb+40000)
	addr, m := Split(data, cb)
	small := randomData(8, 5000)
	smallAddr, sm := Split(small, cb)
	ch := m.Chunks[1]
	lies = [][]byte{
		encodeFrame(1, &message{kind: kindReply, addr: addr, status: statusOK, data: AppendManifest(nil, &m)}),
		encodeFrame(2, &message{kind: kindReply, addr: smallAddr, status: statusOK, data: AppendManifest(nil, &sm)}),
		encodeFrame(3, &message{kind: kindReply, addr: ch.Addr, status: statusOK, data: data[cb : 2*cb]}),
		encodeFrame(4, &message{kind: kindFetchChunk, addr: ch.Addr, offset: cb}),
		encodeFrame(5, &message{kind: kindStoreChunk, addr: ch.Addr, offset: cb, data: data[cb : 2*cb]}),
		encodeFrame(6, &message{kind: kindCommit, addr: addr, data: AppendManifest(nil, &m)}),
		encodeFrame(11, &message{kind: kindCommit, addr: smallAddr, data: AppendManifest(nil, &sm)}),
		encodeFrame(12, &message{kind: kindReply, addr: addr, status: statusOK}),
		encodeFrame(13, &message{kind: kindReply, addr: addr, status: statusNotFound}),
	}
	others = [][]byte{
		encodeFrame(7, &message{kind: kindFetchManifest, addr: addr}),
		encodeFrame(14, &message{kind: kindCheck, addr: addr}),
		encodeFrame(8, &message{kind: kindReply, addr: ch.Addr, status: statusNotFound}),
		encodeFrame(9, &message{kind: kindReply, addr: addr, status: statusOK}),
		oap.MustEncode(&oap.Frame{Header: oap.Header{Flags: oap.FlagREQ, AppProto: oap.ProtoStorage + 1, CorrID: 10}, Payload: []byte("x")}),
		[]byte("not a frame"),
	}
	return lies, others
}

// checkReplies is the index in lieFrames' lies of the first Check reply.
const checkReplies = 7

const allLies = LieMovedManifest | LieSizeManifest | LieRefuseChunks | LieCorruptStatus | LieGarbageChunks | LieWrongOffsetFetch |
	LieGarbagePush | LieLyingCommit | LieFalseHeld

// TestLieFrameLeavesOthers: frames no lie applies to come back as they
// went in, and draw nothing; so do lie-able frames whose lies are not
// asked for, or at rate 0.
func TestLieFrameLeavesOthers(t *testing.T) {
	lies, others := lieFrames(t)
	r, ref := env.NewRand(1), env.NewRand(1)
	check := func(f []byte, answersCheck bool, kinds LieKinds, rate float64) {
		t.Helper()
		in := bytes.Clone(f)
		out, lie := LieFrame(f, answersCheck, r, kinds, rate)
		if lie != 0 || !bytes.Equal(out, in) || !bytes.Equal(f, in) {
			t.Fatalf("frame %x changed (lie %d) with kinds %b rate %g", in[:min(len(in), 16)], lie, kinds, rate)
		}
	}
	for _, f := range others {
		check(f, false, allLies, 1)
	}
	notHeld := allLies &^ LieFalseHeld
	check(lies[0], false, LieRefuseChunks|LieCorruptStatus|LieGarbageChunks|LieWrongOffsetFetch, 1) // a manifest: no manifest lie asked
	check(lies[1], false, LieMovedManifest, 1)                                                      // one chunk: nothing to move
	check(lies[2], false, LieMovedManifest|LieSizeManifest|LieWrongOffsetFetch, 1)                  // a chunk: no chunk lie asked
	check(lies[3], false, LieRefuseChunks|LieGarbageChunks, 1)                                      // a request: no wrong offset asked
	check(lies[4], false, notHeld&^LieGarbagePush, 1)                                               // a push: no garbage push asked
	check(lies[5], false, notHeld&^LieLyingCommit, 1)                                               // a commit: no lying commit asked
	check(lies[checkReplies], false, allLies, 1)                                                    // not known to answer a Check
	check(lies[checkReplies+1], false, allLies, 1)
	check(lies[checkReplies], true, notHeld, 1) // a Check reply: no false held asked
	for i, f := range lies {
		check(f, i >= checkReplies, allLies, 0)
	}
	if r.Uint64() != ref.Uint64() {
		t.Fatal("frames that told no lie drew from the stream")
	}
}

// TestLieCheckAsked: only a Check request is one, with its corr id.
func TestLieCheckAsked(t *testing.T) {
	lies, others := lieFrames(t)
	if corr, ok := LieCheckAsked(others[1]); !ok || corr != 14 {
		t.Fatalf("Check request: corr %d, %v", corr, ok)
	}
	for i, f := range append(lies, others[0], others[2]) {
		if _, ok := LieCheckAsked(f); ok {
			t.Fatalf("frame %d taken for a Check request", i)
		}
	}
}

// TestLieFrameLies: each lie rewrites its frame as documented (the
// manifest lies still pass checkFor), leaves its input alone, and the
// same stream gives the same frames.
func TestLieFrameLies(t *testing.T) {
	lies, _ := lieFrames(t)
	for _, kind := range []LieKinds{LieMovedManifest, LieSizeManifest, LieRefuseChunks, LieCorruptStatus, LieGarbageChunks, LieWrongOffsetFetch,
		LieGarbagePush, LieLyingCommit, LieFalseHeld} {
		told := 0
		for i, f := range lies {
			in := bytes.Clone(f)
			out, lie := LieFrame(f, i >= checkReplies, env.NewRand(uint64(kind)), kind, 1)
			again, _ := LieFrame(f, i >= checkReplies, env.NewRand(uint64(kind)), kind, 1)
			if !bytes.Equal(f, in) || !bytes.Equal(out, again) {
				t.Fatalf("lie %b: input modified or not deterministic", kind)
			}
			if lie == 0 {
				continue
			}
			told++
			if lie != kind {
				t.Fatalf("lie %b told %b", kind, lie)
			}
			h0, m0, _ := decodeFrame(in)
			h, m, err := decodeFrame(out)
			if err != nil || h.CorrID != h0.CorrID || m.kind != m0.kind || m.addr != m0.addr {
				t.Fatalf("lie %b: frame %v, corr %d kind %d", kind, err, h.CorrID, m.kind)
			}
			switch kind {
			case LieMovedManifest, LieSizeManifest:
				lieM, err := DecodeManifest(m.data)
				honest, _ := DecodeManifest(m0.data)
				if err != nil || lieM.checkFor(m.addr) != nil || lieM.Size == honest.Size {
					t.Fatalf("lie %b: manifest %+v does not pass checkFor or keeps the Size", kind, lieM)
				}
				if kind == LieMovedManifest && lieM.Chunks[0].Size == honest.Chunks[0].Size {
					t.Fatalf("moved lie moved nothing: %+v", lieM)
				}
			case LieRefuseChunks:
				ok := m.status == statusBad && len(m.data) == 0
				if !ok {
					t.Fatalf("refusal: status %d", m.status)
				}
			case LieCorruptStatus:
				if m.status != statusCorrupt || len(m.data) != 0 {
					t.Fatalf("corrupt: status %d", m.status)
				}
			case LieGarbageChunks:
				if m.status != statusOK || len(m.data) != len(m0.data) || bytes.Equal(m.data, m0.data) {
					t.Fatal("garbage: bytes unchanged")
				}
				if cv, _ := proto.SubtreeHash(m.data, 64<<10); proto.Addr(cv) == m.addr {
					t.Fatal("garbage still verifies")
				}
			case LieWrongOffsetFetch:
				if m.offset == m0.offset {
					t.Fatal("wrong offset: offset unchanged")
				}
			case LieGarbagePush:
				if chunkMatches(m.addr, m.offset, m.data) || !chunkMatches(m0.addr, m0.offset, m0.data) {
					t.Fatalf("garbage push still verifies (offset %d, was %d)", m.offset, m0.offset)
				}
			case LieLyingCommit:
				lieM, err := DecodeManifest(m.data)
				honest, _ := DecodeManifest(m0.data)
				if err != nil || lieM.checkFor(m.addr) != nil || lieM.Size == honest.Size && lieM.Chunks[0].Size == honest.Chunks[0].Size {
					t.Fatalf("lying commit: manifest %+v does not pass checkFor or lies about nothing", lieM)
				}
			case LieFalseHeld:
				if m.status == m0.status || m.status != statusOK && m.status != statusNotFound || len(m.data) != 0 {
					t.Fatalf("false held: status %d, was %d", m.status, m0.status)
				}
			}
		}
		want := map[LieKinds]int{LieMovedManifest: 1, LieSizeManifest: 2, LieLyingCommit: 2, LieFalseHeld: 2}[kind]
		if want == 0 && told != 1 || want > 0 && told != want {
			t.Fatalf("lie %b told on %d frames", kind, told)
		}
	}
}

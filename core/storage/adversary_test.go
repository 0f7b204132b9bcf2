package storage

import (
	"bytes"
	"testing"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
)

// lieFrames is a sample of frames a liar sends: replies with a 3-chunk
// and a 1-chunk manifest, a chunk reply, a FetchChunk, and frames no lie
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
	}
	others = [][]byte{
		encodeFrame(5, &message{kind: kindStoreChunk, addr: ch.Addr, offset: cb, data: data[cb : 2*cb]}),
		encodeFrame(6, &message{kind: kindCommit, addr: addr, data: AppendManifest(nil, &m)}),
		encodeFrame(7, &message{kind: kindFetchManifest, addr: addr}),
		encodeFrame(8, &message{kind: kindReply, addr: ch.Addr, status: statusNotFound}),
		encodeFrame(9, &message{kind: kindReply, addr: addr, status: statusOK}),
		oap.MustEncode(&oap.Frame{Header: oap.Header{Flags: oap.FlagREQ, AppProto: oap.ProtoStorage + 1, CorrID: 10}, Payload: []byte("x")}),
		[]byte("not a frame"),
	}
	return lies, others
}

const allLies = LieMovedManifest | LieSizeManifest | LieRefuseChunks | LieCorruptStatus | LieGarbageChunks | LieWrongOffsetFetch

// TestLieFrameLeavesOthers: frames no lie applies to come back as they
// went in, and draw nothing; so do lie-able frames whose lies are not
// asked for, or at rate 0.
func TestLieFrameLeavesOthers(t *testing.T) {
	lies, others := lieFrames(t)
	r, ref := env.NewRand(1), env.NewRand(1)
	check := func(f []byte, kinds LieKinds, rate float64) {
		t.Helper()
		in := bytes.Clone(f)
		out, lie := LieFrame(f, r, kinds, rate)
		if lie != 0 || !bytes.Equal(out, in) || !bytes.Equal(f, in) {
			t.Fatalf("frame %x changed (lie %d) with kinds %b rate %g", in[:min(len(in), 16)], lie, kinds, rate)
		}
	}
	for _, f := range others {
		check(f, allLies, 1)
	}
	check(lies[0], LieRefuseChunks|LieCorruptStatus|LieGarbageChunks|LieWrongOffsetFetch, 1) // a manifest: no manifest lie asked
	check(lies[1], LieMovedManifest, 1)                                                      // one chunk: nothing to move
	check(lies[2], LieMovedManifest|LieSizeManifest|LieWrongOffsetFetch, 1)                  // a chunk: no chunk lie asked
	check(lies[3], LieRefuseChunks|LieGarbageChunks, 1)                                      // a request: no wrong offset asked
	for _, f := range lies {
		check(f, allLies, 0)
	}
	if r.Uint64() != ref.Uint64() {
		t.Fatal("frames that told no lie drew from the stream")
	}
}

// TestLieFrameLies: each lie rewrites its frame as documented (the
// manifest lies still pass checkFor), leaves its input alone, and the
// same stream gives the same frames.
func TestLieFrameLies(t *testing.T) {
	lies, _ := lieFrames(t)
	for _, kind := range []LieKinds{LieMovedManifest, LieSizeManifest, LieRefuseChunks, LieCorruptStatus, LieGarbageChunks, LieWrongOffsetFetch} {
		told := 0
		for _, f := range lies {
			in := bytes.Clone(f)
			out, lie := LieFrame(f, env.NewRand(uint64(kind)), kind, 1)
			again, _ := LieFrame(f, env.NewRand(uint64(kind)), kind, 1)
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
			}
		}
		if want := map[LieKinds]int{LieMovedManifest: 1, LieSizeManifest: 2}[kind]; want == 0 && told != 1 || want > 0 && told != want {
			t.Fatalf("lie %b told on %d frames", kind, told)
		}
	}
}

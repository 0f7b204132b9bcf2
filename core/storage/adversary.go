package storage

import (
	"slices"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// Simulator support: a lying storage node. The simulator runs the honest
// state machine on its liars and rewrites their outgoing frames through
// LieFrame, so the lies are the ones a peer can tell on the wire (doc.go,
// "Reads and corruption"). Production code never calls it.

// LieKinds is a set of lies, a bit per kind.
type LieKinds uint16

const (
	// LieMovedManifest: a FetchManifest reply moves chunks (the first two
	// sizes halved; the keys still merge to the address).
	LieMovedManifest LieKinds = 1 << iota
	// LieSizeManifest: a FetchManifest reply claims another size for the
	// last chunk (and so another Size).
	LieSizeManifest
	// LieRefuseChunks: a FetchChunk reply becomes statusBad.
	LieRefuseChunks
	// LieCorruptStatus: a FetchChunk reply becomes statusCorrupt.
	LieCorruptStatus
	// LieGarbageChunks: a FetchChunk reply's bytes are flipped.
	LieGarbageChunks
	// LieWrongOffsetFetch: a FetchChunk request asks another offset.
	LieWrongOffsetFetch
	// LieGarbagePush: a StoreChunk request (a placement or repair push)
	// carries bytes that do not match the key (one bit flipped), or the
	// right bytes at another offset.
	LieGarbagePush
	// LieLyingCommit: a Commit request's manifest moves chunks (as
	// LieMovedManifest) or claims another size for the last chunk (as
	// LieSizeManifest); either still passes checkFor.
	LieLyingCommit
	// LieFalseHeld: a Check reply (the repair audit's "do you hold this
	// object?") says the opposite: held when not, not held when held.
	LieFalseHeld
	lieLast = LieFalseHeld
)

// LieCheckAsked reports whether frame is a storage Check request, and its
// correlation id: a reply carries no request kind, so a caller that
// wants LieFalseHeld told remembers the Checks sent to a liar and tells
// LieFrame which reply answers one.
func LieCheckAsked(frame []byte) (corr uint64, ok bool) {
	h, m, err := decodeFrame(frame)
	if err != nil || m.kind != kindCheck {
		return 0, false
	}
	return h.CorrID, true
}

// LieFrame returns frame as a liar would send it, and the lie it told
// (0 for none): when some kind in kinds can rewrite the frame it draws
// from r whether to lie (probability rate) and which of those kinds to
// tell. answersCheck says that frame is the reply to a Check request
// (LieCheckAsked); only such a reply may carry LieFalseHeld. Any other
// frame (not storage, a kind no lie applies to, a manifest for which no
// lie of kinds passes checkFor) is returned unchanged and draws nothing.
// The input is not modified.
func LieFrame(frame []byte, answersCheck bool, r *env.Rand, kinds LieKinds, rate float64) ([]byte, LieKinds) {
	h, m, err := decodeFrame(frame)
	if err != nil {
		return frame, 0
	}
	var manifest *Manifest
	var options []LieKinds
	switch {
	case m.kind == kindFetchChunk:
		options = kinds.pick(LieWrongOffsetFetch)
	case m.kind == kindStoreChunk && len(m.data) > 0:
		options = kinds.pick(LieGarbagePush)
	case m.kind == kindCommit:
		if mf, derr := DecodeManifest(m.data); derr == nil && mf.checkFor(m.addr) == nil && commitLiesOf(mf, m.addr) != nil {
			manifest = &mf
			options = kinds.pick(LieLyingCommit)
		}
	case m.kind == kindReply && answersCheck && (m.status == statusOK || m.status == statusNotFound) && len(m.data) == 0:
		options = kinds.pick(LieFalseHeld)
	case m.kind == kindReply && m.status == statusOK && len(m.data) > 0:
		if mf, derr := DecodeManifest(m.data); derr == nil && mf.checkFor(m.addr) == nil {
			manifest = &mf
			if _, ok := movedLieOf(mf, m.addr); ok {
				options = append(options, kinds.pick(LieMovedManifest)...)
			}
			if _, ok := lastSizeLieOf(mf, m.addr); ok {
				options = append(options, kinds.pick(LieSizeManifest)...)
			}
		} else {
			options = kinds.pick(LieRefuseChunks | LieCorruptStatus | LieGarbageChunks)
		}
	}
	if len(options) == 0 || !r.Bool(rate) {
		return frame, 0
	}
	out := message{kind: m.kind, addr: m.addr, offset: m.offset, status: m.status, data: m.data}
	lie := options[r.Intn(len(options))]
	switch lie {
	case LieWrongOffsetFetch:
		// Another chunk slot: a chunk key verifies at one offset only.
		out.offset = m.offset + ChunkBytesMin*(1+r.Uint64n(16))
		if out.offset > StreamObjectBytesMax {
			out.offset = m.offset - min(m.offset, ChunkBytesMin)
			if out.offset == m.offset {
				return frame, 0
			}
		}
	case LieMovedManifest:
		lie, _ := movedLieOf(*manifest, m.addr)
		out.data = AppendManifest(nil, &lie)
	case LieSizeManifest:
		lie, _ := lastSizeLieOf(*manifest, m.addr)
		out.data = AppendManifest(nil, &lie)
	case LieRefuseChunks:
		out.status, out.data = statusBad, nil
	case LieCorruptStatus:
		out.status, out.data = statusCorrupt, nil
	case LieGarbageChunks:
		out.data = slices.Clone(m.data)
		out.data[r.Intn(len(out.data))] ^= 1 << r.Intn(8)
	case LieGarbagePush:
		if r.Bool(0.5) {
			// The right bytes at another chunk slot: a key verifies at
			// one offset only.
			out.offset = m.offset + uint64(len(m.data))
			if out.offset > StreamObjectBytesMax {
				out.offset = m.offset - min(m.offset, uint64(len(m.data)))
			}
			if out.offset != m.offset {
				break
			}
		}
		out.data = slices.Clone(m.data)
		out.data[r.Intn(len(out.data))] ^= 1 << r.Intn(8)
	case LieLyingCommit:
		lies := commitLiesOf(*manifest, m.addr)
		out.data = AppendManifest(nil, &lies[r.Intn(len(lies))])
	case LieFalseHeld:
		out.status = statusNotFound
		if m.status == statusNotFound {
			out.status = statusOK
		}
	}
	return encodeFrame(h.CorrID, &out), lie
}

// commitLiesOf lists the lying manifests a Commit of honest may carry
// instead: chunks moved, the last chunk's size (each when it passes
// checkFor).
func commitLiesOf(honest Manifest, addr proto.Addr) []Manifest {
	var lies []Manifest
	if lie, ok := movedLieOf(honest, addr); ok {
		lies = append(lies, lie)
	}
	if lie, ok := lastSizeLieOf(honest, addr); ok {
		lies = append(lies, lie)
	}
	return lies
}

// pick lists the kinds of k within of, lowest bit first.
func (k LieKinds) pick(of LieKinds) []LieKinds {
	var out []LieKinds
	for b := LieKinds(1); b != 0 && b <= lieLast; b <<= 1 {
		if k&of&b != 0 {
			out = append(out, b)
		}
	}
	return out
}

// movedLieOf halves the sizes of two neighbouring chunks, the first pair
// for which the keys still merge to the address (checkFor says), which
// moves every chunk after them.
func movedLieOf(honest Manifest, addr proto.Addr) (Manifest, bool) {
	for i := 0; i+2 < len(honest.Chunks); i++ {
		lie := Manifest{Chunks: slices.Clone(honest.Chunks)}
		lie.Chunks[i].Size /= 2
		lie.Chunks[i+1].Size /= 2
		for _, ch := range lie.Chunks {
			lie.Size += uint64(ch.Size)
		}
		if lie.checkFor(addr) == nil {
			return lie, true
		}
	}
	return Manifest{}, false
}

// lastSizeLieOf claims one byte less for the last chunk (one more when it is
// a single byte).
func lastSizeLieOf(honest Manifest, addr proto.Addr) (Manifest, bool) {
	if len(honest.Chunks) == 0 {
		return Manifest{}, false
	}
	lie := Manifest{Size: honest.Size, Chunks: slices.Clone(honest.Chunks)}
	last := &lie.Chunks[len(lie.Chunks)-1]
	if last.Size > 1 {
		last.Size--
		lie.Size--
	} else {
		last.Size++
		lie.Size++
	}
	return lie, lie.checkFor(addr) == nil
}

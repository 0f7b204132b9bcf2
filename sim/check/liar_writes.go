package check

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/storage"
)

// HeldManifest is a manifest an honest node holds for an object the
// workload put (Got), beside the object's own (Want: storage.Split of
// Data, the object's bytes), and the bytes the node's disk holds under
// each chunk key of Got (Stored, nil where none).
type HeldManifest struct {
	Node      int
	Addr      proto.Addr
	Got, Want storage.Manifest
	Data      []byte
	Stored    [][]byte
}

// LiarWrites checks that liars' pushes and commits wrote nothing false on
// an honest node: every manifest it holds is its object's own (a commit
// that moves chunks or lies about the last chunk's size, lying_commit,
// must be refused: committed, the node's index would locate its chunks
// where they do not verify and its gets would believe the lie's Size),
// and the bytes under each of its chunk keys are the object's bytes of
// that chunk (a pushed chunk that does not match its key, garbage_push,
// must be refused, not stored and committed). held lists the manifests
// of the honest nodes up at the end whose disks corrupt nothing.
func LiarWrites(held []HeldManifest) Result {
	for _, h := range held {
		if h.Got.Size != h.Want.Size || !slices.Equal(h.Got.Chunks, h.Want.Chunks) {
			return Result{Name: "liar_writes", Detail: fmt.Sprintf(
				"honest n%d holds object %s with a manifest that is not its own: size %d, chunks %v; the object's: size %d, chunks %v",
				h.Node+1, h.Addr, h.Got.Size, chunkSizes(h.Got), h.Want.Size, chunkSizes(h.Want))}
		}
		var off uint64
		for i, c := range h.Got.Chunks {
			want := h.Data[off : off+uint64(c.Size)]
			if i >= len(h.Stored) || !bytes.Equal(h.Stored[i], want) {
				return Result{Name: "liar_writes", Detail: fmt.Sprintf(
					"honest n%d holds object %s but its chunk %d (%s at offset %d) is not the object's bytes on its disk",
					h.Node+1, h.Addr, i, c.Addr, off)}
			}
			off += uint64(c.Size)
		}
	}
	return Result{Name: "liar_writes", OK: true, Detail: fmt.Sprintf(
		"the %d objects honest nodes hold have their own manifests and chunk bytes", len(held))}
}

func chunkSizes(m storage.Manifest) []uint32 {
	out := make([]uint32, len(m.Chunks))
	for i, c := range m.Chunks {
		out[i] = c.Size
	}
	return out
}

package check

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/sim/workload"
)

// ContentObjects looks a workload object up by its address.
type ContentObjects func(proto.Addr) (workload.ContentObject, bool)

// Integrity checks every successful content operation of h against the
// bytes the workload put: a put must report the address and size its bytes
// have (recomputed from the seed and size in its input); a get or range_get
// must return exactly the requested range of the object (same length, same
// BLAKE3 as the expected bytes) and the object's size. A get of an address
// the workload never put fails too: nothing can vouch for its bytes.
func Integrity(h *workload.History, objects ContentObjects) Result {
	var cache contentCache
	checked := 0
	for i, op := range h.Ops {
		if op.Unknown() {
			continue
		}
		if ok, _ := op.Output["ok"].(bool); !ok {
			continue
		}
		var err error
		switch op.Kind {
		case workload.OpPut:
			err = checkPut(op)
		case workload.OpGet, workload.OpRangeGet:
			err = checkRead(op, objects, &cache)
		default:
			continue
		}
		if err != nil {
			return Result{Name: "integrity", Detail: fmt.Sprintf("op %d (%s by client %d via n%d at %dns): %v",
				i, op.Kind, op.Client, op.Node+1, op.Call, err)}
		}
		checked++
	}
	return Result{Name: "integrity", OK: true, Detail: fmt.Sprintf("%d successful puts and reads returned the expected bytes", checked)}
}

func checkPut(op *workload.Op) error {
	seed, _ := op.Input["seed"].(uint64)
	size, _ := op.Input["size"].(int)
	want := workload.NewContentObject(seed, size)
	if got := str(op.Output["addr"]); got != want.Addr.String() {
		return fmt.Errorf("acknowledged as %s, but its %d bytes hash to %s", got, size, want.Addr)
	}
	if got, _ := op.Output["size"].(uint64); got != uint64(size) {
		return fmt.Errorf("acknowledged with size %d, but it has %d bytes", got, size)
	}
	if got, streamed := op.Output["streamed_addr"]; streamed && str(got) != want.Addr.String() {
		return fmt.Errorf("a session put whose last PutChunk said the streamed bytes are %s, but its %d bytes hash to %s", str(got), size, want.Addr)
	}
	return nil
}

func checkRead(op *workload.Op, objects ContentObjects, cache *contentCache) error {
	addr, err := proto.ParseAddr(str(op.Input["addr"]))
	if err != nil {
		return fmt.Errorf("input address: %w", err)
	}
	obj, known := objects(addr)
	if !known {
		return fmt.Errorf("read %s, which the workload never put, and got bytes", addr.Short())
	}
	offset, _ := op.Input["offset"].(uint64)
	length, _ := op.Input["length"].(uint64)
	size := uint64(obj.Size)
	if offset >= size || length > size-offset {
		return fmt.Errorf("range [%d,+%d) of a %d-byte object succeeded", offset, length, size)
	}
	if length == 0 {
		length = size - offset
	}
	want := addr // a whole read must hash to the object's own address
	if offset != 0 || length != size {
		want = proto.AddrOf(cache.bytes(obj)[offset : offset+length])
	}
	gotLength, _ := op.Output["length"].(int)
	gotSize, _ := op.Output["size"].(uint64)
	switch {
	case uint64(gotLength) != length:
		return fmt.Errorf("%s [%d,+%d): returned %d bytes", addr.Short(), offset, length, gotLength)
	case gotSize != size:
		return fmt.Errorf("%s: reported size %d, the object has %d bytes", addr.Short(), gotSize, size)
	case str(op.Output["addr"]) != want.String():
		return fmt.Errorf("%s [%d,+%d): returned bytes hashing to %s, expected %s", addr.Short(), offset, length, str(op.Output["addr"]), want)
	}
	return nil
}

// contentCache keeps the last regenerated object: range reads of one
// object often follow each other, and regenerating costs a pass over it.
type contentCache struct {
	addr proto.Addr
	data []byte
}

func (c *contentCache) bytes(o workload.ContentObject) []byte {
	if c.data == nil || c.addr != o.Addr {
		c.addr, c.data = o.Addr, o.Bytes()
	}
	return c.data
}

// FinalRead is one read of an acknowledged object after the run.
type FinalRead struct {
	Object workload.ContentObject
	Node   int  // 0-based node asked
	Answer bool // false: no reply (the node was down or did not answer)
	Err    string
	Addr   proto.Addr // BLAKE3 of the bytes returned
	Length int
}

// ContentDurability checks that every acknowledged object was read back whole
// after the run: reads holds the last read of each (nil when none was
// made).
func ContentDurability(acked []workload.ContentObject, reads map[proto.Addr]FinalRead) Result {
	var totalBytes int
	for _, o := range acked {
		r, ok := reads[o.Addr]
		switch {
		case !ok:
			return Result{Name: "durability", Detail: fmt.Sprintf("acknowledged object %s (%d bytes) was never read back", o.Addr, o.Size)}
		case !r.Answer:
			return Result{Name: "durability", Detail: fmt.Sprintf("acknowledged object %s (%d bytes): n%d did not answer the final read", o.Addr, o.Size, r.Node+1)}
		case r.Err != "":
			return Result{Name: "durability", Detail: fmt.Sprintf("acknowledged object %s (%d bytes) is lost: the final read via n%d failed with %s", o.Addr, o.Size, r.Node+1, r.Err)}
		case r.Addr != o.Addr || r.Length != o.Size:
			return Result{Name: "durability", Detail: fmt.Sprintf("acknowledged object %s (%d bytes): the final read via n%d returned %d bytes hashing to %s", o.Addr, o.Size, r.Node+1, r.Length, r.Addr)}
		}
		totalBytes += o.Size
	}
	return Result{Name: "durability", OK: true, Detail: fmt.Sprintf("all %d acknowledged objects (%d bytes) read back intact", len(acked), totalBytes)}
}

// Placement returns the r members closest to addr by XOR distance, closest
// first: the nodes core/storage places the object on under static
// membership. It is written out again here, from ARCHITECTURE 5.4, so that the
// convergence check does not trust the code it checks.
func Placement(members []proto.NodeID, addr proto.Addr, r int) []proto.NodeID {
	key := addr.Key()
	distance := func(id proto.NodeID) []byte {
		d := make([]byte, len(id))
		for i := range id {
			d[i] = id[i] ^ key[i]
		}
		return d
	}
	pool := slices.Clone(members)
	slices.SortFunc(pool, func(a, b proto.NodeID) int { return bytes.Compare(distance(a), distance(b)) })
	pool = slices.Compact(pool)
	return pool[:min(r, len(pool))]
}

package simdisk

import (
	"fmt"
	"iter"
	"slices"
	"sort"
)

// Index block sizes. A block splits in two when it grows past
// indexBlockKeysMax; after a removal a block merges with its right
// neighbour when both together hold at most indexBlockKeysMerge keys, so
// deletions cannot leave a long tail of tiny blocks.
const (
	indexBlockKeysMax   = 512
	indexBlockKeysMerge = indexBlockKeysMax / 2
)

// keyIndex is the set of stored keys in ascending byte order.
//
// It is a one-level B-tree: a sorted slice of sorted blocks. Invariants:
// every block is non-empty and holds at most indexBlockKeysMax keys; keys
// ascend strictly within a block and across blocks; count is the total.
// Insert and remove cost O(log n + indexBlockKeysMax) and a seek O(log n),
// which keeps stores of a million keys cheap.
//
// Rejected alternatives: a single sorted slice (an insert into 100k keys
// moves megabytes), sorting the map's keys per scan (O(n log n) per scan),
// and a skip list (it needs randomness, which would have to be kept apart
// from the disk's fault stream to keep runs reproducible).
type keyIndex struct {
	blocks [][]string
	count  int
}

// locate returns the block and the position in it where key is or would
// be inserted. b == len(blocks) means key is beyond every stored key.
func (x *keyIndex) locate(key string) (b, i int, found bool) {
	b = sort.Search(len(x.blocks), func(j int) bool {
		block := x.blocks[j]
		return block[len(block)-1] >= key
	})
	if b == len(x.blocks) {
		return b, 0, false
	}
	i = sort.SearchStrings(x.blocks[b], key)
	return b, i, x.blocks[b][i] == key
}

// insert adds key; inserting a present key is a no-op.
func (x *keyIndex) insert(key string) {
	if len(x.blocks) == 0 {
		x.blocks = append(x.blocks, []string{key})
		x.count++
		return
	}
	b, i, found := x.locate(key)
	if found {
		return
	}
	if b == len(x.blocks) {
		b = len(x.blocks) - 1
		i = len(x.blocks[b])
	}
	x.blocks[b] = slices.Insert(x.blocks[b], i, key)
	x.count++
	if len(x.blocks[b]) > indexBlockKeysMax {
		x.split(b)
	}
}

// split halves block b. The upper half is copied so that later appends to
// the lower half cannot overwrite it.
func (x *keyIndex) split(b int) {
	block := x.blocks[b]
	half := len(block) / 2
	upper := slices.Clone(block[half:])
	clear(block[half:])
	x.blocks[b] = block[:half]
	x.blocks = slices.Insert(x.blocks, b+1, upper)
}

// remove deletes key; removing a missing key is a no-op.
func (x *keyIndex) remove(key string) {
	b, i, found := x.locate(key)
	if !found {
		return
	}
	x.blocks[b] = slices.Delete(x.blocks[b], i, i+1)
	x.count--
	if len(x.blocks[b]) == 0 {
		x.blocks = slices.Delete(x.blocks, b, b+1)
		return
	}
	if b+1 < len(x.blocks) && len(x.blocks[b])+len(x.blocks[b+1]) <= indexBlockKeysMerge {
		x.blocks[b] = append(x.blocks[b], x.blocks[b+1]...)
		x.blocks = slices.Delete(x.blocks, b+1, b+2)
	}
}

// from yields the stored keys >= start in ascending order. The index must
// not be modified while the sequence is being consumed.
func (x *keyIndex) from(start string) iter.Seq[string] {
	return func(yield func(string) bool) {
		b, i, _ := x.locate(start)
		for ; b < len(x.blocks); b, i = b+1, 0 {
			for _, key := range x.blocks[b][i:] {
				if !yield(key) {
					return
				}
			}
		}
	}
}

// verify checks every invariant of the index; it is O(n) and used by tests
// and by builds with the invariants tag.
func (x *keyIndex) verify() error {
	total := 0
	previous, first := "", true
	for b, block := range x.blocks {
		if len(block) == 0 || len(block) > indexBlockKeysMax {
			return fmt.Errorf("simdisk: index block %d holds %d keys", b, len(block))
		}
		for _, key := range block {
			if !first && key <= previous {
				return fmt.Errorf("simdisk: index key %q in block %d does not follow %q", key, b, previous)
			}
			previous, first = key, false
		}
		total += len(block)
	}
	if total != x.count {
		return fmt.Errorf("simdisk: index counts %d keys, blocks hold %d", x.count, total)
	}
	return nil
}

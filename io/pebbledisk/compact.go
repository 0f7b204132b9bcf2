package pebbledisk

import (
	"bytes"
	"cmp"
	"slices"

	"github.com/ron-network/ron/core/env"
)

// Segment compaction (see "Side files" in doc.go): a segment keeps its
// bytes while any value in it lives. After a sync, once the segments that
// are at least half garbage hold compactGarbageMin bytes of garbage
// together, one round moves the live values of the worst of them (up to
// compactBytesMax) into a new segment, exactly as puts of the same values
// would: the new segment is synced before the pointers move, and the old
// segments go after the next sync.
var (
	compactGarbageMin int64 = 64 << 20
	compactBytesMax   int64 = 16 << 20
)

// compact runs one compaction round if one is due. It runs on the worker
// after a successful sync; its failures only end the round (a segment
// whose values cannot be read is not chosen again). Its moves count as
// writes of the group (space) whose sync ran it.
func (d *Disk) compact(space *groupSpace) {
	s := d.side
	if d.legacy || s.min == 0 {
		return
	}
	type candidate struct {
		id      uint64
		garbage int64
	}
	var candidates []candidate
	var garbage int64
	for id, size := range s.size {
		g := size - s.liveBytes[id]
		if s.live[id] > 0 && 2*g >= size && !s.noCompact[id] && !s.isActive(id) {
			candidates = append(candidates, candidate{id, g})
			garbage += g
		}
	}
	if garbage < compactGarbageMin {
		return
	}
	slices.SortFunc(candidates, func(a, b candidate) int {
		if c := cmp.Compare(b.garbage, a.garbage); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	chosen := map[uint64]bool{}
	var budget int64
	for _, c := range candidates {
		if budget >= compactBytesMax {
			break
		}
		chosen[c.id] = true
		budget += s.liveBytes[c.id]
	}
	keys, ptrs, ok := d.pointersInto(chosen)
	if !ok || len(keys) == 0 {
		return
	}
	values := make([][]byte, len(ptrs))
	for i, p := range ptrs {
		v, err := s.read(p)
		if err != nil {
			s.noCompact[p.segment] = true
			return
		}
		values[i] = v
	}
	id, moved, err := s.writeSegment(values)
	if err != nil {
		return
	}
	writes := make([]env.DiskWrite, len(keys))
	for i := range keys {
		writes[i] = env.DiskWrite{Key: keys[i], Value: moved[i].encode()}
	}
	if res := d.commit(env.DiskBatch, writes, space); res.Err != nil {
		return // the new segment stays; the next Open removes it if unused
	}
	s.compactions++
	if s.live[id] == 0 && !s.isActive(id) {
		s.pending = append(s.pending, id)
	}
}

// pointersInto scans the store for the pointers into the chosen segments.
func (d *Disk) pointersInto(chosen map[uint64]bool) (keys [][]byte, ptrs []pointer, ok bool) {
	iter, err := d.db.NewIter(nil)
	if err != nil {
		return nil, nil, false
	}
	for valid := iter.First(); valid; valid = iter.Next() {
		lv := iter.LazyValue()
		if lv.Len() != pointerBytes {
			continue
		}
		v, _, err := lv.Value(nil)
		if err != nil {
			_ = iter.Close()
			return nil, nil, false
		}
		if _, p, isPointer, err := decodeStored(v); err == nil && isPointer && chosen[p.segment] {
			keys = append(keys, bytes.Clone(iter.Key()))
			ptrs = append(ptrs, p)
		}
	}
	return keys, ptrs, iter.Close() == nil
}

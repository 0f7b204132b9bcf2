package edgecache_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/ron-network/ron/core/edgecache"
	"github.com/ron-network/ron/core/proto"
)

var addrs = []proto.Addr{proto.AddrOf([]byte("a")), proto.AddrOf([]byte("b")), proto.AddrOf([]byte("c"))}

// value is the deterministic content stored under k with n bytes, so a Get
// can be checked byte for byte.
func value(k edgecache.Key, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = k.Addr[0] ^ byte(k.Chunk) ^ byte(i)
	}
	return out
}

// modelEntry is one entry of the reference model: a key and its data size.
type modelEntry struct {
	key  edgecache.Key
	size int
}

// model is the reference LRU: a slice, most recently used first, with the
// textbook policy written as plainly as possible.
type model struct {
	bytesMax uint64
	entries  []modelEntry
}

func (m *model) cost() uint64 {
	var sum uint64
	for _, e := range m.entries {
		sum += uint64(e.size) + edgecache.EntryOverheadBytes
	}
	return sum
}

func (m *model) find(k edgecache.Key) int {
	return slices.IndexFunc(m.entries, func(e modelEntry) bool { return e.key == k })
}

func (m *model) get(k edgecache.Key) (int, bool) {
	i := m.find(k)
	if i < 0 {
		return 0, false
	}
	e := m.entries[i]
	m.entries = append([]modelEntry{e}, slices.Delete(m.entries, i, i+1)...)
	return e.size, true
}

func (m *model) put(k edgecache.Key, size int) bool {
	cost := uint64(size) + edgecache.EntryOverheadBytes
	if m.bytesMax == 0 || size > edgecache.EntryBytesMax || cost > m.bytesMax {
		return false
	}
	if i := m.find(k); i >= 0 {
		m.entries = slices.Delete(m.entries, i, i+1)
	}
	for m.cost()+cost > m.bytesMax {
		m.entries = m.entries[:len(m.entries)-1]
	}
	m.entries = append([]modelEntry{{k, size}}, m.entries...)
	return true
}

func (m *model) remove(addr proto.Addr) int {
	before := len(m.entries)
	m.entries = slices.DeleteFunc(m.entries, func(e modelEntry) bool { return e.key.Addr == addr })
	return before - len(m.entries)
}

func (m *model) keys() []edgecache.Key {
	out := make([]edgecache.Key, 0, len(m.entries))
	for _, e := range m.entries {
		out = append(out, e.key)
	}
	return out
}

func keyGen() *rapid.Generator[edgecache.Key] {
	return rapid.Custom(func(t *rapid.T) edgecache.Key {
		addr := rapid.SampledFrom(addrs).Draw(t, "addr")
		if rapid.Bool().Draw(t, "whole") {
			return edgecache.ObjectKey(addr)
		}
		return edgecache.ChunkKey(addr, rapid.Uint32Range(0, 2).Draw(t, "chunk"))
	})
}

// TestCacheMatchesModel drives the cache and the model with the same random
// operations and compares contents, recency order and byte accounting
// after each one.
func TestCacheMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		bytesMax := rapid.Uint64Range(0, 3000).Draw(t, "bytesMax")
		c := edgecache.New(bytesMax)
		m := &model{bytesMax: bytesMax}
		t.Repeat(map[string]func(*rapid.T){
			"put": func(t *rapid.T) {
				k := keyGen().Draw(t, "key")
				size := rapid.IntRange(0, 1200).Draw(t, "size")
				err := c.Put(k, value(k, size))
				if ok := m.put(k, size); ok != (err == nil) {
					t.Fatalf("Put(%v, %d bytes) = %v, model accepts: %v", k, size, err, ok)
				}
			},
			"get": func(t *rapid.T) {
				k := keyGen().Draw(t, "key")
				data, ok := c.Get(k)
				size, want := m.get(k)
				if ok != want {
					t.Fatalf("Get(%v) found=%v, model %v", k, ok, want)
				}
				if ok && !bytes.Equal(data, value(k, size)) {
					t.Fatalf("Get(%v) returned %d bytes that differ from the %d put", k, len(data), size)
				}
			},
			"remove": func(t *rapid.T) {
				addr := rapid.SampledFrom(addrs).Draw(t, "addr")
				if got, want := c.Remove(addr), m.remove(addr); got != want {
					t.Fatalf("Remove dropped %d entries, model %d", got, want)
				}
			},
			"": func(t *rapid.T) {
				s := c.Stats()
				if s.Bytes > bytesMax {
					t.Fatalf("cache holds %d bytes over its bound %d", s.Bytes, bytesMax)
				}
				if s.Bytes != m.cost() || s.Entries != len(m.entries) {
					t.Fatalf("cache holds %d entries / %d bytes, model %d / %d", s.Entries, s.Bytes, len(m.entries), m.cost())
				}
				if got, want := c.Keys(), m.keys(); !slices.Equal(got, want) {
					t.Fatalf("recency order %v, model %v", got, want)
				}
			},
		})
	})
}

// TestEvictsLeastRecentlyUsed is one worked example: with room for two
// 100-byte values, reading a makes b the least recently used, so c evicts b.
func TestEvictsLeastRecentlyUsed(t *testing.T) {
	c := edgecache.New(2 * (100 + edgecache.EntryOverheadBytes))
	a, b, d := edgecache.ObjectKey(addrs[0]), edgecache.ObjectKey(addrs[1]), edgecache.ObjectKey(addrs[2])
	for _, k := range []edgecache.Key{a, b} {
		if err := c.Put(k, value(k, 100)); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := c.Get(a); !ok {
		t.Fatal("a missing before any eviction")
	}
	if err := c.Put(d, value(d, 100)); err != nil {
		t.Fatal(err)
	}
	if c.Contains(b) || !c.Contains(a) || !c.Contains(d) {
		t.Fatalf("after reading a and adding d, keys are %v; want d, a (b evicted)", c.Keys())
	}
	if s := c.Stats(); s.Evictions != 1 || s.Bytes != 2*(100+edgecache.EntryOverheadBytes) {
		t.Fatalf("stats %+v, want 1 eviction and a full cache", s)
	}
}

func TestRefusals(t *testing.T) {
	k := edgecache.ObjectKey(addrs[0])
	if err := edgecache.New(0).Put(k, nil); !errors.Is(err, edgecache.ErrDisabled) {
		t.Errorf("Put on a disabled cache = %v, want ErrDisabled", err)
	}
	big := edgecache.New(2 * edgecache.EntryBytesMax)
	if err := big.Put(k, make([]byte, edgecache.EntryBytesMax+1)); !errors.Is(err, edgecache.ErrTooLarge) {
		t.Errorf("Put above EntryBytesMax = %v, want ErrTooLarge", err)
	}
	if err := big.Put(k, make([]byte, edgecache.EntryBytesMax)); err != nil {
		t.Errorf("Put of exactly EntryBytesMax = %v", err)
	}
	small := edgecache.New(100)
	if err := small.Put(k, make([]byte, 100)); !errors.Is(err, edgecache.ErrTooLarge) {
		t.Errorf("Put whose cost exceeds the capacity = %v, want ErrTooLarge", err)
	}
	if s := small.Stats(); s.Refused != 1 || s.Entries != 0 {
		t.Errorf("after a refusal, stats %+v", s)
	}
}

// TestRemoveDropsChunks: Remove(addr) drops the whole object and every
// chunk of it, and nothing of other addresses.
func TestRemoveDropsChunks(t *testing.T) {
	c := edgecache.New(1 << 20)
	keys := []edgecache.Key{edgecache.ObjectKey(addrs[0]), edgecache.ChunkKey(addrs[0], 0), edgecache.ChunkKey(addrs[0], 7), edgecache.ChunkKey(addrs[1], 0)}
	for _, k := range keys {
		if err := c.Put(k, value(k, 10)); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.Remove(addrs[0]); n != 3 {
		t.Fatalf("Remove dropped %d entries, want 3", n)
	}
	if got := c.Keys(); !slices.Equal(got, keys[3:]) {
		t.Fatalf("left %v, want only %v", got, keys[3:])
	}
	if n := c.Remove(addrs[0]); n != 0 {
		t.Fatalf("second Remove dropped %d", n)
	}
}

func TestChunkKeyRejectsWholeObjectIndex(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("ChunkKey(addr, WholeObject) did not panic")
		}
	}()
	edgecache.ChunkKey(addrs[0], edgecache.WholeObject)
}

func TestHitRatio(t *testing.T) {
	var l edgecache.Lookups
	if r := l.HitRatio(); r != 0 {
		t.Fatalf("ratio before any lookup = %v", r)
	}
	for _, hit := range []bool{true, false, true, true} {
		l.Record(hit)
	}
	if r := l.HitRatio(); r != 0.75 {
		t.Fatalf("3 hits of 4 lookups gives ratio %v", r)
	}
}

// TestAdmitsChunksOf: chunks are admitted for objects up to
// BytesMax/ChunkedObjectFraction, never by a disabled cache; streaming an
// admitted object through a full cache evicts at most about that share.
func TestAdmitsChunksOf(t *testing.T) {
	const bytesMax = 64 << 20
	c := edgecache.New(bytesMax)
	limit := uint64(bytesMax / edgecache.ChunkedObjectFraction)
	if !c.AdmitsChunksOf(0) || !c.AdmitsChunksOf(limit) || c.AdmitsChunksOf(limit+1) || c.AdmitsChunksOf(1<<40) {
		t.Fatalf("admission around the limit %d is wrong", limit)
	}
	if edgecache.New(0).AdmitsChunksOf(0) {
		t.Fatal("a disabled cache admits chunks")
	}
	small := edgecache.New(1 << 20)
	const entry = 1 << 10
	for i := range (1 << 20) / (entry + edgecache.EntryOverheadBytes) {
		k := edgecache.ChunkKey(addrs[0], uint32(i))
		if err := small.Put(k, value(k, entry)); err != nil {
			t.Fatal(err)
		}
	}
	before := small.Stats()
	const chunk = 4 << 10
	object := uint64((1 << 20) / edgecache.ChunkedObjectFraction)
	if !small.AdmitsChunksOf(object) {
		t.Fatal("an object at the limit is refused")
	}
	for i := range uint32(object / chunk) {
		k := edgecache.ChunkKey(addrs[1], i)
		if err := small.Put(k, value(k, chunk)); err != nil {
			t.Fatal(err)
		}
	}
	evicted := (small.Stats().Evictions - before.Evictions) * (entry + edgecache.EntryOverheadBytes)
	if evicted > object+object/chunk*edgecache.EntryOverheadBytes+entry+edgecache.EntryOverheadBytes {
		t.Fatalf("streaming an admitted object of %d bytes evicted %d bytes of older entries", object, evicted)
	}
}

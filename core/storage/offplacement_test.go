package storage

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/ron-network/ron/core/proto"
)

// TestGoodCopyOutsidePlacementServesAndHeals: four members; the object's
// three placement nodes hold a chunk of it rotten, and the fourth (a
// pinned put's coordinator, not placed) holds it whole. Before, chunk
// fetches asked the placement nodes only, so a get through a placement
// node failed with "every copy of chunk ... was corrupt" for good and the
// heals found no source (the red team's rond cluster: 502s for 90 s,
// storage_repairs_total 0, while the fourth node served the bytes). Now a
// chunk every placement node failed is fetched from the object's other
// holders the DHT names (members only, verified), and the repair tick
// heals every placement copy from it: after a get (which heals its own
// copy, the others then heal from it too) and, with no get, from the
// scrub's finding the rot.
func TestGoodCopyOutsidePlacementServesAndHeals(t *testing.T) {
	t.Run("get", func(t *testing.T) { offPlacement(t, true) })
	t.Run("scrub and heal", func(t *testing.T) { offPlacement(t, false) })
}

func offPlacement(t *testing.T, get bool) {
	c := newCluster(t, 4, 71, Config{ChunkBytes: ChunkBytesMin})
	data := randomData(72, 3*ChunkBytesMin+100)
	addr := proto.AddrOf(data)
	placed, holder := c.placed(addr, 3), c.notPlaced(addr, 3)[0]
	if res := c.put(holder, data, true); res.Err != nil {
		t.Fatal(res.Err)
	}
	c.advance(time.Second)
	fakes := make([]*fakeDHT, len(c.nodes))
	for i, h := range c.nodes {
		fakes[i] = &fakeDHT{self: h.id, contacts: c.cfg.Members, providers: map[proto.Addr][]proto.NodeID{}}
		fakes[i].providers[addr] = []proto.NodeID{c.nodes[placed[0]].id, c.nodes[placed[1]].id, c.nodes[placed[2]].id, h.id, c.nodes[holder].id}
		h.st.cfg.DHT = fakes[i]
	}
	_, man := Split(data, ChunkBytesMin)
	key := string(diskKey(prefixChunk, man.Chunks[1].Addr))
	for _, i := range placed {
		if !c.durableCopy(i, addr) {
			t.Fatalf("placement node n%d does not hold the object", i)
		}
		bad := bytes.Clone(c.nodes[i].disk.State()[key])
		bad[7] ^= 0x10
		c.nodes[i].disk.Plant(key, bad)
	}
	if get {
		if got := c.get(placed[0], addr, 0, 0); got.Err != nil || !bytes.Equal(got.Data, data) {
			t.Fatalf("get through placement node n%d, every placement copy rotten: %v", placed[0], got.Err)
		}
	}
	if !c.c.RunUntil(2*time.Minute, func() bool {
		for _, i := range placed {
			if !c.durableCopy(i, addr) {
				return false
			}
		}
		return true
	}) {
		t.Fatal("the placement copies were not healed from the copy outside the placement")
	}
	for _, i := range placed {
		if got := c.metric(i, MetricHeals, HealReplica); got < 1 {
			t.Fatalf("n%d: %s{%s} = %v, want at least 1", i, MetricHeals, HealReplica, got)
		}
		if got := c.get(i, addr, 0, 0); got.Err != nil || !bytes.Equal(got.Data, data) {
			t.Fatalf("get through n%d after the heal: %v", i, got.Err)
		}
	}
}

// TestWideFetchOneLookupPerGet: three of an object's four chunks are
// rotten on every placement node; a get through one of them fetches each
// from the copy outside the placement the DHT names. Before, each chunk
// looked the object's providers up again (three lookups of one object in
// one get); now the get's chunks share one.
func TestWideFetchOneLookupPerGet(t *testing.T) {
	c, fakes, addr, data, reader := wideFetchCluster(t)
	if got := c.get(reader, addr, 0, 0); got.Err != nil || !bytes.Equal(got.Data, data) {
		t.Fatalf("get through placement node n%d, three chunks rotten on every placement node: %v", reader, got.Err)
	}
	if got := fakes[reader].finds; got != 1 {
		t.Fatalf("the get looked the object's providers up %d times, want 1", got)
	}
}

// TestWideFetchLookupFailureNotFinal: as above, but the DHT refuses the
// get's first lookup (ErrOverloaded: LookupsInflightMax in flight) and
// answers the next. Before, the failed lookup's empty answer was final
// for the whole get: every rotten chunk failed with ErrCorruption though
// the DHT would have answered a second lookup. Now the chunks waiting
// for it wait for a new lookup (at most ProviderLookupsMax per get), and
// a DHT that refuses every one fails the get as before, after
// ProviderLookupsMax lookups.
func TestWideFetchLookupFailureNotFinal(t *testing.T) {
	t.Run("refused once", func(t *testing.T) {
		c, fakes, addr, data, reader := wideFetchCluster(t)
		fakes[reader].refuse = 1
		if got := c.get(reader, addr, 0, 0); got.Err != nil || !bytes.Equal(got.Data, data) {
			t.Fatalf("get through placement node n%d, the first lookup refused: %v", reader, got.Err)
		}
		if got := fakes[reader].finds; got != 2 {
			t.Fatalf("the get looked the object's providers up %d times, want 2", got)
		}
	})
	t.Run("refused always", func(t *testing.T) {
		c, fakes, addr, _, reader := wideFetchCluster(t)
		fakes[reader].refuse = 1 << 20
		if got := c.get(reader, addr, 0, 0); !errors.Is(got.Err, ErrCorruption) {
			t.Fatalf("get through placement node n%d, every lookup refused: %v, want ErrCorruption", reader, got.Err)
		}
		if got := fakes[reader].finds; got != ProviderLookupsMax {
			t.Fatalf("the get looked the object's providers up %d times, want %d", got, ProviderLookupsMax)
		}
	})
}

// wideFetchCluster: four members, an object whose chunks 0, 1 and 3 are
// rotten on every placement node and whole on the fourth (a pinned put's
// coordinator) the DHT names; reader is a placement node.
func wideFetchCluster(t *testing.T) (c *cluster, fakes []*fakeDHT, addr proto.Addr, data []byte, reader int) {
	c = newCluster(t, 4, 73, noRepair)
	data = randomData(74, 3*ChunkBytesMin+100)
	addr = proto.AddrOf(data)
	placed, holder := c.placed(addr, 3), c.notPlaced(addr, 3)[0]
	if res := c.put(holder, data, true); res.Err != nil {
		t.Fatal(res.Err)
	}
	c.advance(time.Second)
	fakes = make([]*fakeDHT, len(c.nodes))
	for i, h := range c.nodes {
		fakes[i] = &fakeDHT{self: h.id, contacts: c.cfg.Members, providers: map[proto.Addr][]proto.NodeID{}}
		fakes[i].providers[addr] = []proto.NodeID{c.nodes[placed[0]].id, c.nodes[placed[1]].id, c.nodes[placed[2]].id, c.nodes[holder].id}
		h.st.cfg.DHT = fakes[i]
	}
	_, man := Split(data, ChunkBytesMin)
	for _, k := range []int{0, 1, 3} {
		key := string(diskKey(prefixChunk, man.Chunks[k].Addr))
		for _, i := range placed {
			bad := bytes.Clone(c.nodes[i].disk.State()[key])
			bad[3] ^= 0x01
			c.nodes[i].disk.Plant(key, bad)
		}
	}
	return c, fakes, addr, data, placed[0]
}

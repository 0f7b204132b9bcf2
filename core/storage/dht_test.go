package storage

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/ron-network/ron/core/dht"
	"github.com/ron-network/ron/core/proto"
)

var _ DHT = (*dht.DHT)(nil)

// fakeDHT answers Closest from a fixed contact list and records provides.
type fakeDHT struct {
	self      proto.NodeID
	contacts  []proto.NodeID
	provided  []proto.Addr
	providers map[proto.Addr][]proto.NodeID
	finds     int // FindProvidersAsync calls
	refuse    int // refuse the next refuse FindProvidersAsync calls (ErrOverloaded)
}

func (f *fakeDHT) Closest(target proto.NodeID, n int) []proto.NodeID {
	out := slices.DeleteFunc(slices.Clone(f.contacts), func(id proto.NodeID) bool { return id == f.self })
	slices.SortFunc(out, func(a, b proto.NodeID) int { return compareDistance(a, b, target) })
	return out[:min(n, len(out))]
}

func (f *fakeDHT) ProvideAsync(addr proto.Addr, done func(dht.ProvideResult)) {
	f.provided = append(f.provided, addr)
	done(dht.ProvideResult{Stored: 1})
}

func (f *fakeDHT) FindProvidersAsync(addr proto.Addr, max int, done func(dht.ProvidersResult)) {
	f.finds++
	if f.refuse > 0 {
		f.refuse--
		done(dht.ProvidersResult{Err: dht.ErrOverloaded}) // at once, as LookupsInflightMax does
		return
	}
	var res dht.ProvidersResult
	for _, p := range f.providers[addr] {
		res.Providers = append(res.Providers, dht.ProviderRecord{Provider: p})
	}
	done(res)
}

// TestDHTPlacementAndProviders: without Members, placement comes from the
// DHT; committed objects are announced; a get falls back to providers.
func TestDHTPlacementAndProviders(t *testing.T) {
	c := newCluster(t, 5, 40, smallChunks)
	fakes := make([]*fakeDHT, len(c.nodes))
	ids := c.cfg.Members
	for i := range c.nodes {
		fakes[i] = &fakeDHT{self: c.nodes[i].id, contacts: ids, providers: map[proto.Addr][]proto.NodeID{}}
		cfg := c.cfg
		cfg.Members, cfg.DHT = nil, fakes[i]
		c.crash(i)
		h := c.nodes[i]
		c.cfg = cfg
		c.start(i)
		h.st.cfg.DHT = fakes[i]
	}
	c.step()
	data := randomData(40, 2*ChunkBytesMin)
	res := c.put(0, data, false)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	c.advance(time.Second)
	placed := c.placed(res.Addr, 3)
	for _, i := range placed {
		if !c.nodes[i].st.HasLocal(res.Addr) || !slices.Contains(fakes[i].provided, res.Addr) {
			t.Fatalf("placement node %d: local %v, provided %v", i, c.nodes[i].st.HasLocal(res.Addr), fakes[i].provided)
		}
	}
	// A reader whose routing table knows nobody finds the object through
	// the DHT's providers.
	reader := c.notPlaced(res.Addr, 3)[0]
	fakes[reader].contacts = nil
	fakes[reader].providers[res.Addr] = []proto.NodeID{c.nodes[placed[1]].id}
	got := c.get(reader, res.Addr, 0, 0)
	if got.Err != nil || !bytes.Equal(got.Data, data) {
		t.Fatalf("get through providers: %v", got.Err)
	}
}

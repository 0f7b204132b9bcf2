package dht

import (
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// TestProvideThenFindProviders: a record provided by one node is found by
// others, survives past its TTL while the provider republishes, and is
// no longer returned once the provider is gone and the TTL has passed.
func TestProvideThenFindProviders(t *testing.T) {
	cfg := netConfig()
	cfg.RefreshInterval = time.Minute // keep the long idle stretches idle
	cfg.ProviderTTL = 2 * time.Minute
	cfg.RepublishInterval = time.Minute
	net := newTestNet(t, 3, 200, 3, cfg)
	net.startAll(10*time.Millisecond, 20*time.Second)
	addr := proto.AddrOf([]byte("the object"))
	provider := net.nodes[5]

	id := net.request(5, Provide{Addr: addr})
	res := net.await([]env.RequestID{id}, time.Minute)[id].(ProvideResult)
	if res.Err != nil || res.Stored != KDefault {
		t.Fatalf("provide: stored %d, err %v; want %d acks", res.Stored, res.Err, KDefault)
	}
	find := func(from int) ProvidersResult {
		id := net.request(from, FindProviders{Addr: addr})
		return net.await([]env.RequestID{id}, time.Minute)[id].(ProvidersResult)
	}
	found := func(r ProvidersResult) bool {
		return len(r.Providers) == 1 && r.Providers[0].Provider == provider.id && r.Providers[0].Addr == addr
	}
	for _, from := range []int{100, 150, 199} {
		if r := find(from); !found(r) || r.Err != nil {
			t.Fatalf("node %d: providers %d, err %v; want the provider", from, len(r.Providers), r.Err)
		}
	}

	net.run(3 * time.Minute) // beyond the TTL: only republishing keeps it
	if r := find(120); !found(r) {
		t.Fatalf("after 3m with republish: %d providers", len(r.Providers))
	}

	net.crash(5)
	net.run(3 * time.Minute)
	if r := find(130); len(r.Providers) != 0 {
		t.Fatalf("provider gone for longer than the TTL, still %d records returned", len(r.Providers))
	}
	if got := net.metric(MetricProviderRecords, ""); got != 0 {
		t.Errorf("dht_provider_records summed over nodes = %v after expiry, want 0", got)
	}
	net.checkDeep()
}

// TestDeterminism: the same seed gives the same frames, byte for byte and
// in the same order; another seed gives different ones.
func TestDeterminism(t *testing.T) {
	run := func(seed uint64) (uint64, int) {
		net := newTestNet(t, seed, 60, 3, netConfig())
		net.setLoss(0.05)
		net.startAll(10*time.Millisecond, 15*time.Second)
		r := env.NewRand(seed)
		var ids []env.RequestID
		for i := 0; i < 20; i++ {
			var target proto.NodeID
			r.Fill(target[:])
			ids = append(ids, net.request(r.Intn(len(net.nodes)), FindNode{Target: target}))
		}
		ids = append(ids, net.request(7, Provide{Addr: proto.AddrOf([]byte("d"))}))
		net.await(ids, time.Minute)
		return net.hash, net.sent
	}
	h1, n1 := run(42)
	h2, n2 := run(42)
	if h1 != h2 || n1 != n2 {
		t.Fatalf("same seed: %d frames hash %x, then %d frames hash %x", n1, h1, n2, h2)
	}
	if h3, _ := run(43); h3 == h1 {
		t.Fatalf("different seeds gave the same trace hash %x", h1)
	}
	t.Logf("%d frames, trace hash %x", n1, h1)
}

package dht

import (
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// TestRepublishFlagOffLetsRecordsExpireAndOnRenewsThem: with the flag off
// the provider's record is not renewed and is gone after the TTL (lookups
// still answer, with no wrong provider); switched back on, the next
// republish makes the content findable again.
func TestRepublishFlagOffLetsRecordsExpireAndOnRenewsThem(t *testing.T) {
	cfg := netConfig()
	cfg.RefreshInterval = time.Minute
	cfg.ProviderTTL = 2 * time.Minute
	cfg.RepublishInterval = time.Minute
	net := newTestNet(t, 3, 60, 3, cfg)
	net.startAll(10*time.Millisecond, 20*time.Second)
	addr := proto.AddrOf([]byte("flagged object"))
	provider := net.nodes[5]
	await := func(i int, body any) any {
		id := net.request(i, body)
		return net.await([]env.RequestID{id}, time.Minute)[id]
	}
	if res := await(5, Provide{Addr: addr}).(ProvideResult); res.Err != nil || res.Stored == 0 {
		t.Fatalf("provide: %+v", res)
	}
	if got := await(5, SetRepublish{Enabled: false}); got != (SetRepublish{Enabled: false}) {
		t.Fatalf("SetRepublish replied %#v", got)
	}
	net.run(3 * time.Minute) // beyond the TTL, without republishing
	r := await(40, FindProviders{Addr: addr}).(ProvidersResult)
	if len(r.Providers) != 0 {
		t.Fatalf("republish off for longer than the TTL: still %d providers", len(r.Providers))
	}
	await(5, SetRepublish{Enabled: true})
	net.run(2 * time.Minute) // the overdue republish runs at the next tick
	r = await(41, FindProviders{Addr: addr}).(ProvidersResult)
	if len(r.Providers) != 1 || r.Providers[0].Provider != provider.id {
		t.Fatalf("republish back on: providers %+v, err %v", r.Providers, r.Err)
	}
	net.checkDeep()
}

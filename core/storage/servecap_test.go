package storage

import (
	"testing"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// TestFetchChunkServesPerPeer: a peer that keeps asking a holder for
// chunks (and need never read the replies) has at most ServesPerPeerMax
// reads in flight there; every request past them is answered statusBusy
// at once, without a read, and counted (ReasonPeerBusy). Another peer is
// still served, and the flooder is served again once its reads
// completed. The old code submitted a read for every request: one peer
// could queue up to DiskJobsMax chunk reads (and their replies) ahead of
// every other peer's and client's disk work.
func TestFetchChunkServesPerPeer(t *testing.T) {
	const cb = 64 << 10
	c, _, res := stored3Chunks(t, 71)
	holder := c.placed(res.Addr, 3)[0]
	others := c.notPlaced(res.Addr, 3)
	flooder, honest := others[0], others[1]
	ch := c.nodes[holder].st.index.committed(res.Addr).manifest.Chunks[1] // at cb
	replies := map[proto.NodeID]map[uint64]status{}
	prev := c.c.Sent
	c.c.Sent = func(src int, dst proto.NodeID, frame []byte) {
		if src != holder {
			return
		}
		if h, r, err := decodeFrame(frame); err == nil && r.kind == kindReply {
			if replies[dst] == nil {
				replies[dst] = map[uint64]status{}
			}
			replies[dst][h.CorrID] = r.status
		}
	}
	defer func() { c.c.Sent = prev }()
	ask := func(from int, corr uint64) {
		// Handed to the holder's node directly, no step between: the
		// reads submitted stay in flight until the cluster runs.
		c.c.Members[holder].Node.Step(env.Message{From: c.nodes[from].id, Frame: encodeFrame(corr, &message{kind: kindFetchChunk, addr: ch.Addr, offset: cb})})
	}
	const asked = 3 * ServesPerPeerMax
	jobs, busy := len(c.nodes[holder].st.jobs), c.metric(holder, MetricRejects, ReasonPeerBusy)
	for i := range uint64(asked) {
		ask(flooder, 0x5e00+i)
	}
	fl := replies[c.nodes[flooder].id]
	if len(fl) != asked-ServesPerPeerMax {
		t.Fatalf("%d of %d requests answered before any read completed; want %d (all past ServesPerPeerMax %d)", len(fl), asked, asked-ServesPerPeerMax, ServesPerPeerMax)
	}
	for corr, st := range fl {
		if st != statusBusy || corr < 0x5e00+ServesPerPeerMax {
			t.Fatalf("request %#x answered status %d before its read; want only those past the first %d, busy", corr, st, ServesPerPeerMax)
		}
	}
	if n := len(c.nodes[holder].st.jobs) - jobs; n != ServesPerPeerMax {
		t.Fatalf("the flood put %d reads in flight; want %d", n, ServesPerPeerMax)
	}
	if got := c.metric(holder, MetricRejects, ReasonPeerBusy) - busy; got != asked-ServesPerPeerMax {
		t.Fatalf("%s{reason=%q} rose by %v; want %d", MetricRejects, ReasonPeerBusy, got, asked-ServesPerPeerMax)
	}
	// Another peer's request is read, not shed, with the flooder's
	// reads in flight.
	ask(honest, 0x6e00)
	if _, answered := replies[c.nodes[honest].id][0x6e00]; answered {
		t.Fatalf("the other peer's request was answered %d before its read", replies[c.nodes[honest].id][0x6e00])
	}
	c.step()
	if st := replies[c.nodes[honest].id][0x6e00]; st != statusOK {
		t.Fatalf("the other peer's request: status %d; want statusOK", st)
	}
	for i := range uint64(ServesPerPeerMax) {
		if st := fl[0x5e00+i]; st != statusOK {
			t.Fatalf("flood request %d (within the bound): status %d; want statusOK", i, st)
		}
	}
	if len(c.nodes[holder].st.serving) != 0 {
		t.Fatalf("serves in flight after every read completed: %v", c.nodes[holder].st.serving)
	}
	// Its reads done, the flooder is served again.
	if rep := c.askChunk(flooder, holder, ch.Addr, cb); rep.status != statusOK || !chunkMatches(ch.Addr, cb, rep.data) {
		t.Fatalf("the flooder's request after its reads completed: status %d; want statusOK and the chunk", rep.status)
	}
}

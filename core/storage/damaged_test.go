package storage

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// TestDamagedChunkReadOnce: a chunk marked damaged (it failed its check
// at its known offset) is not read again until it is healed, except by
// a re-read at most once per RepairInterval when no source serves it, so
// its damage is counted once: a peer's FetchChunk is answered
// statusCorrupt without a read, a get fetches the chunk from the
// replicas (and fails as unavailable while none answers), and once the
// tick healed it the local copy is served again. The old
// code read and counted the chunk once per request until the heal.
func TestDamagedChunkReadOnce(t *testing.T) {
	for _, diskChecks := range []bool{true, false} {
		t.Run(fmt.Sprintf("diskChecks=%v", diskChecks), func(t *testing.T) {
			c := newCluster(t, 5, 4, smallChunks)
			for _, n := range c.nodes {
				n.disk.IgnoreChecks = !diskChecks
			}
			data := randomData(11, 4*ChunkBytesMin)
			res := c.put(0, data, false)
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			c.advance(time.Second)
			victim, chunk, key := c.rotChunk(res.Addr, data, 2, 100, 0x40)
			off := uint64(2 * ChunkBytesMin)
			peer := c.notPlaced(res.Addr, 3)[0]
			d := c.nodes[victim].disk
			st := func() *Storage { return c.nodes[victim].st }
			count := func() float64 { return c.metric(victim, MetricCorruption, "") }

			// The first request reads the chunk, finds it corrupt, counts it
			// and marks it damaged; the second is answered without a read.
			for k := range 2 {
				gets := d.gets
				if rep := c.askChunk(peer, victim, chunk, off); rep.status != statusCorrupt {
					t.Fatalf("FetchChunk %d of the rotten chunk: status %d, want statusCorrupt", k, rep.status)
				}
				if n := count(); n != 1 {
					t.Fatalf("after FetchChunk %d corruption counted %v times, want 1", k, n)
				}
				if _, ok := st().damaged[chunk]; !ok {
					t.Fatalf("after FetchChunk %d the chunk is not marked damaged", k)
				}
				if k == 1 && d.gets != gets {
					t.Fatalf("FetchChunk of a chunk marked damaged read the disk %d times", d.gets-gets)
				}
			}

			// No replica reachable: the get cannot heal it, and fails as
			// unavailable; the damaged copy is read again at most once per
			// RepairInterval (by the get or the tick, once no source
			// served it: rereadDue), not per request, and counted once.
			for i, n := range c.nodes {
				if i != victim {
					c.cut[n.id] = true
				}
			}
			gets, start := d.gets, st().env.Now()
			var got GetResult
			for range 3 {
				got = c.get(victim, res.Addr, off, 10)
				if !errors.Is(got.Err, ErrUnavailable) {
					t.Fatalf("get of the damaged chunk, replicas cut off: %v; want ErrUnavailable", got.Err)
				}
			}
			if most := 1 + int(st().env.Now().Sub(start)/smallChunks.RepairInterval); d.gets-gets > most {
				t.Fatalf("3 gets of the damaged chunk over %v read the disk %d times, want at most %d", st().env.Now().Sub(start), d.gets-gets, most)
			}
			if n := count(); n != 1 {
				t.Fatalf("after a get of the damaged chunk corruption counted %v times, want 1", n)
			}

			// Reachable again: the tick heals it, and a get reads it locally.
			clear(c.cut)
			c.advance(2 * time.Second)
			if !bytes.Equal(d.Durable()[key], data[off:off+ChunkBytesMin]) {
				t.Fatal("the damaged chunk was not healed")
			}
			if len(st().damaged) != 0 {
				t.Fatalf("%d chunks still marked damaged after the heal", len(st().damaged))
			}
			read := d.chunkBytesRead
			got = c.get(victim, res.Addr, 0, 0)
			if got.Err != nil || !bytes.Equal(got.Data, data) {
				t.Fatalf("get after the heal: err %v, equal %v", got.Err, bytes.Equal(got.Data, data))
			}
			if n := d.chunkBytesRead - read; n != len(data) {
				t.Fatalf("get after the heal read %d chunk bytes locally, want %d (every chunk)", n, len(data))
			}
			if n := count(); n != 1 {
				t.Fatalf("corruption counted %v times in all, want 1", n)
			}
		})
	}
}

// TestStoreChunkFullStagedTableWritesNothing: with one staged slot left,
// two pushes of new chunks arriving together take the slot and a
// refusal (statusBusy) before any byte is written, so every chunk
// written is staged and its bytes are never orphaned. The old code
// checked the table before the writes and staged after them: both were
// admitted and written, the second was not staged (missing at its
// commit) and its bytes stayed on disk, referenced by nothing, until
// the orphan sweep after a restart.
func TestStoreChunkFullStagedTableWritesNothing(t *testing.T) {
	peer := outsidePeer
	c := newCluster(t, 1, 43, withOutsidePeer(smallChunks))
	h := c.nodes[0]
	st := h.st
	for i := range StagedChunksMax - 1 {
		st.index.stage(proto.Addr{0xfa, byte(i >> 8), byte(i)}, stagedChunk{at: st.env.Now(), size: 1, from: proto.NodeID{byte(i % 8), 0xfa}})
	}
	a, b := randomData(431, 1000), randomData(432, 2000)
	replies := map[uint64]status{}
	c.c.Sent = func(src int, dst proto.NodeID, frame []byte) {
		if h, r, err := decodeFrame(frame); err == nil && dst == peer && r.kind == kindReply {
			replies[h.CorrID] = r.status
		}
	}
	// Both arrive before either write completes.
	c.handle(h, env.Message{From: peer, Frame: encodeFrame(1, &message{kind: kindStoreChunk, addr: proto.AddrOf(a), data: a})})
	c.handle(h, env.Message{From: peer, Frame: encodeFrame(2, &message{kind: kindStoreChunk, addr: proto.AddrOf(b), data: b})})
	c.step()
	for key := range h.disk.State() {
		if !strings.HasPrefix(key, prefixChunk) {
			continue
		}
		chunk, ok := addrFromKey(prefixChunk, []byte(key))
		if !ok || !st.index.hasChunk(chunk) {
			t.Fatalf("chunk %s written but neither staged nor referenced: orphaned", key)
		}
	}
	if _, ok := h.disk.State()[string(diskKey(prefixChunk, proto.AddrOf(b)))]; ok {
		t.Fatal("the refused push's chunk was written")
	}
	if replies[1] != statusOK || replies[2] != statusBusy {
		t.Fatalf("replies to the two pushes: %d and %d, want statusOK (%d) and statusBusy (%d)", replies[1], replies[2], statusOK, statusBusy)
	}
}

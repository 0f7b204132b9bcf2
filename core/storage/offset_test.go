package storage

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
	"pgregory.net/rapid"
)

// A chunk key binds the chunk's offset in its object, but the keys do not
// bind the sizes of the chunks before the last: a manifest may move a
// chunk (claim a 64 KiB chunk as 32 KiB, and the next one at 32 KiB)
// while its keys still merge to the address. These tests check that a
// check failed at an offset other than the chunk's known one is held
// against whoever named the offset (a requester, a manifest), never
// against the node's disk.

// exchange hands node to the request m from node from (corr), runs the
// cluster until nothing is due, and returns to's reply: assertions on it
// and on to's counters come once the reply was sent, not after waiting.
func (c *cluster) exchange(from, to int, corr uint64, m *message) message {
	c.t.Helper()
	var reply *message
	prev := c.c.Sent
	c.c.Sent = func(src int, dst proto.NodeID, frame []byte) {
		if src != to || dst != c.nodes[from].id {
			return
		}
		if h, r, err := decodeFrame(frame); err == nil && h.CorrID == corr && r.kind == kindReply {
			reply = &r
		}
	}
	defer func() { c.c.Sent = prev }()
	c.c.Members[to].Node.Step(env.Message{From: c.nodes[from].id, Frame: encodeFrame(corr, m)})
	c.step()
	if reply == nil {
		c.t.Fatalf("node %d did not answer a request of kind %d from node %d", to, m.kind, from)
	}
	return *reply
}

// askChunk has node from ask node to for chunk ch at offset off (a
// FetchChunk, as fetchChunkFrom sends it) and returns the reply.
func (c *cluster) askChunk(from, to int, ch proto.Addr, off uint64) message {
	c.t.Helper()
	return c.exchange(from, to, 0xfeed_0001, &message{kind: kindFetchChunk, addr: ch, offset: off})
}

// TestFetchChunkAtWrongOffsetNotDamage: a peer asking for a held chunk at
// an offset its held manifests do not list it at gets no bytes
// (statusBad: "held, not there"), and the holder reads nothing, counts no
// corruption, marks nothing damaged, so heals nothing. The same chunk at
// its offset is served; once it rots on disk, a fetch at its offset is
// corruption (counted, marked, healed), and one at a wrong offset still
// is not counted again. The old code checked the chunk at the
// requester's offset and took the failure for damage: any peer could make
// an honest node count corruption and heal a healthy chunk.
func TestFetchChunkAtWrongOffsetNotDamage(t *testing.T) {
	const cb = 64 << 10
	c, data, res := stored3Chunks(t, 61)
	holder, asker := c.placed(res.Addr, 3)[0], c.notPlaced(res.Addr, 3)[0]
	b := c.nodes[holder].st.index.committed(res.Addr).manifest.Chunks[1] // 64 KiB at 64 KiB
	d := c.nodes[holder].disk
	read, repairs := d.chunkBytesRead, c.metric(holder, MetricRepairs, "")
	for _, off := range []uint64{0, cb / 2, 2 * cb, 3 * cb, cb + GroupBytes} {
		rep := c.askChunk(asker, holder, b.Addr, off)
		if rep.status != statusBad || len(rep.data) != 0 {
			t.Fatalf("fetch of chunk 1 at offset %d: status %d, %d bytes; want statusBad and none", off, rep.status, len(rep.data))
		}
		c.noDamage(holder)
	}
	if d.chunkBytesRead != read || c.metric(holder, MetricRepairs, "") != repairs {
		t.Fatalf("the refused fetches read %d chunk bytes and healed %v chunks", d.chunkBytesRead-read, c.metric(holder, MetricRepairs, "")-repairs)
	}
	if rep := c.askChunk(asker, holder, b.Addr, cb); rep.status != statusOK || !bytes.Equal(rep.data, data[cb:2*cb]) {
		t.Fatalf("fetch of chunk 1 at its offset: status %d, %d bytes", rep.status, len(rep.data))
	}

	// Rotten on disk: a fetch at its offset is corruption.
	key := string(diskKey(prefixChunk, b.Addr))
	bad := bytes.Clone(d.State()[key])
	bad[100] ^= 0x10
	d.Plant(key, bad)
	if rep := c.askChunk(asker, holder, b.Addr, cb); rep.status != statusCorrupt || len(rep.data) != 0 {
		t.Fatalf("fetch of the rotten chunk at its offset: status %d, %d bytes; want statusCorrupt", rep.status, len(rep.data))
	}
	if m := c.metric(holder, MetricCorruption, ""); m != 1 {
		t.Fatalf("%v corruptions counted for the rotten chunk; want 1", m)
	}
	if _, ok := c.nodes[holder].st.damaged[b.Addr]; !ok {
		t.Fatal("the rotten chunk was not marked damaged")
	}
	if rep := c.askChunk(asker, holder, b.Addr, 2*cb); rep.status != statusBad {
		t.Fatalf("fetch of the rotten chunk at a wrong offset: status %d; want statusBad", rep.status)
	}
	if m := c.metric(holder, MetricCorruption, ""); m != 1 {
		t.Fatalf("%v corruptions counted after a fetch at a wrong offset; want still 1", m)
	}
	c.advance(time.Second)
	if !bytes.Equal(d.Durable()[key], data[cb:2*cb]) {
		t.Fatal("the rotten chunk was not healed")
	}
}

// TestFetchStagedChunkAtWrongOffset: a chunk held only staged (pushed,
// its commit not yet come) is located at the offset its push was
// verified at: a fetch at another offset is refused (statusBad) with no
// read, no corruption counted and nothing marked (the old code counted
// it).
func TestFetchStagedChunkAtWrongOffset(t *testing.T) {
	data := randomData(63, 3*ChunkBytesMin)
	_, man := Split(data, ChunkBytesMin)
	c := newCluster(t, 2, 63, smallChunks)
	ch := man.Chunks[1]
	c.c.Members[0].Node.Step(env.Message{From: c.nodes[1].id, Frame: encodeFrame(1, &message{kind: kindStoreChunk, addr: ch.Addr, offset: ChunkBytesMin, data: data[ChunkBytesMin : 2*ChunkBytesMin]})})
	c.step()
	if _, staged := c.nodes[0].st.index.staged[ch.Addr]; !staged {
		t.Fatal("the pushed chunk was not staged")
	}
	if rep := c.askChunk(1, 0, ch.Addr, 2*ChunkBytesMin); rep.status != statusBad || len(rep.data) != 0 {
		t.Fatalf("fetch of a staged chunk at a wrong offset: status %d, %d bytes; want statusBad", rep.status, len(rep.data))
	}
	c.noDamage(0)
	if rep := c.askChunk(1, 0, ch.Addr, ChunkBytesMin); rep.status != statusOK || !bytes.Equal(rep.data, data[ChunkBytesMin:2*ChunkBytesMin]) {
		t.Fatalf("fetch of a staged chunk at its offset: status %d, %d bytes", rep.status, len(rep.data))
	}
}

// TestGetChunkAtWrongOffsetIsBadRequest: a GetChunk naming a held chunk
// at an aligned offset other than its own is a bad request, found before
// any read: nothing counted or marked (the old code read the chunk, took
// the failed check for damage and asked the peers, which did the same).
func TestGetChunkAtWrongOffsetIsBadManifest(t *testing.T) {
	const cb = 64 << 10
	c, _, res := stored3Chunks(t, 65)
	holder := c.placed(res.Addr, 3)[0]
	b := c.nodes[holder].st.index.committed(res.Addr).manifest.Chunks[1]
	got, ok := c.request(holder, GetChunk{Addr: res.Addr, Chunk: b, Offset: 2 * cb}, time.Minute).(GetResult)
	if !ok || !errors.Is(got.Err, ErrBadManifest) {
		t.Fatalf("GetChunk at a wrong offset: %v; want ErrBadManifest", got.Err)
	}
	for n := range c.nodes {
		c.noDamage(n)
	}
}

// movedChunks is the lie told about stored3Chunks' object (two 64 KiB
// chunks and a 40,000-byte one): its first two chunks claimed as 32 KiB
// each, which moves the second to 32 KiB and the last to 64 KiB while the
// keys still merge to the address (checkFor passes).
func movedChunks(t *testing.T, honest Manifest, addr proto.Addr) Manifest {
	t.Helper()
	lie := Manifest{Chunks: slices.Clone(honest.Chunks)}
	lie.Chunks[0].Size /= 2
	lie.Chunks[1].Size /= 2
	for _, ch := range lie.Chunks {
		lie.Size += uint64(ch.Size)
	}
	if err := lie.checkFor(addr); err != nil {
		t.Fatalf("the moved-chunk manifest does not pass checkFor: %v", err)
	}
	return lie
}

// getWithLiars runs req on node reader while the placement nodes liars
// answer a FetchManifest of addr with lie instead of their (honest)
// manifest: liars whose disks and indexes are honest, so they serve
// their chunks truthfully. It returns the reply and counts the reader's
// FetchChunk frames per chunk.
func (c *cluster) getWithLiars(reader int, liars []int, lie Manifest, req Get) (GetResult, map[proto.Addr]int) {
	c.t.Helper()
	reply, fetches := c.requestWithLiars(reader, liars, lie, req.Addr, req, honestChunks)
	got, ok := reply.(GetResult)
	if !ok {
		c.t.Fatalf("get on node %d: no GetResult", reader)
	}
	return got, fetches
}

// requestWithLiars is getWithLiars for any request about object addr;
// chunks says how the liars answer FetchChunk: truthfully, not at all (a
// liar that serves its manifest and then keeps quiet), or statusCorrupt
// whatever they hold. It returns the reply.
func (c *cluster) requestWithLiars(reader int, liars []int, lie Manifest, addr proto.Addr, req any, chunks liarChunks) (any, map[proto.Addr]int) {
	c.t.Helper()
	var rw rewrites
	fetches := map[proto.Addr]int{}
	c.c.Sent = func(src int, _ proto.NodeID, frame []byte) {
		if _, m, err := decodeFrame(frame); src == reader && err == nil && m.kind == kindFetchChunk {
			fetches[m.addr]++
		}
	}
	c.c.Drop = func(src, dst int, frame []byte) bool {
		if dst != reader || !slices.Contains(liars, src) {
			return false
		}
		h, m, err := decodeFrame(frame)
		if err == nil && chunks != honestChunks && m.kind == kindReply && m.addr != addr {
			if chunks == corruptChunks { // a chunk's answer, replaced
				rw.add(src, h.CorrID, &message{kind: kindReply, addr: m.addr, status: statusCorrupt})
			}
			return true
		}
		if err != nil || m.kind != kindReply || m.status != statusOK || m.addr != addr || len(m.data) == 0 {
			return false
		}
		if _, derr := DecodeManifest(m.data); derr != nil {
			return false
		}
		rw.add(src, h.CorrID, &message{kind: kindReply, addr: addr, status: statusOK, data: AppendManifest(nil, &lie)})
		return true
	}
	defer func() { c.c.Drop, c.c.Sent = nil, nil }()
	c.applyNet()
	reply := c.requestRewritten(reader, req, &rw)
	c.c.RunFor(0)
	return reply, fetches
}

// rewrites holds the replies a test's Drop hook swallowed and replaced,
// until requestRewritten steps them into the requester, in order.
type rewrites struct {
	frames [][]byte
	from   []int
}

// add queues m (a reply to corr) as if node src had sent it.
func (rw *rewrites) add(src int, corr uint64, m *message) {
	rw.frames = append(rw.frames, encodeFrame(corr, m))
	rw.from = append(rw.from, src)
}

// requestRewritten runs req on node reader until it is answered, stepping
// into it each replacement reply rw holds as soon as the Drop hook queued
// it, and returns the answer.
func (c *cluster) requestRewritten(reader int, req any, rw *rewrites) any {
	c.t.Helper()
	id := c.c.Request(reader, ServiceName, req)
	replies := c.c.Members[reader].Replies
	for {
		c.c.RunUntil(time.Minute, func() bool { _, ok := replies[id]; return ok || len(rw.frames) > 0 })
		if len(rw.frames) == 0 {
			return replies[id]
		}
		frame, src := rw.frames[0], rw.from[0]
		rw.frames, rw.from = rw.frames[1:], rw.from[1:]
		c.c.Members[reader].Node.Step(env.Message{From: c.nodes[src].id, Frame: frame})
	}
}

// TestMovedChunkManifestSkipped: a placement node that serves a manifest
// moving chunks (movedChunks) costs a get one candidate: the get drops it
// and succeeds from an honest candidate, or fails with ErrBadManifest
// when every candidate lies; no node counts corruption or marks a chunk
// damaged. A reader that holds none of the chunks learns the lie from
// the holders (they refuse the moved offset: not proof, but the next
// candidate is asked); a reader holding a moved chunk (through another
// object that shares it at its offset) knows the lie before any read,
// from its index. The old code checked the moved chunks at the lie's
// offsets, locally and on every peer asked, and took the failures for
// corruption: the get failed with ErrCorruption and healthy chunks were
// marked damaged on every holder.
func TestMovedChunkManifestSkipped(t *testing.T) {
	const cb = 64 << 10
	for _, sharing := range []bool{false, true} {
		for _, liars := range []int{1, 2, 3} {
			t.Run(fmt.Sprintf("sharing=%v/liars=%d", sharing, liars), func(t *testing.T) {
				c, data, res := stored3Chunks(t, 67)
				placed := c.placed(res.Addr, 3)
				honest := c.nodes[placed[0]].st.index.committed(res.Addr).manifest
				lie := movedChunks(t, honest, res.Addr)
				reader := c.notPlaced(res.Addr, 3)[0]
				if sharing {
					reader = c.sharer(data, res.Addr)
				}
				// Ranges of the lie that read only moved chunks (the
				// second at 32 KiB, the last at 64 KiB), and the whole.
				for _, r := range [][2]uint64{{cb/2 + 10, 100}, {cb + 100, 50}, {cb/2 + 10, cb}, {0, 0}} {
					got, fetches := c.getWithLiars(reader, placed[:liars], lie, Get{Addr: res.Addr, Offset: r[0], Length: r[1]})
					end := r[0] + r[1]
					if r[1] == 0 {
						end = uint64(len(data))
					}
					switch {
					case liars == 3 && !errors.Is(got.Err, ErrBadManifest):
						t.Fatalf("get %v with every candidate lying: %v; want ErrBadManifest", r, got.Err)
					case liars < 3 && (got.Err != nil || !bytes.Equal(got.Data, data[r[0]:end]) || got.Size != uint64(len(data))):
						t.Fatalf("get %v with %d liars of 3: %v, %d bytes (size %d); want the object's %d", r, liars, got.Err, len(got.Data), got.Size, end-r[0])
					}
					if sharing && fetches[honest.Chunks[1].Addr] != 0 {
						t.Fatalf("get %v: the reader, which holds chunk 1, asked peers for it %d times", r, fetches[honest.Chunks[1].Addr])
					}
				}
				if m := c.metric(reader, MetricRejects, ReasonMalformed); m == 0 {
					t.Fatal("no lying manifest was caught: the test did not exercise the drop")
				}
				if len(c.nodes[reader].st.gets) != 0 {
					t.Fatalf("gets left: %v", c.nodes[reader].st.PendingGets())
				}
				for n := range c.nodes {
					c.noDamage(n)
				}
			})
		}
	}
}

// sharer puts, from node 0, an object sharing the first two chunks of
// data (the object addr) at the same offsets, and returns a node that
// holds it but is not a placement node of addr: it holds the shared
// chunks, listed at their offsets, and no manifest of addr.
func (c *cluster) sharer(data []byte, addr proto.Addr) int {
	c.t.Helper()
	const cb = 64 << 10
	for seed := uint64(1); seed < 50; seed++ {
		other := append(slices.Clone(data[:2*cb]), randomData(seed, 30000)...)
		res := c.put(0, other, false)
		if res.Err != nil {
			c.t.Fatal(res.Err)
		}
		c.advance(time.Second)
		for _, n := range c.placed(res.Addr, 3) {
			if !slices.Contains(c.placed(addr, 3), n) && c.nodes[n].st.index.committed(res.Addr) != nil {
				return n
			}
		}
	}
	c.t.Fatal("no object placed apart from the first")
	return 0
}

// TestPropertyIndexChunkOffsets: for any sequence of held and dropped
// objects whose manifests list chunks from a small pool at any offsets
// (repeats within a manifest, and lies placing a chunk at several
// offsets, included), the index's offset of each chunk is the one every
// listing agrees on, unknown while listings disagree, and known again
// once the disagreeing ones are dropped; check(true) recounts it.
func TestPropertyIndexChunkOffsets(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		x := newIndex()
		pool := make([]proto.Addr, rapid.IntRange(1, 4).Draw(rt, "chunks"))
		for i := range pool {
			pool[i][0] = byte(i + 1)
		}
		held := map[proto.Addr]Manifest{}
		var next byte
		for range rapid.IntRange(1, 40).Draw(rt, "ops") {
			addrs := env.SortedKeysFunc(held, compareAddr)
			if len(addrs) > 0 && rapid.Bool().Draw(rt, "drop") {
				a := rapid.SampledFrom(addrs).Draw(rt, "victim")
				x.drop(a)
				delete(held, a)
			} else {
				var man Manifest
				for range rapid.IntRange(1, 4).Draw(rt, "listed") {
					size := uint32(rapid.SampledFrom([]int{1 << 10, 2 << 10}).Draw(rt, "size"))
					man.Chunks = append(man.Chunks, ChunkRef{Addr: rapid.SampledFrom(pool).Draw(rt, "chunk"), Size: size})
					man.Size += uint64(size)
				}
				next++
				a := proto.Addr{0xff, next}
				x.hold(a, &object{manifest: man})
				held[a] = man
			}
			x.check(true)
			for _, c := range pool {
				offs := map[uint64]bool{}
				for _, man := range held {
					for i, off := range man.offsets() {
						if man.Chunks[i].Addr == c {
							offs[off] = true
						}
					}
				}
				got, ok := x.chunkOffset(c)
				if ok != (len(offs) == 1) || (ok && !offs[got]) {
					rt.Fatalf("chunk %d: offset %d known %v; held manifests list it at %v", c[0], got, ok, offs)
				}
				if x.hasChunk(c) != (len(offs) > 0) {
					rt.Fatalf("chunk %d: held %v; listed at %v", c[0], x.hasChunk(c), offs)
				}
			}
		}
	})
}

// TestCommitMovedChunkRefused: a commit whose manifest moves a chunk
// (movedChunks) is refused (statusBad), though its keys merge to the
// address, when its chunks were pushed at their own offsets (staged,
// verified there) or are held by another object at their offsets: a lie
// committed here would make the index locate the chunks where they do
// not verify. The honest manifest then commits. The old code committed
// the lie.
func TestCommitMovedChunkRefused(t *testing.T) {
	const cb = 64 << 10
	for _, sharing := range []bool{false, true} {
		t.Run(fmt.Sprintf("sharing=%v", sharing), func(t *testing.T) {
			c, data, res := stored3Chunks(t, 69)
			pusher := c.placed(res.Addr, 3)[0]
			honest := c.nodes[pusher].st.index.committed(res.Addr).manifest
			lie := movedChunks(t, honest, res.Addr)
			target := c.notPlaced(res.Addr, 3)[0]
			if sharing {
				target = c.sharer(data, res.Addr) // holds chunks 0 and 1
			}
			corr := uint64(0xc0ffee)
			for i, off := range honest.offsets() {
				corr++
				ch := honest.Chunks[i]
				if rep := c.exchange(pusher, target, corr, &message{kind: kindStoreChunk, addr: ch.Addr, offset: off, data: data[off : off+uint64(ch.Size)]}); rep.status != statusOK {
					t.Fatalf("push of chunk %d: status %d", i, rep.status)
				}
			}
			if rep := c.exchange(pusher, target, corr+1, &message{kind: kindCommit, addr: res.Addr, data: AppendManifest(nil, &lie)}); rep.status != statusBad {
				t.Fatalf("commit of the moved-chunk manifest: status %d; want statusBad", rep.status)
			}
			if c.nodes[target].st.index.objects[res.Addr] != nil {
				t.Fatal("the moved-chunk manifest was held")
			}
			if rep := c.exchange(pusher, target, corr+2, &message{kind: kindCommit, addr: res.Addr, data: AppendManifest(nil, &honest)}); rep.status != statusOK {
				t.Fatalf("commit of the honest manifest: status %d", rep.status)
			}
			if got := c.get(target, res.Addr, cb/2, cb); got.Err != nil || !bytes.Equal(got.Data, data[cb/2:cb/2+cb]) {
				t.Fatalf("get after the honest commit: %v", got.Err)
			}
			for n := range c.nodes {
				c.noDamage(n)
			}
		})
	}
}

// TestPropertyMovedChunks: for any object of two chunks or more, any lie
// that moves its chunks (every size before the last divided by 2 or 4,
// kept when its keys still merge to the address), any set of placement
// nodes serving that lie (their disks and indexes honest), any reader and
// any range, a get serves exactly the range's bytes whenever a candidate
// is honest (or the reader holds the object), a range past the liar's
// smaller Size included (checkEnd), or, when every candidate lies, fails
// with ErrBadManifest; no node counts corruption or marks a chunk
// damaged. The old code failed such gets with ErrCorruption and marked
// healthy chunks damaged on their holders, and (before checkEnd) failed
// a range past the liar's Size with ErrRange.
func TestPropertyMovedChunks(t *testing.T) {
	const cb = 64 << 10
	rapid.Check(t, func(rt *rapid.T) {
		c, data, res, placed := propertyObject(rt, t, cb+1, 4*cb)
		honest := c.nodes[placed[0]].st.index.committed(res.Addr).manifest
		lie := Manifest{Chunks: slices.Clone(honest.Chunks)}
		div := uint32(rapid.SampledFrom([]int{2, 4}).Draw(rt, "div"))
		for i := range len(lie.Chunks) - 1 {
			lie.Chunks[i].Size /= div
		}
		for _, ch := range lie.Chunks {
			lie.Size += uint64(ch.Size)
		}
		if lie.checkFor(res.Addr) != nil {
			rt.Skip("this lie does not merge to the address")
		}
		liars := drawLiars(rt, placed)
		reader := rapid.IntRange(0, len(c.nodes)-1).Draw(rt, "reader")
		off, length, end := drawRange(rt, uint64(len(data)))
		got, _ := c.getWithLiars(reader, liars, lie, Get{Addr: res.Addr, Offset: off, Length: length})
		holds := slices.Contains(placed, reader) // reads with its own manifest
		honestCand := holds || len(liars) < len(placed)
		switch {
		case got.Err == nil:
			if !bytes.Equal(got.Data, data[off:end]) {
				rt.Fatalf("get [%d+%d] on node %d served %d bytes that are not the object's", off, length, reader, len(got.Data))
			}
		case errors.Is(got.Err, ErrBadManifest) && !honestCand:
		default:
			rt.Fatalf("get [%d+%d] on node %d with liars %v of %v: %v", off, length, reader, liars, placed, got.Err)
		}
		for n := range c.nodes {
			c.noDamage(n)
		}
	})
}

// TestRefusalAndSilenceIsUnavailable: a get from an honest manifest whose
// chunk one holder refuses (statusBad, "held at another offset": a lie
// here) while the other holders' chunk replies are lost fails as
// unavailable (retryable): a silent holder may serve the chunk where the
// manifest puts it, so one liar's refusal must not end the get with a
// bad manifest (a 502 no client retries) once the candidates are spent.
func TestRefusalAndSilenceIsUnavailable(t *testing.T) {
	c, _, res := stored3Chunks(t, 71)
	placed := c.placed(res.Addr, 3)
	reader := c.notPlaced(res.Addr, 3)[0]
	chunks := map[proto.Addr]bool{}
	for _, ch := range c.nodes[placed[0]].st.index.committed(res.Addr).manifest.Chunks {
		chunks[ch.Addr] = true
	}
	var rw rewrites
	c.c.Drop = func(src, dst int, frame []byte) bool {
		if dst != reader || !slices.Contains(placed, src) {
			return false
		}
		h, m, err := decodeFrame(frame)
		if err != nil || m.kind != kindReply || !chunks[m.addr] {
			return false
		}
		if src == placed[0] {
			rw.add(src, h.CorrID, &message{kind: kindReply, addr: m.addr, status: statusBad})
		}
		return true // the others' chunk replies are lost
	}
	defer func() { c.c.Drop = nil }()
	got, ok := c.requestRewritten(reader, Get{Addr: res.Addr}, &rw).(GetResult)
	if !ok {
		t.Fatal("no GetResult")
	}
	if !errors.Is(got.Err, ErrUnavailable) || errors.Is(got.Err, ErrBadManifest) {
		t.Fatalf("get with one refusing and two silent holders: %v; want ErrUnavailable", got.Err)
	}
	if m := c.metric(reader, MetricRejects, ReasonMalformed); m == 0 {
		t.Fatal("no refusal reached the get: the test did not exercise it")
	}
	for n := range c.nodes {
		c.noDamage(n)
	}
}

// liarChunks is how requestWithLiars' liars answer FetchChunk.
type liarChunks int

const (
	honestChunks  liarChunks = iota // with what they hold
	silentChunks                    // not at all
	corruptChunks                   // statusCorrupt, whatever they hold
)

// TestSilentLiarCostsOneCandidate: the first candidate serves a manifest
// that moves chunks and then keeps quiet about the chunks, or calls them
// corrupt, while the honest holders refuse them at the lie's offsets:
// the get moves on to the next candidate and serves the range (it does
// not fail as unavailable on the liar's silence, nor as corrupt on its
// word).
func TestSilentLiarCostsOneCandidate(t *testing.T) {
	const cb = 64 << 10
	c, data, res := stored3Chunks(t, 67)
	placed := c.placed(res.Addr, 3)
	honest := c.nodes[placed[0]].st.index.committed(res.Addr).manifest
	lie := movedChunks(t, honest, res.Addr)
	reader := c.notPlaced(res.Addr, 3)[0]
	for _, mode := range []liarChunks{silentChunks, corruptChunks} {
		for _, r := range [][2]uint64{{cb/2 + 10, 100}, {0, 0}} {
			// placed[0] is the first candidate: the liar whose manifest
			// the get reads first.
			reply, _ := c.requestWithLiars(reader, placed[:1], lie, res.Addr, Get{Addr: res.Addr, Offset: r[0], Length: r[1]}, mode)
			got, ok := reply.(GetResult)
			end := r[0] + r[1]
			if r[1] == 0 {
				end = uint64(len(data))
			}
			if !ok || got.Err != nil || !bytes.Equal(got.Data, data[r[0]:end]) {
				t.Fatalf("get %v with a liar answering chunks %d: %v, %d bytes; want the object's %d", r, mode, got.Err, len(got.Data), end-r[0])
			}
		}
	}
	for n := range c.nodes {
		c.noDamage(n)
	}
}

// TestGetManifestDropsMovedChunks: a GetManifest (the gateway's first
// call of a streamed read, whose chunks it then reads with GetChunk at
// the manifest's offsets) on a node holding a chunk the first candidate's
// manifest moves answers the next candidate's honest manifest, or a bad
// manifest when every candidate lies: never the lie.
func TestGetManifestDropsMovedChunks(t *testing.T) {
	for _, liars := range []int{1, 3} {
		c, data, res := stored3Chunks(t, 69)
		placed := c.placed(res.Addr, 3)
		honest := c.nodes[placed[0]].st.index.committed(res.Addr).manifest
		lie := movedChunks(t, honest, res.Addr)
		reader := c.sharer(data, res.Addr)
		reply, _ := c.requestWithLiars(reader, placed[:liars], lie, res.Addr, GetManifest{Addr: res.Addr}, honestChunks)
		got, ok := reply.(ManifestResult)
		switch {
		case !ok:
			t.Fatalf("liars %d: no ManifestResult", liars)
		case liars == 3 && !errors.Is(got.Err, ErrBadManifest):
			t.Fatalf("GetManifest with every candidate lying: %v; want ErrBadManifest", got.Err)
		case liars < 3 && (got.Err != nil || !reflect.DeepEqual(got.Manifest, honest)):
			t.Fatalf("GetManifest with %d liars: %v, %+v; want the honest manifest", liars, got.Err, got.Manifest)
		}
		for n := range c.nodes {
			c.noDamage(n)
		}
	}
}

// TestCommitMovingSessionChunkRefused: a peer's commit whose manifest
// moves chunks an upload session on the node holds (and hashed at their
// offsets) is refused: committed, the lie would locate the chunks where
// they do not verify, and the session's own commit would reuse it.
func TestCommitMovingSessionChunkRefused(t *testing.T) {
	const cb = 64 << 10
	c := newCluster(t, 3, 73, groupChunks)
	data := randomData(74, 2*cb+40000)
	addr, honest := Split(data, cb)
	lie := movedChunks(t, honest, addr)
	ss := c.begin(0, false)
	c.stream(0, ss, data, cb) // a PutChunk is a chunk
	for i, ch := range honest.Chunks {
		// The lie's chunks must all be held, or the commit is refused
		// as missing before it is judged.
		if _, inSession := c.nodes[0].st.index.sessionRefs[ch.Addr]; !inSession {
			t.Fatalf("chunk %d not held by the session: the test cannot judge the commit", i)
		}
	}
	if rep := c.exchange(1, 0, 0xbeef_0002, &message{kind: kindCommit, addr: addr, data: AppendManifest(nil, &lie)}); rep.status != statusBad {
		t.Fatalf("commit of a manifest moving the session's chunks: status %d; want statusBad", rep.status)
	}
	if c.nodes[0].st.index.objects[addr] != nil {
		t.Fatal("the moved-chunk manifest was held")
	}
	if r := c.commit(0, ss, addr, uint64(len(data))); r.Err != nil {
		t.Fatalf("the session's commit: %v", r.Err)
	}
	if got := c.get(0, addr, cb/2, cb); got.Err != nil || !bytes.Equal(got.Data, data[cb/2:cb/2+cb]) {
		t.Fatalf("get after the session's commit: %v", got.Err)
	}
	c.noDamage(0)
}

// TestDamageFoundThroughAnotherObjectHeals: a chunk found rotten by a
// GetChunk naming an object that does not list it (the gateway's
// request names whatever object it streams) is healed from the
// placement of an object that does, not from the named object's
// placement nodes, which do not hold it.
func TestDamageFoundThroughAnotherObjectHeals(t *testing.T) {
	const cb = 64 << 10
	c, data, res := stored3Chunks(t, 75)
	placedA := c.placed(res.Addr, 3)
	// An object B placed on a holder of A and on two nodes that do not
	// hold A.
	var other proto.Addr
	holder := -1
	for seed := uint64(1000); seed < 2000 && other.IsZero(); seed++ {
		addr, _ := Split(randomData(seed, 5000), cb)
		shared := slices.DeleteFunc(c.placed(addr, 3), func(i int) bool { return !slices.Contains(placedA, i) })
		if len(shared) != 1 {
			continue
		}
		if r := c.put(shared[0], randomData(seed, 5000), false); r.Err != nil || r.Addr != addr {
			t.Fatalf("put of B: %v", r.Err)
		}
		other, holder = addr, shared[0]
	}
	if other.IsZero() {
		t.Fatal("no object placed apart from A: pick other seeds")
	}
	c.advance(time.Second)
	if c.nodes[holder].st.index.committed(other) == nil {
		t.Fatal("B is not held by the holder")
	}
	b := c.nodes[holder].st.index.committed(res.Addr).manifest.Chunks[1]
	d := c.nodes[holder].disk
	key := string(diskKey(prefixChunk, b.Addr))
	bad := bytes.Clone(d.State()[key])
	bad[100] ^= 0x10
	d.Plant(key, bad)
	c.request(holder, GetChunk{Addr: other, Chunk: b, Offset: cb}, time.Minute)
	if _, ok := c.nodes[holder].st.damaged[b.Addr]; !ok {
		t.Fatal("the rotten chunk was not marked damaged")
	}
	c.advance(5 * time.Second)
	if !bytes.Equal(d.Durable()[key], data[cb:2*cb]) {
		t.Fatal("the rotten chunk was not healed")
	}
}

// TestGetChunkRefusedIsBadManifest: a GetChunk (the gateway's, at the
// offsets of a manifest it was given) of a chunk this node does not hold,
// which every holder refuses at that offset, fails as a bad manifest: a
// 502, not ErrNotFound (a 404 for an object that exists).
func TestGetChunkRefusedIsBadManifest(t *testing.T) {
	c, _, res := stored3Chunks(t, 79)
	placed := c.placed(res.Addr, 3)
	honest := c.nodes[placed[0]].st.index.committed(res.Addr).manifest
	lie := movedChunks(t, honest, res.Addr)
	reader := c.notPlaced(res.Addr, 3)[0]
	moved := lie.Chunks[1] // at 32 KiB in the lie, at 64 KiB in truth
	got, ok := c.request(reader, GetChunk{Addr: res.Addr, Chunk: moved, Offset: uint64(lie.Chunks[0].Size)}, time.Minute).(GetResult)
	if !ok || !errors.Is(got.Err, ErrBadManifest) || errors.Is(got.Err, ErrNotFound) {
		t.Fatalf("GetChunk refused by every holder: %v; want ErrBadManifest, not ErrNotFound", got.Err)
	}
	for n := range c.nodes {
		c.noDamage(n)
	}
}

// TestPushLocatesAChunkAListingMoved: a chunk held through a manifest
// that moved it (an earlier build's commit of a lie) is located where a
// push verifies it, not at the lie's offset: the push's offset is proven
// (the key binds it), a listing is only a claim.
func TestPushLocatesAChunkAListingMoved(t *testing.T) {
	const cb = 64 << 10
	c, data, res := stored3Chunks(t, 81)
	pusher := c.placed(res.Addr, 3)[0]
	honest := c.nodes[pusher].st.index.committed(res.Addr).manifest
	lie := movedChunks(t, honest, res.Addr)
	target := c.notPlaced(res.Addr, 3)[0]
	st := c.nodes[target].st
	st.index.hold(res.Addr, &object{manifest: lie}) // as an earlier build committed it
	moved := honest.Chunks[1]
	if off, ok := st.index.chunkOffset(moved.Addr); !ok || off != cb/2 {
		t.Fatalf("before the push chunk 1 is located at %d (%v); the test wants the lie's %d", off, ok, cb/2)
	}
	if rep := c.exchange(pusher, target, 0xfade_0001, &message{kind: kindStoreChunk, addr: moved.Addr, offset: cb, data: data[cb : 2*cb]}); rep.status != statusOK {
		t.Fatalf("push of chunk 1: status %d", rep.status)
	}
	if off, ok := st.index.chunkOffset(moved.Addr); !ok || off != cb {
		t.Fatalf("after the push chunk 1 is located at %d (%v); want its own %d", off, ok, cb)
	}
}

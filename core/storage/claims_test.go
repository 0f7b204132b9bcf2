package storage

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ron-network/ron/core/proto"
)

// lieLast replaces node n's committed manifest of addr by a copy whose
// last chunk (and Size) is delta bytes larger or smaller: the chunk keys
// still merge to the address (checkFor passes), only the bytes tell.
func (c *cluster) lieLast(n int, addr proto.Addr, delta int) Manifest {
	c.t.Helper()
	o := c.nodes[n].st.index.committed(addr)
	if o == nil {
		c.t.Fatalf("node %d holds no %s", n, addr.Short())
	}
	man := Manifest{Size: uint64(int(o.manifest.Size) + delta), Chunks: slices.Clone(o.manifest.Chunks)}
	last := len(man.Chunks) - 1
	man.Chunks[last].Size = uint32(int(man.Chunks[last].Size) + delta)
	if err := man.checkFor(addr); err != nil {
		c.t.Fatalf("the lying manifest does not pass checkFor: %v", err)
	}
	x := &c.nodes[n].st.index
	x.bytes = x.bytes - o.manifest.Size + man.Size // the index's invariant
	o.manifest = man
	o.proven = false // as an earlier build committed it
	return man
}

// noDamage fails unless node n counted no corruption and marked nothing
// damaged.
func (c *cluster) noDamage(n int) {
	c.t.Helper()
	if m := c.metric(n, MetricCorruption, ""); m != 0 {
		c.t.Fatalf("node %d counted %v corruptions of healthy chunks", n, m)
	}
	if len(c.nodes[n].st.damaged) != 0 {
		c.t.Fatalf("node %d marked %d healthy chunks damaged", n, len(c.nodes[n].st.damaged))
	}
}

// TestManifestSizeClaimChecked: a manifest whose chunk keys merge to the
// address but whose last chunk (and Size) claims a byte more or less than
// the chunk holds is caught when the chunk is read: locally (a whole
// read, with and without a lent buffer, disk checks on and off) and when
// fetched from a peer (a fetched manifest), and likewise a GetChunk whose
// Size lies. The get fails with ErrBadManifest (ErrBadRequest), never
// serves other bytes, never panics, counts no corruption. The old code
// sliced the chunk to the claimed size: past its end into the spare
// capacity of a lent buffer (serving its stale bytes) or a panic, and a
// smaller claim served a truncated object.
func TestManifestSizeClaimChecked(t *testing.T) {
	const cb = 64 << 10
	for _, delta := range []int{1, -1} {
		for _, diskChecks := range []bool{true, false} {
			t.Run(fmt.Sprintf("delta=%d/diskChecks=%v", delta, diskChecks), func(t *testing.T) {
				c := newCluster(t, 5, 31, groupChunks)
				for _, n := range c.nodes {
					n.disk.IgnoreChecks = !diskChecks
				}
				data := randomData(32, 2*cb+40000)
				res := c.put(0, data, false)
				if res.Err != nil {
					t.Fatal(res.Err)
				}
				c.advance(time.Second)
				placed := c.placed(res.Addr, 3)
				for _, n := range placed {
					c.lieLast(n, res.Addr, delta)
				}
				v := placed[0]
				ranges := [][2]uint64{
					{0, 0},                // whole: the last chunk in a multi-chunk read
					{2*cb + 39990, 10},    // within the last chunk, up to its true end
					{2*cb + 100, 50},      // within the last chunk
					{cb + 10, cb + 39000}, // over chunks 1 and 2
				}
				if delta > 0 {
					ranges = append(ranges, [2]uint64{2*cb + 39995, 6}) // one byte past the true end
				}
				check := func(n int, got GetResult, r [2]uint64, what string) {
					t.Helper()
					if got.Err == nil {
						end := r[0] + r[1]
						if r[1] == 0 {
							end = uint64(len(data))
						}
						if end > uint64(len(data)) || !bytes.Equal(got.Data, data[r[0]:end]) {
							t.Fatalf("%s %v on node %d served %d bytes that are not the object's", what, r, n, len(got.Data))
						}
						return
					}
					if !errors.Is(got.Err, ErrBadManifest) && !errors.Is(got.Err, ErrRange) {
						t.Fatalf("%s %v on node %d: %v, want ErrBadManifest (or ErrRange: outside the claimed size)", what, r, n, got.Err)
					}
				}
				for _, r := range ranges {
					stale := bytes.Repeat([]byte{0xAA}, cb)
					into := [][]byte{stale[:0], bytes.Clone(stale)[:0], bytes.Clone(stale)[:0]}
					g, ok := c.request(v, Get{Addr: res.Addr, Offset: r[0], Length: r[1], Into: into}, time.Minute).(GetResult)
					if !ok {
						t.Fatalf("get %v: no reply", r)
					}
					check(v, g, r, "local get with buffers")
					check(v, c.get(v, res.Addr, r[0], r[1]), r, "local get")
				}
				c.noDamage(v)
				// A node that holds nothing fetches the manifest and the chunks.
				reader := c.notPlaced(res.Addr, 3)[0]
				for _, r := range ranges {
					check(reader, c.get(reader, res.Addr, r[0], r[1]), r, "fetched get")
				}
				for _, n := range placed {
					c.noDamage(n)
				}
				// GetChunk with the size claimed wrong, on a holder and a reader.
				_, man := Split(data, cb)
				ref := man.Chunks[2]
				ref.Size = uint32(int(ref.Size) + delta)
				for _, n := range []int{v, reader} {
					stale := bytes.Repeat([]byte{0xAA}, cb)
					g, ok := c.request(n, GetChunk{Addr: res.Addr, Chunk: ref, Offset: 2 * cb, Into: stale[:0]}, time.Minute).(GetResult)
					if !ok || !errors.Is(g.Err, ErrBadRequest) {
						t.Fatalf("GetChunk of a wrong size on node %d: ok %v, err %v, %d bytes; want ErrBadRequest", n, ok, g.Err, len(g.Data))
					}
					g, ok = c.request(n, GetChunks{Addr: res.Addr, Chunks: []ChunkRef{man.Chunks[1], ref}, Offset: cb}, time.Minute).(GetResult)
					if !ok || !errors.Is(g.Err, ErrBadRequest) {
						t.Fatalf("GetChunks of a wrong size on node %d: ok %v, err %v; want ErrBadRequest", n, ok, g.Err)
					}
				}
				for _, n := range placed {
					c.noDamage(n)
				}
			})
		}
	}
}

// TestGroupReadNeedsVerifiedSize: once a whole get cached a chunk's group
// CVs, a get through a manifest that claims the chunk one byte shorter
// does not read groups the cached CVs do not tile: no corruption counted,
// nothing marked damaged, no wrong bytes. The old code read the claimed
// last group (one byte short), found it not hashing to its CV and took
// the healthy chunk for damaged.
func TestGroupReadNeedsVerifiedSize(t *testing.T) {
	const cb = 64 << 10
	c := newCluster(t, 5, 33, groupChunks)
	data := randomData(34, cb+40000)
	res := c.put(0, data, false)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	c.advance(time.Second)
	v := c.placed(res.Addr, 3)[0]
	if got := c.get(v, res.Addr, 0, 0); got.Err != nil || !bytes.Equal(got.Data, data) {
		t.Fatalf("whole get: %v", got.Err)
	}
	_, man := Split(data, cb)
	if cvs, size := c.nodes[v].st.groups.get(man.Chunks[1].Addr, cb); len(cvs) != 3 || size != 40000 {
		t.Fatalf("chunk 1 cached as %d groups of %d bytes, want 3 of 40000", len(cvs), size)
	}
	c.lieLast(v, res.Addr, -1)
	lo := uint64(cb + 2*GroupBytes + 100) // in the last group of chunk 1
	got := c.get(v, res.Addr, lo, 200)
	if got.Err == nil && !bytes.Equal(got.Data, data[lo:lo+200]) {
		t.Fatal("served wrong bytes")
	}
	if got.Err != nil && !errors.Is(got.Err, ErrBadManifest) {
		t.Fatalf("get: %v, want ErrBadManifest or the bytes", got.Err)
	}
	c.noDamage(v)
}

// TestTruncatedPartIsDamage: a cached chunk whose stored value became
// shorter than the groups a range reads (the part read finds the key but
// not the bytes) is damage: counted, marked damaged or healed, and the
// range is served from a replica. The old code took it for an I/O error
// and counted nothing.
func TestTruncatedPartIsDamage(t *testing.T) {
	const cb = 64 << 10
	c := newCluster(t, 5, 35, groupChunks)
	data := randomData(36, cb+40000)
	res := c.put(0, data, false)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	c.advance(time.Second)
	v := c.placed(res.Addr, 3)[0]
	if got := c.get(v, res.Addr, 0, 0); got.Err != nil || !bytes.Equal(got.Data, data) {
		t.Fatalf("whole get: %v", got.Err)
	}
	_, man := Split(data, cb)
	key := string(diskKey(prefixChunk, man.Chunks[1].Addr))
	c.nodes[v].disk.Plant(key, bytes.Clone(data[cb:cb+30000]))
	lo := uint64(cb + 2*GroupBytes + 100) // the last group, beyond the truncation
	got := c.get(v, res.Addr, lo, 200)
	if got.Err != nil || !bytes.Equal(got.Data, data[lo:lo+200]) {
		t.Fatalf("range over the truncated part: %v", got.Err)
	}
	if m := c.metric(v, MetricCorruption, ""); m != 1 {
		t.Fatalf("a truncated chunk counted %v corruptions, want 1", m)
	}
	if _, ok := c.nodes[v].st.damaged[man.Chunks[1].Addr]; !ok && c.metric(v, MetricRepairs, "") < 1 {
		t.Fatal("truncated chunk neither marked damaged nor healed")
	}
}

// TestShortLastGroup: a cached chunk whose last group is short (the
// object's last chunk of 20000 bytes: a group of 16 KiB and one of 3616
// bytes) serves ranges inside the short group and ranges that end at the
// object's end, reading only the touched groups.
func TestShortLastGroup(t *testing.T) {
	const cb = 64 << 10
	c := newCluster(t, 5, 37, groupChunks)
	data := randomData(38, 2*cb+20000)
	res := c.put(0, data, false)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	c.advance(time.Second)
	v := c.placed(res.Addr, 3)[0]
	if got := c.get(v, res.Addr, 0, 0); got.Err != nil || !bytes.Equal(got.Data, data) {
		t.Fatalf("whole get: %v", got.Err)
	}
	if n := c.nodes[v].st.groups.len(); n != 3 {
		t.Fatalf("%d chunks cached, want 3", n)
	}
	end := uint64(len(data))
	short := uint64(20000 - GroupBytes)
	d := c.nodes[v].disk
	for _, r := range []struct {
		off, length uint64
		read        uint64 // chunk bytes read
	}{
		{2*cb + GroupBytes + 100, 200, short},       // inside the short group
		{2*cb + GroupBytes + 100, 0, short},         // to the end, from the short group
		{end - 1, 1, short},                         // the last byte
		{2*cb + 16000, end - (2*cb + 16000), 20000}, // over both groups, ending at the end
		{2*cb + 100, 200, GroupBytes},               // inside the full group
	} {
		read := d.chunkBytesRead
		got := c.get(v, res.Addr, r.off, r.length)
		want := data[r.off:]
		if r.length > 0 {
			want = data[r.off : r.off+r.length]
		}
		if got.Err != nil || !bytes.Equal(got.Data, want) {
			t.Fatalf("range %d+%d: err %v", r.off, r.length, got.Err)
		}
		if n := uint64(d.chunkBytesRead - read); n != r.read {
			t.Fatalf("range %d+%d read %d chunk bytes, want %d", r.off, r.length, n, r.read)
		}
	}
	c.noDamage(v)
}

// TestFailedWholeCheckNotCached: a chunk that fails its whole check
// leaves no group CVs in the cache (the range is served from a replica,
// whose bytes do not fill it either).
func TestFailedWholeCheckNotCached(t *testing.T) {
	const cb = 64 << 10
	c := newCluster(t, 5, 39, groupChunks)
	data := randomData(40, 3*cb)
	res := c.put(0, data, false)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	c.advance(time.Second)
	v := c.placed(res.Addr, 3)[0]
	c.rotAt(v, data, 1, 5000, 0x08)
	if got := c.get(v, res.Addr, 0, 0); got.Err != nil || !bytes.Equal(got.Data, data) {
		t.Fatalf("whole get: %v", got.Err)
	}
	_, man := Split(data, cb)
	st := c.nodes[v].st
	if cvs, _ := st.groups.get(man.Chunks[1].Addr, cb); cvs != nil {
		t.Fatal("a chunk that failed its check has its group CVs cached")
	}
	if cvs, _ := st.groups.get(man.Chunks[0].Addr, 0); cvs == nil {
		t.Fatal("a chunk that passed its check has no group CVs cached")
	}
	if m := c.metric(v, MetricCorruption, ""); m != 1 {
		t.Fatalf("%v corruptions counted, want 1", m)
	}
}

// TestOneChunkSessionCachesGroups: a one-chunk upload is stored under
// the object address, and its group CVs are cached under that key, so
// the first range get reads one group. The old code cached them under
// the chunk's CV, a key no get ever asks for (it read the chunk whole).
func TestOneChunkSessionCachesGroups(t *testing.T) {
	const cb = 64 << 10
	c := newCluster(t, 5, 41, groupChunks)
	data := randomData(42, 50000)
	addr, _ := Split(data, cb)
	v := c.placed(addr, 3)[0]
	s := c.begin(v, false)
	c.stream(v, s, data, cb)
	if r := c.commit(v, s, addr, uint64(len(data))); r.Err != nil {
		t.Fatal(r.Err)
	}
	c.advance(time.Second)
	d := c.nodes[v].disk
	read := d.chunkBytesRead
	lo := uint64(GroupBytes + 10)
	got := c.get(v, addr, lo, 200)
	if got.Err != nil || !bytes.Equal(got.Data, data[lo:lo+200]) {
		t.Fatalf("range after a one-chunk session put: %v", got.Err)
	}
	if n := d.chunkBytesRead - read; n != GroupBytes {
		t.Fatalf("the first range after a one-chunk session put read %d chunk bytes, want %d", n, GroupBytes)
	}
}

// TestRepairDoesNotSpreadSizeLie: a node whose manifest claims a wrong
// last-chunk size finds out when it reads the chunk to push it, and does
// not push that manifest to a placement node that lost its copy. The old
// code pushed it, and the target stored the lie (its checkFor passes).
func TestRepairDoesNotSpreadSizeLie(t *testing.T) {
	const cb = 64 << 10
	c := newCluster(t, 5, 43, groupChunks)
	data := randomData(44, 2*cb+40000)
	res := c.put(0, data, false)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	c.advance(time.Second)
	placed := c.placed(res.Addr, 3)
	for _, n := range placed[:2] {
		c.lieLast(n, res.Addr, 1)
	}
	lost := placed[2]
	if del, _ := c.request(lost, Delete{Addr: res.Addr}, time.Second).(DeleteResult); del.Err != nil {
		t.Fatalf("delete: %v", del.Err)
	}
	c.advance(5 * time.Second) // audits of the two liars run
	if o := c.nodes[lost].st.index.committed(res.Addr); o != nil && o.manifest.Size != uint64(len(data)) {
		t.Fatalf("repair spread a manifest of %d bytes for an object of %d", o.manifest.Size, len(data))
	}
	if m := c.metric(placed[0], MetricRejects, ReasonMalformed) + c.metric(placed[1], MetricRejects, ReasonMalformed); m == 0 {
		t.Fatal("no push read the lying chunk: the test did not exercise the repair")
	}
	for _, n := range placed {
		c.noDamage(n)
	}
}

// TestCheckForValidatesShape: checkFor refuses a manifest built or
// received in memory that breaks Manifest's invariant, as DecodeManifest
// refuses such an encoding: a Size that is not the chunks' sum, an empty
// chunk, a chunk that is not a subtree where it lands. The old checkFor
// merged the keys only (a Size off by one passed).
func TestCheckForValidatesShape(t *testing.T) {
	const cb = 64 << 10
	data := randomData(45, 2*cb+40000)
	addr, man := Split(data, cb)
	if err := man.checkFor(addr); err != nil {
		t.Fatalf("a true manifest: %v", err)
	}
	for name, edit := range map[string]func(m *Manifest){
		"size+1":       func(m *Manifest) { m.Size++ },
		"size-1":       func(m *Manifest) { m.Size-- },
		"empty chunk":  func(m *Manifest) { m.Chunks[2].Size = 0; m.Size -= 40000 },
		"short middle": func(m *Manifest) { m.Chunks[1].Size--; m.Size-- },
		"too large": func(m *Manifest) {
			m.Chunks[2].Size = ChunkBytesMax + 1
			m.Size += ChunkBytesMax + 1 - 40000
		},
	} {
		m := Manifest{Size: man.Size, Chunks: slices.Clone(man.Chunks)}
		edit(&m)
		if err := m.checkFor(addr); !errors.Is(err, ErrBadManifest) {
			t.Errorf("%s: checkFor %v, want ErrBadManifest", name, err)
		}
	}
	one := Manifest{Size: 41, Chunks: []ChunkRef{{Addr: addr, Size: 40}}}
	if err := one.checkFor(addr); !errors.Is(err, ErrBadManifest) {
		t.Errorf("one chunk, size off by one: checkFor %v, want ErrBadManifest", err)
	}
}

// TestFetchedLyingManifestSkipped: a node that holds nothing asks the
// placement nodes in turn for the manifest. When the first ones serve a
// manifest whose last-chunk size lies (the keys merge to the address),
// the get drops each once the chunk bytes tell, and reads the object
// through the next candidate's honest manifest; only when every
// candidate lies does it fail, with ErrBadManifest. No corruption is
// counted and the reader stores nothing. The old code failed the get on
// the first lying manifest.
func TestFetchedLyingManifestSkipped(t *testing.T) {
	const cb = 64 << 10
	for _, delta := range []int{1, -1} {
		for _, liars := range []int{1, 2, 3} {
			t.Run(fmt.Sprintf("delta=%d/liars=%d", delta, liars), func(t *testing.T) {
				c, data, res := stored3Chunks(t, 51)
				placed := c.placed(res.Addr, 3) // the reader's candidates, in order
				for _, n := range placed[:liars] {
					c.lieLast(n, res.Addr, delta)
				}
				reader := c.notPlaced(res.Addr, 3)[0]
				ranges := [][2]uint64{
					{0, 0},                // whole
					{2*cb + 100, 50},      // within the last chunk
					{cb + 10, cb + 39000}, // over chunks 1 and 2
					{10, 2*cb + 100},      // over the three
				}
				for _, r := range ranges {
					stale := bytes.Repeat([]byte{0xAA}, cb)
					into := [][]byte{stale[:0], bytes.Clone(stale)[:0], bytes.Clone(stale)[:0]}
					for _, req := range []Get{
						{Addr: res.Addr, Offset: r[0], Length: r[1]},
						{Addr: res.Addr, Offset: r[0], Length: r[1], Into: into},
					} {
						got, ok := c.request(reader, req, time.Minute).(GetResult)
						if !ok {
							t.Fatalf("get %v: no reply", r)
						}
						end := r[0] + r[1]
						if r[1] == 0 {
							end = uint64(len(data))
						}
						if liars == 3 {
							if !errors.Is(got.Err, ErrBadManifest) {
								t.Fatalf("get %v with every candidate lying: %v, %d bytes; want ErrBadManifest", r, got.Err, len(got.Data))
							}
							continue
						}
						if got.Err != nil || !bytes.Equal(got.Data, data[r[0]:end]) || got.Size != uint64(len(data)) {
							t.Fatalf("get %v with %d lying candidates of 3: %v, %d bytes (size %d); want the object's %d", r, liars, got.Err, len(got.Data), got.Size, end-r[0])
						}
					}
				}
				if len(c.nodes[reader].st.gets) != 0 {
					t.Fatalf("gets left: %v", c.nodes[reader].st.PendingGets())
				}
				if o := c.nodes[reader].st.index.committed(res.Addr); o != nil {
					t.Fatalf("the reader stored a manifest of %d bytes", o.manifest.Size)
				}
				if m := c.metric(reader, MetricRejects, ReasonMalformed); m == 0 {
					t.Fatal("no lying manifest was caught: the test did not exercise the drop")
				}
				for _, n := range append(placed, reader) {
					c.noDamage(n)
				}
			})
		}
	}
}

// TestLyingManifestDropWaitsForReads: when the lie is found while other
// chunk reads of the get are in flight (here the liar's replies of the
// two whole 64 KiB chunks are lost, so those reads wait for their
// timeouts while the last chunk's reply tells), the get starts no more
// reads, discards those that arrive, and starts over on the next
// candidate only when none is in flight (checkGets runs after every
// step): the honest candidate's manifest serves the object.
func TestLyingManifestDropWaitsForReads(t *testing.T) {
	const cb = 64 << 10
	c, data, res := stored3Chunks(t, 53)
	placed := c.placed(res.Addr, 3)
	c.lieLast(placed[0], res.Addr, 1)
	reader := c.notPlaced(res.Addr, 3)[0]
	c.c.Drop = func(from, to int, frame []byte) bool {
		return from == placed[0] && to == reader && len(frame) > cb
	}
	got := c.get(reader, res.Addr, 0, 0)
	if got.Err != nil || !bytes.Equal(got.Data, data) {
		t.Fatalf("get with the first candidate lying and slow: %v, %d bytes; want the object's %d", got.Err, len(got.Data), len(data))
	}
	for _, n := range append(placed, reader) {
		c.noDamage(n)
	}
}

// TestOwnLyingManifestFallsBack: a placement node whose own committed
// manifest claims a wrong last-chunk size (a lying peer's commit) drops
// it for the get once the chunk bytes tell and asks the other placement
// nodes, as if it held none: their honest manifest serves the object
// (its chunks read from the local, verified copies). No corruption is
// counted, nothing is marked damaged. The old code failed every get of
// the object on that node (ErrBadManifest: the gateway's 502).
func TestOwnLyingManifestFallsBack(t *testing.T) {
	const cb = 64 << 10
	for _, delta := range []int{1, -1} {
		t.Run(fmt.Sprintf("delta=%d", delta), func(t *testing.T) {
			c, data, res := stored3Chunks(t, 55)
			placed := c.placed(res.Addr, 3)
			v := placed[0]
			c.lieLast(v, res.Addr, delta)
			for _, r := range [][2]uint64{{0, 0}, {2*cb + 100, 50}, {cb + 10, cb + 39000}} {
				end := r[0] + r[1]
				if r[1] == 0 {
					end = uint64(len(data))
				}
				got := c.get(v, res.Addr, r[0], r[1])
				if got.Err != nil || !bytes.Equal(got.Data, data[r[0]:end]) || got.Size != uint64(len(data)) {
					t.Fatalf("get %v on the node whose manifest lies: %v, %d bytes (size %d); want the object's %d", r, got.Err, len(got.Data), got.Size, end-r[0])
				}
			}
			if m := c.metric(v, MetricRejects, ReasonMalformed); m == 0 {
				t.Fatal("the lying manifest was not caught: the test did not exercise the drop")
			}
			for _, n := range placed {
				c.noDamage(n)
			}
		})
	}
}

// TestLiarAndSilentReplicasIsUnavailable: when the one candidate that
// answers lies and the others do not answer, the get fails as
// unavailable (retryable: a silent replica may hold the honest manifest),
// not as a bad manifest (the gateway's 502, which a client does not
// retry); with every candidate answering and lying it is ErrBadManifest
// (TestFetchedLyingManifestSkipped).
func TestLiarAndSilentReplicasIsUnavailable(t *testing.T) {
	c, _, res := stored3Chunks(t, 57)
	placed := c.placed(res.Addr, 3)
	c.lieLast(placed[0], res.Addr, 1)
	reader := c.notPlaced(res.Addr, 3)[0]
	c.c.Drop = func(from, to int, _ []byte) bool {
		silent := from == placed[1] || from == placed[2]
		return silent && to == reader
	}
	got := c.get(reader, res.Addr, 0, 0)
	if !errors.Is(got.Err, ErrUnavailable) || errors.Is(got.Err, ErrBadManifest) {
		t.Fatalf("get with one liar and two silent replicas: %v; want ErrUnavailable", got.Err)
	}
	if m := c.metric(reader, MetricRejects, ReasonMalformed); m == 0 {
		t.Fatal("the lying manifest was not caught: the test did not exercise the drop")
	}
}

// stored3Chunks is a 5-node cluster (seed) holding a 3-chunk object (two
// whole 64 KiB chunks and a 40,000-byte last one), stored and settled:
// the object the lying-manifest tests lie about.
func stored3Chunks(t *testing.T, seed uint64) (*cluster, []byte, PutResult) {
	t.Helper()
	const cb = 64 << 10
	c := newCluster(t, 5, seed, groupChunks)
	data := randomData(seed+1, 2*cb+40000)
	res := c.put(0, data, false)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	c.advance(time.Second)
	return c, data, res
}

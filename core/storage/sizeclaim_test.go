package storage

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/ron-network/ron/core/proto"
	"pgregory.net/rapid"
)

// lastSizeLie is honest with its last chunk (and Size) delta bytes off:
// its keys still merge to addr (checkFor passes).
func lastSizeLie(t *testing.T, honest Manifest, addr proto.Addr, delta int) Manifest {
	t.Helper()
	lie := Manifest{Size: uint64(int(honest.Size) + delta), Chunks: slices.Clone(honest.Chunks)}
	last := len(lie.Chunks) - 1
	lie.Chunks[last].Size = uint32(int(lie.Chunks[last].Size) + delta)
	if err := lie.checkFor(addr); err != nil {
		t.Fatalf("the size lie does not pass checkFor: %v", err)
	}
	return lie
}

// TestCommitSizeLieRefused: a commit whose manifest claims another size
// for its last chunk (and so another Size) than the length a push
// verified (staged) is refused (statusBad) and nothing is held; the
// honest manifest then commits and serves. Likewise when the last chunk
// is not staged but its verified length is in the group cache. The old
// code committed the lie: the node's own manifest then claimed a Size
// that is not the object's.
func TestCommitSizeLieRefused(t *testing.T) {
	const cb = 64 << 10
	for _, delta := range []int{-1, 1, -1000} {
		for _, cached := range []bool{false, true} {
			t.Run(fmt.Sprintf("delta=%d/cached=%v", delta, cached), func(t *testing.T) {
				c, data, res := stored3Chunks(t, 71)
				pusher := c.placed(res.Addr, 3)[0]
				honest := c.nodes[pusher].st.index.committed(res.Addr).manifest
				lie := lastSizeLie(t, honest, res.Addr, delta)
				target := c.notPlaced(res.Addr, 3)[0]
				corr := uint64(0xc0ffee)
				for i, off := range honest.offsets() {
					corr++
					ch := honest.Chunks[i]
					if rep := c.exchange(pusher, target, corr, &message{kind: kindStoreChunk, addr: ch.Addr, offset: off, data: data[off : off+uint64(ch.Size)]}); rep.status != statusOK {
						t.Fatalf("push of chunk %d: status %d", i, rep.status)
					}
				}
				st := c.nodes[target].st
				if cached {
					// The last chunk verified whole (cache), no longer staged.
					last := honest.Chunks[len(honest.Chunks)-1]
					off := honest.Size - uint64(last.Size)
					st.groups.put(last.Addr, off, uint64(last.Size), nil)
					sc := st.index.staged[last.Addr]
					delete(st.index.staged, last.Addr)
					st.index.sessionRefs[last.Addr] = sessionRef{refs: 1, off: off} // still held
					defer func() { delete(st.index.sessionRefs, last.Addr); st.index.staged[last.Addr] = sc }()
				}
				if rep := c.exchange(pusher, target, corr+1, &message{kind: kindCommit, addr: res.Addr, data: AppendManifest(nil, &lie)}); rep.status != statusBad {
					t.Fatalf("commit of the size lie: status %d; want statusBad", rep.status)
				}
				if st.index.objects[res.Addr] != nil {
					t.Fatal("the size lie was held")
				}
				if cached {
					return
				}
				if rep := c.exchange(pusher, target, corr+2, &message{kind: kindCommit, addr: res.Addr, data: AppendManifest(nil, &honest)}); rep.status != statusOK {
					t.Fatalf("commit of the honest manifest: status %d", rep.status)
				}
				if got := c.get(target, res.Addr, 2*cb, 0); got.Err != nil || !bytes.Equal(got.Data, data[2*cb:]) || got.Size != uint64(len(data)) {
					t.Fatalf("get after the honest commit: %v", got.Err)
				}
				for n := range c.nodes {
					c.noDamage(n)
				}
			})
		}
	}
}

// TestRangePastSmallerClaim: a manifest claiming a smaller Size (its last
// chunk 1000 bytes short; keys still merging to the address), served by
// two of the three placement nodes or held as the reader's own, does not
// make a range past the claim fail with ErrRange: the last chunk's
// length is verified first, the lie dropped and the honest candidate's
// manifest serves the bytes (whole gets, ranges past the claim, the tail
// from the claimed end). No node counts corruption or marks damage. The
// old code answered ErrRange (and no bytes for the tail) from the lie.
func TestRangePastSmallerClaim(t *testing.T) {
	const cb = 64 << 10
	const delta = -1000
	for _, own := range []bool{false, true} {
		t.Run(fmt.Sprintf("own=%v", own), func(t *testing.T) {
			c, data, res := stored3Chunks(t, 73)
			placed := c.placed(res.Addr, 3)
			honest := c.nodes[placed[0]].st.index.committed(res.Addr).manifest
			lie := lastSizeLie(t, honest, res.Addr, delta)
			n := uint64(len(data))
			claimed := n - 1000
			if own {
				c.lieLast(placed[0], res.Addr, delta) // stays on disk: each get finds it
			}
			for _, r := range [][2]uint64{{0, 0}, {n - 500, 500}, {claimed - 10, 20}, {claimed, 0}, {claimed + 1, 0}, {cb, 0}} {
				end := r[0] + r[1]
				if r[1] == 0 {
					end = n
				}
				var got GetResult
				reader := c.notPlaced(res.Addr, 3)[0]
				if own {
					reader = placed[0]
				}
				caught := c.metric(reader, MetricRejects, ReasonMalformed)
				if own {
					got = c.get(reader, res.Addr, r[0], r[1])
				} else {
					got, _ = c.getWithLiars(reader, placed[:2], lie, Get{Addr: res.Addr, Offset: r[0], Length: r[1]})
				}
				if got.Err != nil || !bytes.Equal(got.Data, data[r[0]:end]) || got.Size != n {
					t.Fatalf("get %v on node %d: %v, %d bytes (size %d); want the object's %d bytes", r, reader, got.Err, len(got.Data), got.Size, end-r[0])
				}
				// A fetched lie is caught by each get; this node's own
				// once, then skipped (object.lies).
				if m := c.metric(reader, MetricRejects, ReasonMalformed); m == caught && (!own || m == 0) {
					t.Fatalf("get %v: the lie was not caught: the test did not exercise the drop", r)
				}
			}
			for i := range c.nodes {
				c.noDamage(i)
			}
		})
	}
}

// TestHonestPastEndIs416: a range past an honest object's end fails with
// ErrRange, and its check of the last chunk costs at most one read when
// the chunk's verdict is not cached (a local disk read on a holder, one
// FetchChunk on a reader that fetches the manifest) and none once cached:
// a client asking ranges past the end cannot make a node read more.
func TestHonestPastEndIs416(t *testing.T) {
	c, data, res := stored3Chunks(t, 75)
	n := uint64(len(data))
	placed := c.placed(res.Addr, 3)
	holder, reader := placed[0], c.notPlaced(res.Addr, 3)[0]
	c.nodes[holder].st.groups = newGroupCache(GroupCacheBytesMax) // uncached
	for k, r := range [][2]uint64{{n + 1, 0}, {n - 10, 20}, {n, 5}, {n + 100, 1}} {
		d := c.nodes[holder].disk
		before := d.gets
		got := c.get(holder, res.Addr, r[0], r[1])
		if !errors.Is(got.Err, ErrRange) {
			t.Fatalf("get %v on the holder: %v; want ErrRange", r, got.Err)
		}
		if reads, want := d.gets-before, max(1-k, 0); reads != want {
			t.Fatalf("get %v on the holder: %d disk reads; want %d (the last chunk once, then its cached verdict)", r, reads, want)
		}
		got, fetches := c.getWithLiars(reader, nil, Manifest{}, Get{Addr: res.Addr, Offset: r[0], Length: r[1]})
		if !errors.Is(got.Err, ErrRange) {
			t.Fatalf("get %v on a reader: %v; want ErrRange", r, got.Err)
		}
		total := 0
		for _, f := range fetches {
			total += f
		}
		if want := max(1-k, 0); total != want {
			t.Fatalf("get %v on a reader: %d chunk fetches; want %d (the last chunk once, then its cached verdict)", r, total, want)
		}
	}
	if got := c.get(holder, res.Addr, n, 0); got.Err != nil || len(got.Data) != 0 {
		t.Fatalf("the tail from the end: %v, %d bytes; want none", got.Err, len(got.Data))
	}
	for i := range c.nodes {
		c.noDamage(i)
	}
}

// TestPropertySizeLies: for any object, any lie about its last chunk's
// size (and so its Size), larger or smaller, served by any set of
// placement nodes (their disks and indexes honest) or held by a
// placement node as its own manifest, any reader and any range, a get
// serves exactly the range's bytes when the range is within the object
// and a candidate is honest, fails with ErrRange only past the object's
// true end, with ErrBadManifest only when no candidate is honest; no
// node counts corruption or marks a chunk damaged. The old code answered
// ErrRange (or no bytes) for ranges past a smaller claim.
func TestPropertySizeLies(t *testing.T) {
	const cb = 64 << 10
	rapid.Check(t, func(rt *rapid.T) {
		c, data, res, placed := propertyObject(rt, t, 2, 3*cb)
		honest := c.nodes[placed[0]].st.index.committed(res.Addr).manifest
		lastSize := int(honest.Chunks[len(honest.Chunks)-1].Size)
		delta := rapid.IntRange(-(lastSize-1), 2000).Filter(func(d int) bool { return d != 0 }).Draw(rt, "delta")
		lie := Manifest{Size: uint64(int(honest.Size) + delta), Chunks: slices.Clone(honest.Chunks)}
		lie.Chunks[len(lie.Chunks)-1].Size = uint32(lastSize + delta)
		if lie.checkFor(res.Addr) != nil {
			rt.Skip("this lie does not pass checkFor")
		}
		liars := drawLiars(rt, placed)
		reader := rapid.IntRange(0, len(c.nodes)-1).Draw(rt, "reader")
		holds := slices.Contains(placed, reader)
		ownLie := holds && rapid.Bool().Draw(rt, "ownLie")
		if ownLie {
			c.lieLast(reader, res.Addr, delta)
		}
		n := uint64(len(data))
		off := rapid.Uint64Range(0, n+2000).Draw(rt, "offset")
		length := rapid.Uint64Range(0, n+2000).Draw(rt, "length")
		end := off + length
		if length == 0 {
			end = max(n, off)
		}
		got, _ := c.getWithLiars(reader, liars, lie, Get{Addr: res.Addr, Offset: off, Length: length})
		honestCand := holds && !ownLie
		for _, p := range placed {
			honestCand = honestCand || (p != reader && !slices.Contains(liars, p))
		}
		switch {
		case got.Err == nil:
			if off > n || end > n || !bytes.Equal(got.Data, data[off:end]) {
				rt.Fatalf("get [%d+%d] on node %d served %d bytes that are not the object's", off, length, reader, len(got.Data))
			}
		case errors.Is(got.Err, ErrRange) && (off > n || end > n):
		case errors.Is(got.Err, ErrBadManifest) && !honestCand:
		default:
			rt.Fatalf("get [%d+%d] on node %d (own lie %v) with liars %v of %v: %v", off, length, reader, ownLie, liars, placed, got.Err)
		}
		for i := range c.nodes {
			c.noDamage(i)
		}
	})
}

// TestOwnLieProvenOnce: a node whose own committed manifest lies about
// its last chunk's size proves it on the first get (one malformed
// reject) and later gets, whole, ranged or past the claim, skip it: no
// further proof, so no chunk read is spent on the lie, and the bytes are
// served from the honest candidates' manifest. The manifest stays held
// (nothing dropped, GC and repair unchanged). The old code proved the
// lie again on every get (one reject, and one chunk read, each).
func TestOwnLieProvenOnce(t *testing.T) {
	const cb = 64 << 10
	for _, delta := range []int{1, -1000} {
		t.Run(fmt.Sprintf("delta=%d", delta), func(t *testing.T) {
			c, data, res := stored3Chunks(t, 77)
			v := c.placed(res.Addr, 3)[0]
			c.lieLast(v, res.Addr, delta)
			n := uint64(len(data))
			for k, r := range [][2]uint64{{0, 0}, {0, 0}, {2*cb + 100, 50}, {n - 500, 500}, {cb, 0}} {
				got := c.get(v, res.Addr, r[0], r[1])
				end := r[0] + r[1]
				if r[1] == 0 {
					end = n
				}
				if got.Err != nil || !bytes.Equal(got.Data, data[r[0]:end]) || got.Size != n {
					t.Fatalf("get %v: %v, %d bytes; want the object's %d", r, got.Err, len(got.Data), end-r[0])
				}
				if m := c.metric(v, MetricRejects, ReasonMalformed); m != 1 {
					t.Fatalf("after get %d: %v malformed rejects; want the lie proven once", k, m)
				}
			}
			o := c.nodes[v].st.index.committed(res.Addr)
			if o == nil || !o.lies || o.manifest.Size == n {
				t.Fatal("the lying manifest is no longer held as it was")
			}
			for i := range c.nodes {
				c.noDamage(i)
			}
		})
	}
}

// TestGetManifestChecksFetchedSize: a GetManifest on a node that holds no
// copy, whose first candidate serves a manifest claiming another Size
// (its last chunk's size changed, the keys still merging to the address),
// answers the next candidate's honest manifest, or a bad manifest when
// every candidate lies: the gateway answers HEAD, 416s and Content-Length
// from that Size and caches it, so a lie must not get through. The old
// code answered the first manifest fetched.
func TestGetManifestChecksFetchedSize(t *testing.T) {
	for _, delta := range []int{-1000, -1, 1} {
		for _, liars := range []int{1, 3} {
			t.Run(fmt.Sprintf("delta=%d/liars=%d", delta, liars), func(t *testing.T) {
				c, _, res := stored3Chunks(t, 77)
				placed := c.placed(res.Addr, 3)
				honest := c.nodes[placed[0]].st.index.committed(res.Addr).manifest
				lie := lastSizeLie(t, honest, res.Addr, delta)
				reader := c.notPlaced(res.Addr, 3)[0]
				reply, _ := c.requestWithLiars(reader, placed[:liars], lie, res.Addr, GetManifest{Addr: res.Addr}, honestChunks)
				got, ok := reply.(ManifestResult)
				switch {
				case !ok:
					t.Fatal("no ManifestResult")
				case liars == 3 && !errors.Is(got.Err, ErrBadManifest):
					t.Fatalf("GetManifest with every candidate lying: %v; want ErrBadManifest", got.Err)
				case liars < 3 && (got.Err != nil || !reflect.DeepEqual(got.Manifest, honest)):
					t.Fatalf("GetManifest with %d liars: %v, size %d; want the honest manifest (size %d)", liars, got.Err, got.Manifest.Size, honest.Size)
				}
				for n := range c.nodes {
					c.noDamage(n)
				}
			})
		}
	}
}

// TestTooLargeCarriesACheckedSize: a whole Get with SizeMax on a node that
// holds no copy answers ErrTooLarge with the object's Size, not the Size
// of the first candidate's lying manifest (the gateway streams the
// object by it as its Content-Length), or a bad manifest when every
// candidate lies. The old code answered the lie's Size.
func TestTooLargeCarriesACheckedSize(t *testing.T) {
	for _, delta := range []int{500, -500} {
		for _, liars := range []int{1, 3} {
			t.Run(fmt.Sprintf("delta=%d/liars=%d", delta, liars), func(t *testing.T) {
				c, data, res := stored3Chunks(t, 83)
				placed := c.placed(res.Addr, 3)
				honest := c.nodes[placed[0]].st.index.committed(res.Addr).manifest
				lie := lastSizeLie(t, honest, res.Addr, delta)
				reader := c.notPlaced(res.Addr, 3)[0]
				got, _ := c.getWithLiars(reader, placed[:liars], lie, Get{Addr: res.Addr, SizeMax: 1000})
				switch {
				case liars == 3 && !errors.Is(got.Err, ErrBadManifest):
					t.Fatalf("every candidate lying: %v; want ErrBadManifest", got.Err)
				case liars < 3 && (!errors.Is(got.Err, ErrTooLarge) || got.Size != uint64(len(data))):
					t.Fatalf("%d liars: %v, size %d; want ErrTooLarge with the object's %d", liars, got.Err, got.Size, len(data))
				}
			})
		}
	}
}

// TestOwnLieAloneIsBadManifest: a node whose own manifest proved to lie,
// whose candidates answer that they hold no manifest, keeps answering a
// bad manifest (502), not not-found (404): it holds the object, its
// manifest is wrong. The old code answered not found once the lie was
// flagged.
func TestOwnLieAloneIsBadManifest(t *testing.T) {
	c, _, res := stored3Chunks(t, 85)
	placed := c.placed(res.Addr, 3)
	v := placed[0]
	c.lieLast(v, res.Addr, 1)
	// The others answer a FetchManifest as if they held nothing.
	var rw rewrites
	c.c.Drop = func(src, dst int, frame []byte) bool {
		h, m, err := decodeFrame(frame)
		if dst != v || src == v || err != nil || m.kind != kindReply || m.addr != res.Addr {
			return false
		}
		rw.add(src, h.CorrID, &message{kind: kindReply, addr: res.Addr, status: statusNotFound})
		return true
	}
	defer func() { c.c.Drop = nil }()
	for k := range 3 {
		got, ok := c.requestRewritten(v, Get{Addr: res.Addr}, &rw).(GetResult)
		if !ok || !errors.Is(got.Err, ErrBadManifest) || errors.Is(got.Err, ErrNotFound) {
			t.Fatalf("get %d: %v; want a bad manifest, not not-found", k, got.Err)
		}
	}
	if o := c.nodes[v].st.index.committed(res.Addr); o == nil || !o.lies {
		t.Fatal("the lie was not proven: the test did not exercise the skip")
	}
}

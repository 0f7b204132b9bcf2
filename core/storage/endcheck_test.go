package storage

import (
	"errors"
	"fmt"
	"testing"
)

// TestCheckEndUnservedLastChunk: a fetched manifest's Size is answered
// (a range past it: ErrRange; the empty tail from it; a whole get's
// ErrTooLarge; GetManifest) only once its last chunk proved the size,
// so when no source serves that chunk (every holder busy, answering
// statusCorrupt, or statusNotFound) the get fails with the chunk's error
// (ErrUnavailable, retryable; ErrCorruption) instead, for an honest
// manifest as for a size lie. The old code let the claim stand: a
// liar's smaller Size was answered as the object's (a 416 for bytes the
// object has, a HEAD's Content-Length, the gateway's size cache). Not
// found everywhere is ErrUnavailable, never ErrNotFound: the manifest,
// verified against the address, proves the object exists (the first
// version of the check answered a 404 for it).
func TestCheckEndUnservedLastChunk(t *testing.T) {
	for _, lying := range []bool{false, true} {
		for _, st := range []status{statusCorrupt, statusBusy, statusNotFound} {
			for _, kind := range []string{"manifest", "past", "tail", "toolarge"} {
				t.Run(fmt.Sprintf("lie=%v/status=%d/%s", lying, st, kind), func(t *testing.T) {
					testCheckEndUnserved(t, lying, st, kind)
				})
			}
		}
	}
}

func testCheckEndUnserved(t *testing.T, lying bool, st status, kind string) {
	c, data, res := stored3Chunks(t, 91)
	placed := c.placed(res.Addr, 3)
	honest := c.nodes[placed[0]].st.index.committed(res.Addr).manifest
	served := honest
	if lying {
		served = lastSizeLie(t, honest, res.Addr, -1)
	}
	last := honest.Chunks[len(honest.Chunks)-1].Addr
	reader := c.notPlaced(res.Addr, 3)[0]
	var rw rewrites
	c.c.Drop = func(src, dst int, frame []byte) bool {
		h, m, err := decodeFrame(frame)
		if dst != reader || err != nil || m.kind != kindReply {
			return false
		}
		switch {
		case m.addr == last:
			rw.add(src, h.CorrID, &message{kind: kindReply, addr: last, status: st})
		case lying && m.addr == res.Addr && m.status == statusOK:
			rw.add(src, h.CorrID, &message{kind: kindReply, addr: res.Addr, status: statusOK, data: AppendManifest(nil, &served)})
		default:
			return false
		}
		return true
	}
	c.applyNet()
	var req any
	switch kind {
	case "manifest":
		req = GetManifest{Addr: res.Addr}
	case "past":
		req = Get{Addr: res.Addr, Offset: served.Size, Length: 1}
	case "tail":
		req = Get{Addr: res.Addr, Offset: served.Size}
	case "toolarge":
		req = Get{Addr: res.Addr, SizeMax: 1000}
	}
	reply := c.requestRewritten(reader, req, &rw)
	c.c.Drop = nil
	c.c.RunFor(0)
	var err error
	var size uint64
	switch r := reply.(type) {
	case GetResult:
		err, size = r.Err, r.Size
	case ManifestResult:
		err, size = r.Err, r.Manifest.Size
	default:
		t.Fatalf("no answer: %T", reply)
	}
	want := ErrCorruption
	if st != statusCorrupt {
		want = ErrUnavailable
	}
	if !errors.Is(err, want) || errors.Is(err, ErrRange) || errors.Is(err, ErrTooLarge) || errors.Is(err, ErrNotFound) {
		t.Fatalf("%s with the last chunk unserved: %v (size %d, the served manifest's %d, the object's %d); want the last chunk's error, %v", kind, err, size, served.Size, len(data), want)
	}
}

// TestCheckEndOwnManifestUnservedStands: this node's own manifest is
// answered as it is: a range past its Size whose last chunk no source
// serves (the local copy rotten, every peer answering statusCorrupt)
// stays ErrRange, as before (only a fetched manifest's claim is refused
// unproven).
func TestCheckEndOwnManifestUnservedStands(t *testing.T) {
	c, data, res := stored3Chunks(t, 93)
	placed := c.placed(res.Addr, 3)
	reader := placed[0]
	own := c.nodes[reader].st.index.committed(res.Addr).manifest
	last := own.Chunks[len(own.Chunks)-1].Addr
	c.nodes[reader].st.groups = newGroupCache(GroupCacheBytesMax) // no cached verdict: the check reads
	c.rotAt(reader, data, len(own.Chunks)-1, 10, 0x01)
	var rw rewrites
	c.c.Drop = func(src, dst int, frame []byte) bool {
		h, m, err := decodeFrame(frame)
		if dst != reader || err != nil || m.kind != kindReply || m.addr != last {
			return false
		}
		rw.add(src, h.CorrID, &message{kind: kindReply, addr: last, status: statusCorrupt})
		return true
	}
	c.applyNet()
	reply := c.requestRewritten(reader, Get{Addr: res.Addr, Offset: own.Size, Length: 1}, &rw)
	c.c.Drop = nil
	c.c.RunFor(0)
	if got, ok := reply.(GetResult); !ok || !errors.Is(got.Err, ErrRange) {
		t.Fatalf("range past the own manifest's Size, its last chunk unserved: %+v; want ErrRange", reply)
	}
	if n := c.metric(reader, MetricCorruption, ""); n != 1 {
		t.Fatalf("the rotten last chunk counted %v times, want 1 (the check read it)", n)
	}
}

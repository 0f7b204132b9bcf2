package storage

import "testing"

// TestErrorReplyCarriesNoUnprovenSize: a range whose side check finds the
// last chunk unserved fails, and its error reply carries no Size (it was the
// lie's: a fetched manifest's claim, unproven).
func TestErrorReplyCarriesNoUnprovenSize(t *testing.T) {
	c, data, res := stored3Chunks(t, 89)
	placed := c.placed(res.Addr, 3)
	honest := c.nodes[placed[0]].st.index.committed(res.Addr).manifest
	lie := lastSizeLie(t, honest, res.Addr, -1)
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
			rw.add(src, h.CorrID, &message{kind: kindReply, addr: last, status: statusCorrupt})
		case m.addr == res.Addr && m.status == statusOK && src == placed[0]:
			rw.add(src, h.CorrID, &message{kind: kindReply, addr: res.Addr, status: statusOK, data: AppendManifest(nil, &lie)})
		default:
			return false
		}
		return true
	}
	c.applyNet()
	reply := c.requestRewritten(reader, Get{Addr: res.Addr, Offset: 10, Length: 100}, &rw)
	c.c.Drop = nil
	c.c.RunFor(0)
	got := reply.(GetResult)
	if got.Err == nil {
		t.Fatalf("range with its last chunk unserved answered %d bytes, Size %d; want an error", len(got.Data), got.Size)
	}
	if got.Size != 0 {
		t.Fatalf("error reply %v carries Size %d (the lie's %d, object's %d)", got.Err, got.Size, lie.Size, len(data))
	}
}

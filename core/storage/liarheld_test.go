package storage

import (
	"slices"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
)

// TestGCFalseHeld: two placement nodes lie to a stray holder's audits,
// answering "held" for an object they do not hold (LieFalseHeld). While
// the third, honest placement node cannot be reached, the stray copy is
// kept (the honest node's answer is missing); once it can, the audit
// pushes the object to it and collects the stray copy only after that
// node holds it durably. At no point is the stray copy gone while the
// honest node lacks one: a liar's "held" cannot make garbage collection
// drop the last honest copy while one honest placement node exists.
func TestGCFalseHeld(t *testing.T) {
	c := newCluster(t, 5, 21, smallChunks)
	data := randomData(22, 2*ChunkBytesMin+5)
	addr, man := Split(data, ChunkBytesMin)
	stray := c.notPlaced(addr, 3)[0]
	placed := c.placed(addr, 3)
	honest, liars := placed[0], placed[1:]
	c.crash(stray)
	d := c.nodes[stray].disk
	for i, ch := range man.Chunks {
		d.Plant(string(diskKey(prefixChunk, ch.Addr)), man.chunkData(data, i))
	}
	d.Plant(string(diskKey(prefixManifest, addr)), env.Seal(AppendManifest(nil, &man)))
	c.start(stray)
	c.step()

	var rw rewrites
	checks := map[uint64]bool{} // corr ids of the stray's Checks to the liars
	lied := 0
	c.c.Drop = func(src, dst int, frame []byte) bool {
		if c.cut[c.nodes[src].id] || c.cut[c.nodes[dst].id] {
			return true
		}
		h, m, err := decodeFrame(frame)
		if err != nil {
			return false
		}
		if src == stray && slices.Contains(liars, dst) && m.kind == kindCheck {
			checks[h.CorrID] = true
		}
		if dst == stray && slices.Contains(liars, src) && m.kind == kindReply && checks[h.CorrID] && m.status == statusNotFound {
			delete(checks, h.CorrID)
			lied++
			rw.add(src, h.CorrID, &message{kind: kindReply, addr: m.addr, status: statusOK})
			return true
		}
		return false
	}
	defer func() { c.c.Drop = nil }()
	run := func(d time.Duration) {
		t.Helper()
		end := c.c.Now + d
		for c.c.Now < end {
			c.c.RunUntil(end-c.c.Now, func() bool { return len(rw.frames) > 0 })
			for len(rw.frames) > 0 {
				frame, src := rw.frames[0], rw.from[0]
				rw.frames, rw.from = rw.frames[1:], rw.from[1:]
				c.c.Members[stray].Node.Step(env.Message{From: c.nodes[src].id, Frame: frame})
			}
			if !c.nodes[stray].st.HasLocal(addr) && !c.durableCopy(honest, addr) {
				t.Fatalf("the stray copy was collected at %v while the honest placement node holds none (liars lied %d times)", c.c.Now, lied)
			}
		}
	}
	c.cut[c.nodes[honest].id] = true
	run(3 * time.Second)
	if lied == 0 || !c.nodes[stray].st.HasLocal(addr) {
		t.Fatalf("with the honest placement node cut off: %d lies told, stray holds it: %v", lied, c.nodes[stray].st.HasLocal(addr))
	}
	for _, l := range liars {
		if c.nodes[l].st.HasLocal(addr) {
			t.Fatalf("liar %d was pushed the object although it said it held it", l)
		}
	}
	delete(c.cut, c.nodes[honest].id)
	run(3 * time.Second)
	if !c.durableCopy(honest, addr) || c.nodes[stray].st.HasLocal(addr) {
		t.Fatalf("after the heal: honest placement node holds it %v, stray still holds it %v", c.durableCopy(honest, addr), c.nodes[stray].st.HasLocal(addr))
	}
}

package storage

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// An acknowledged pinned put promises a copy kept on the node that
// acknowledged it, placed there or not (the simulator's pins check). When
// that node's own pinned write fails, the placement nodes may still reach
// write quorum: the put must then answer an error, not success (before,
// a coordinator outside the placement acknowledged it with no copy held,
// and a placed one whose write failed did once two other replicas had
// it). The client's retry, once the disk is sound, pins it.
func TestPinnedPutLocalWriteFails(t *testing.T) {
	for _, tc := range []struct {
		name   string
		placed bool
		prefix string // the key prefix whose write fails on the coordinator
	}{
		{"not placed, manifest write fails", false, prefixManifest},
		{"not placed, chunk write fails", false, prefixChunk},
		{"placed, pin write fails", true, prefixPin},
		{"placed, manifest write fails", true, prefixManifest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, 5, 41, noRepair)
			data := randomData(42, 2*ChunkBytesMin+7)
			addr := proto.AddrOf(data)
			coord := c.notPlaced(addr, 3)[0]
			if tc.placed {
				coord = c.placed(addr, 3)[0]
			}
			d := c.nodes[coord].disk
			watched := d.Fault
			failing := true
			d.Fault = func(op *env.DiskOp) error {
				if failing && op.Kind == env.DiskPut && strings.HasPrefix(string(op.Key), tc.prefix) {
					return fmt.Errorf("test: injected write error: %w", env.ErrDiskIO)
				}
				return watched(op)
			}
			res := c.put(coord, data, true)
			st := c.nodes[coord].st
			if res.Err == nil {
				t.Fatalf("pinned put acknowledged (%+v) though its pinned write failed: holds a copy %v, pinned %v",
					res, st.HasLocal(addr), pinnedHere(st, addr))
			}
			if !errors.Is(res.Err, ErrUnknownOutcome) || !errors.Is(res.Err, env.ErrDiskIO) {
				t.Fatalf("pinned put: %v, want ErrUnknownOutcome carrying the disk error", res.Err)
			}
			// The object was replicated all the same: a retry on a sound
			// disk is acknowledged and leaves a pinned, durable copy here.
			c.advance(time.Second)
			failing = false
			res = c.put(coord, data, true)
			if res.Err != nil {
				t.Fatalf("retried pinned put: %v", res.Err)
			}
			c.advance(time.Second)
			if !st.HasLocal(addr) || !pinnedHere(st, addr) || !c.durableCopy(coord, addr) {
				t.Fatalf("after the retry: holds %v, pinned %v, durable %v", st.HasLocal(addr), pinnedHere(st, addr), c.durableCopy(coord, addr))
			}
			if _, ok := d.Durable()[string(diskKey(prefixPin, addr))]; !ok {
				t.Fatal("after the retry: no durable pin record")
			}
		})
	}
}

func pinnedHere(st *Storage, addr proto.Addr) bool {
	o := st.index.committed(addr)
	return o != nil && o.pinned
}

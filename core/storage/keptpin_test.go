package storage

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// newerPinnedStray makes a pinned copy on a node that is not placed whose
// manifest a newer build wrote, and restarts the node: recovery keeps the
// pin (keptPins), neither indexed nor listed lost. It returns the node
// and the manifest's key and sealed bytes.
func newerPinnedStray(t *testing.T, c *cluster, data []byte) (holder int, key string, sealed []byte) {
	t.Helper()
	addr, holder := pinnedStray(t, c, data)
	h := c.nodes[holder]
	key = string(diskKey(prefixManifest, addr))
	durable, _ := h.disk.Get(key)
	raw, err := env.Unseal(durable)
	if err != nil {
		t.Fatal(err)
	}
	raw[0] = manifestVersion + 1 // the uvarint version is the first byte
	sealed = env.Seal(raw)
	h.disk.Plant(key, sealed)
	c.restartReady(holder)
	return holder, key, sealed
}

// TestKeptPinSurvivesHandoffCopy: a pin whose manifest a newer build
// wrote is kept unlisted by recovery; an unpinned put through that node
// whose hand-off keeps a copy there wrote the object unpinned over the
// newer manifest, and the GC pass then deleted it with the pin record
// (review rv8: a regression of pinfix2, which stopped listing such pins
// as lost). Now no write of it is made there: the newer manifest and the
// pin record stay.
func TestKeptPinSurvivesHandoffCopy(t *testing.T) {
	c := newCluster(t, 5, 23, smallChunks)
	data := randomData(33, 4*ChunkBytesMin+11)
	holder, key, sealed := newerPinnedStray(t, c, data)
	h := c.nodes[holder]
	addr := proto.AddrOf(data)
	pl := c.placed(addr, 3)
	// cut one placement node, so an unpinned put through holder is
	// acknowledged by two and hands off to the third.
	c.cut[c.nodes[pl[2]].id] = true
	res := c.put(holder, data, false)
	c.advance(2 * time.Minute)
	t.Logf("unpinned put via holder: %v; held %v pinned %v", res.Err, h.st.HasLocal(addr), pinnedHere(h.st, addr))
	c.cut[c.nodes[pl[2]].id] = false
	c.advance(10 * time.Minute)
	durable := h.disk.Durable()
	if _, rec := durable[string(diskKey(prefixPin, addr))]; !rec {
		t.Fatal("the pin record was deleted: a pinned object lost its pin")
	}
	if v := durable[key]; !bytes.Equal(v, sealed) {
		t.Fatal("the newer build's manifest was overwritten or deleted")
	}
	// A pinned put through holder does not overwrite it either: it fails.
	if res := c.put(holder, data, true); res.Err == nil {
		t.Fatal("a pinned put acknowledged by a node that kept a newer build's pinned copy it cannot index")
	}
	c.advance(time.Minute)
	if v, _ := h.disk.Get(key); !bytes.Equal(v, sealed) {
		t.Fatal("a pinned put overwrote the newer build's manifest")
	}
}

// TestKeptPinDelete: a client's Delete of a pin recovery kept with a
// newer build's manifest deletes the pin record and succeeds (it was
// answered not found, and the record stayed).
func TestKeptPinDelete(t *testing.T) {
	c := newCluster(t, 5, 23, smallChunks)
	data := randomData(34, 3*ChunkBytesMin+5)
	holder, key, sealed := newerPinnedStray(t, c, data)
	h := c.nodes[holder]
	addr := proto.AddrOf(data)
	del, _ := c.request(holder, Delete{Addr: addr}, time.Second).(DeleteResult)
	if del.Err != nil {
		t.Fatalf("delete of a kept pin: %v", del.Err)
	}
	durable := h.disk.Durable()
	if _, rec := durable[string(diskKey(prefixPin, addr))]; rec {
		t.Fatal("the kept pin's record survived its Delete")
	}
	if !bytes.Equal(durable[key], sealed) {
		t.Fatal("the newer build's manifest was not left to it")
	}
}

// TestKeptPinRefusalNotRetryable: a pinned put of an object this node
// keeps pinned for a newer build is refused with ErrKeptByNewerBuild,
// which is neither ErrUnknownOutcome nor ErrUnavailable (both retried by
// clients) and names what clears it; the newer manifest stays. The old
// code answered ErrUnknownOutcome wrapping ErrUnavailable though the
// refusal lasts until a restart or a Delete.
func TestKeptPinRefusalNotRetryable(t *testing.T) {
	c := newCluster(t, 5, 23, smallChunks)
	data := randomData(35, 2*ChunkBytesMin+7)
	holder, key, sealed := newerPinnedStray(t, c, data)
	for range 2 { // the same answer again: a retry does not help
		res := c.put(holder, data, true)
		if !errors.Is(res.Err, ErrKeptByNewerBuild) || errors.Is(res.Err, ErrUnknownOutcome) || errors.Is(res.Err, ErrUnavailable) {
			t.Fatalf("pinned put of a kept pin: %v; want ErrKeptByNewerBuild alone", res.Err)
		}
		if msg := res.Err.Error(); !strings.Contains(msg, "restart") || !strings.Contains(msg, "Delete") {
			t.Fatalf("the refusal does not say what clears it: %q", msg)
		}
	}
	if v, _ := c.nodes[holder].disk.Get(key); !bytes.Equal(v, sealed) {
		t.Fatal("a pinned put overwrote the newer build's manifest")
	}
}

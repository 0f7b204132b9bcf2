package storage

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto/wire"
)

// TestNewerManifestIsKeptNotDeleted: a manifest whose version is newer
// than this build reads (written by a newer build before a downgrade) is
// refused by name at recovery, counted, and left on disk; a manifest of
// an unknown older version is still bad and dropped.
func TestNewerManifestIsKeptNotDeleted(t *testing.T) {
	newer := wire.AppendUvarint(nil, manifestVersion+1)
	if _, err := DecodeManifest(newer); !errors.Is(err, env.ErrNewerFormat) || !errors.Is(err, ErrBadManifest) {
		t.Fatalf("newer manifest: %v", err)
	}
	if _, err := DecodeManifest(wire.AppendUvarint(nil, 0)); errors.Is(err, env.ErrNewerFormat) || !errors.Is(err, ErrBadManifest) {
		t.Fatalf("version 0 manifest: %v", err)
	}

	c := newCluster(t, 3, 7, smallChunks)
	res := c.put(0, randomData(5, 3000), false)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	c.advance(time.Second)
	key := string(diskKey(prefixManifest, res.Addr))
	durable, _ := c.nodes[2].disk.Get(key)
	raw, err := env.Unseal(durable)
	if err != nil {
		t.Fatal(err)
	}
	raw[0] = manifestVersion + 1 // the uvarint version is the first byte
	c.nodes[2].disk.Plant(key, env.Seal(raw))
	c.crash(2)
	c.start(2)
	c.step()
	if c.nodes[2].st.HasLocal(res.Addr) {
		t.Fatal("a newer manifest was indexed")
	}
	if v, ok := c.nodes[2].disk.Get(key); !ok || !bytes.Equal(v, env.Seal(raw)) {
		t.Fatal("a newer manifest was deleted")
	}
	if got := c.metric(2, MetricRejects, ReasonNewerFormat); got != 1 {
		t.Fatalf("%s{%s} = %v, want 1", MetricRejects, ReasonNewerFormat, got)
	}
	if got := c.metric(2, MetricCorruption, ""); got != 0 {
		t.Fatalf("a newer manifest counted as corruption: %v", got)
	}
}

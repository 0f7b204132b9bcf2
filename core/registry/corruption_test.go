package registry

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"testing"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/env/envtest"
	"github.com/ron-network/ron/core/proto"
)

// pebbleShaped wraps cause as io/pebbledisk reports a corrupt read: two %w
// in one fmt.Errorf, so the corruption sentinel is one branch of a tree,
// not a link of a chain.
func pebbleShaped(what string, cause error) error {
	return fmt.Errorf("pebbledisk: %s: %w: %w", what, env.ErrCorruption, cause)
}

// TestCorruptionCountedThroughMultiWrap: a corruption on the recovery scan
// wrapped the way pebbledisk wraps it fails the replica and counts in
// registry_corruption_total; a plain I/O error fails it without counting.
func TestCorruptionCountedThroughMultiWrap(t *testing.T) {
	cases := []struct {
		err     error
		counted float64
	}{
		{pebbleShaped("scan", errors.New("pebble: checksum mismatch")), 1},
		{fmt.Errorf("pebbledisk: scan: %w", env.ErrDiskIO), 0},
	}
	for i, c := range cases {
		if !errors.Is(c.err, env.ErrCorruption) == (c.counted == 1) {
			t.Fatalf("case %d: the error's shape is not what the test means", i)
		}
		key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize))
		self := proto.NodeIDFromPublicKey(key.Public().(ed25519.PublicKey))
		e := envtest.New(self, 1)
		r := New(Config{Key: key, Replicas: []proto.NodeID{self}})
		r.Init(e)
		r.Handle(env.Start{})
		done := e.CompleteDisk()
		if len(done) == 0 {
			t.Fatal("no recovery scan at start")
		}
		d := done[0].(env.DiskDone)
		d.Result = env.DiskResult{Err: c.err}
		r.Handle(d)
		if !r.Failed() {
			t.Errorf("case %d: %v did not fail the replica", i, c.err)
		}
		if got := e.Recorder.Values[envtest.Key(MetricCorruption, "")]; got != c.counted {
			t.Errorf("case %d: %v counted %v corruptions, want %v", i, c.err, got, c.counted)
		}
	}
}

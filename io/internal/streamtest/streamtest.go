// Package streamtest holds what the tests of io/gateway and io/oapgate
// share to stream large objects without holding them: a seeded byte
// pattern of any length, its address, and a heap-peak sampler for the
// bounded-memory tests, and goroutine numbers for the tests that check
// their goroutines end (io/pebbledisk too). It is imported by tests only.
package streamtest

import (
	"io"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"

	"lukechampine.com/blake3"

	"github.com/ron-network/ron/core/proto"
)

// Pattern yields n seeded pseudo-random bytes without holding them.
type Pattern struct {
	rng  *rand.ChaCha8
	left int64
}

// NewPattern returns the first n bytes of seed's pattern.
func NewPattern(seed byte, n int64) *Pattern {
	return &Pattern{rng: rand.NewChaCha8([32]byte{seed}), left: n}
}

// Read implements io.Reader.
func (p *Pattern) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.left)]
	_, _ = p.rng.Read(b)
	p.left -= int64(len(b))
	return len(b), nil
}

// Bytes returns bytes [from, to) of seed's pattern.
func Bytes(seed byte, from, to int64) []byte {
	p := NewPattern(seed, to)
	_, _ = io.CopyN(io.Discard, p, from)
	out, _ := io.ReadAll(p)
	return out
}

// Addr is the b3 address of the first n bytes of seed's pattern.
func Addr(seed byte, n int64) proto.Addr {
	h := blake3.New(proto.IDBytes, nil)
	_, _ = io.Copy(h, NewPattern(seed, n))
	var a proto.Addr
	h.Sum(a[:0])
	return a
}

// raceGCPercent is the GC percent HeapPeak sets under the race detector
// (see race.go): garbage is collected after 10% heap growth, not 100%.
const raceGCPercent = 10

// HeapPeak samples HeapInuse until stop is called and returns the peak
// above the baseline taken after a GC at the start. It measures memory,
// not time: the sampling interval only sets how fine the peak is seen.
func HeapPeak() (stop func() uint64) {
	gcPercent := -2 // not changed
	if raceEnabled {
		gcPercent = debug.SetGCPercent(raceGCPercent)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		if gcPercent != -2 {
			debug.SetGCPercent(gcPercent)
		}
		return peak.Load() - min(base, peak.Load())
	}
}

// HeapBound returns the heap bound a bounded-memory test asserts for
// bound: bound itself, or half as much again under the race detector,
// whose slower instrumented reader lets QUIC's send side hold more
// in-flight data at the peak even with eager GC (see race.go): 67 MiB was
// seen at the GET peak of both the gateway's and oapgate's tests on a
// loaded machine. A 128 or 256 MiB stream under a 96 MiB bound still
// proves it is not buffered whole.
func HeapBound(bound uint64) uint64 {
	if raceEnabled {
		return bound + bound/2
	}
	return bound
}

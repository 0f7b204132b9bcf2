package sim

import (
	cryptorand "crypto/rand"
	"io"
	"sync"

	"github.com/ron-network/ron/core/env"
)

// openWorld guards the one-world-per-process rule: crypto/rand.Reader is a
// process-wide variable, so two open worlds would share (and race on) one
// seeded reader and neither run would be reproducible.
var openWorld struct {
	sync.Mutex
	open bool
}

// cryptoReader is the seeded reader a world installs as crypto/rand.Reader
// for raft's election jitter (raft calls crypto/rand.Int(rand.Reader, n)).
// The mutex only keeps a stray reader on another goroutine from corrupting
// the generator; such a reader would still break reproducibility.
type cryptoReader struct {
	mu        sync.Mutex
	rand      *env.Rand
	previous  io.Reader
	installed bool
}

func (c *cryptoReader) Read(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rand.Read(b)
}

// install replaces crypto/rand.Reader; it panics if another World is open.
func (c *cryptoReader) install(r *env.Rand) {
	openWorld.Lock()
	defer openWorld.Unlock()
	if openWorld.open {
		panic("sim: another World is open in this process; Close it first (one simulation per process)")
	}
	openWorld.open = true
	c.rand = r
	c.previous = cryptorand.Reader
	cryptorand.Reader = c
	c.installed = true
}

// restore puts the original reader back and releases the process.
func (c *cryptoReader) restore() {
	if !c.installed {
		return
	}
	openWorld.Lock()
	defer openWorld.Unlock()
	cryptorand.Reader = c.previous
	c.installed = false
	openWorld.open = false
}

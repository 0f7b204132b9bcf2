package gateway

import (
	"sync"

	"github.com/ron-network/ron/core/proto"
)

// SizeCacheEntriesMax bounds the object sizes the gateway remembers
// (sizeCache): about 40 bytes each.
const SizeCacheEntriesMax = 4096

// sizeCache remembers the sizes of objects whose manifests storage
// returned (checked against the address, the size included). An address
// names its bytes, so the size it maps to never changes and needs no
// invalidation. DELETE forgets it to keep the map mostly to objects the
// node still serves, not as a guarantee: a GET whose manifest call was in
// flight can put the size back after the DELETE, and an object deleted or
// dropped by storage itself stays listed. Either is harmless: a range of
// it is read before any header is written and still answers 404.
//
// It spares a range GET its manifest call (size): a single range of at
// most BufferedReadBytesMax of a known object is one storage call, the
// read itself, which also proves the object is still there before any
// header is written (a deleted object is a 404 as before). Requests
// whose answer rests on the size alone (HEAD, a 416, the conditional
// ones, multipart and streamed responses, which write their headers
// before reading) still ask storage for the manifest. When full, an
// arbitrary entry is dropped: a miss costs one manifest call.
type sizeCache struct {
	mu    sync.Mutex
	sizes map[proto.Addr]uint64
}

func newSizeCache() *sizeCache {
	return &sizeCache{sizes: make(map[proto.Addr]uint64)}
}

func (c *sizeCache) get(addr proto.Addr) (uint64, bool) {
	c.mu.Lock()
	size, ok := c.sizes[addr]
	c.mu.Unlock()
	return size, ok
}

func (c *sizeCache) put(addr proto.Addr, size uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.sizes[addr]; !ok && len(c.sizes) >= SizeCacheEntriesMax {
		for victim := range c.sizes { // map order ok: any entry may go
			delete(c.sizes, victim)
			break
		}
	}
	c.sizes[addr] = size
}

func (c *sizeCache) remove(addr proto.Addr) {
	c.mu.Lock()
	delete(c.sizes, addr)
	c.mu.Unlock()
}

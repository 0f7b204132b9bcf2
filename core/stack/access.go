package stack

import (
	"github.com/ron-network/ron/core/dht"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/overlay"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/core/storage"
)

// DHTOf returns n's DHT, or nil (n is nil or runs none).
func DHTOf(n *node.Node) *dht.DHT {
	if n == nil {
		return nil
	}
	switch d := n.Service("dht").(type) {
	case *dht.DHT:
		return d
	case *joiner:
		return d.DHT
	}
	return nil
}

// RegistryOf returns n's registry, or nil.
func RegistryOf(n *node.Node) *registry.Registry {
	if n == nil {
		return nil
	}
	r, _ := n.Service(registry.ServiceName).(*registry.Registry)
	return r
}

// StorageOf returns n's storage, or nil.
func StorageOf(n *node.Node) *storage.Storage {
	if n == nil {
		return nil
	}
	s, _ := n.Service("storage").(*storage.Storage)
	return s
}

// OverlayOf returns n's overlay, or nil.
func OverlayOf(n *node.Node) *overlay.Overlay {
	if n == nil {
		return nil
	}
	o, _ := n.Service("overlay").(*overlay.Overlay)
	return o
}

// Ready reports whether n may serve: storage (if any) has recovered and
// the registry (if any) has not failed. It is rond's readiness check.
func Ready(n *node.Node) bool {
	if st := StorageOf(n); st != nil && !st.Ready() {
		return false
	}
	if r := RegistryOf(n); r != nil && r.Failed() {
		return false
	}
	return true
}

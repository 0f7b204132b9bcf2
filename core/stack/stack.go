package stack

import (
	"crypto/ed25519"
	"fmt"
	"slices"
	"strings"

	"github.com/ron-network/ron/core/audit"
	"github.com/ron-network/ron/core/authz"
	"github.com/ron-network/ron/core/dht"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/overlay"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/core/storage"
)

// Optional is a set of services a node may leave off.
type Optional uint8

// The optional services.
const (
	DHT Optional = 1 << iota
	Storage
	Audit

	optionalAll = DHT | Storage | Audit
)

// optionalNames lists the optional services by name, in bit order.
var optionalNames = [...]string{"dht", "storage", "audit"}

// ParseOptional returns the optional service called name.
func ParseOptional(name string) (Optional, bool) {
	for i, n := range optionalNames {
		if n == name {
			return 1 << i, true
		}
	}
	return 0, false
}

// OptionalNames are the names ParseOptional accepts.
func OptionalNames() []string { return slices.Clone(optionalNames[:]) }

// Has reports whether o holds every service of p.
func (o Optional) Has(p Optional) bool { return o&p == p }

// String lists the set's names, comma-separated ("" when empty).
func (o Optional) String() string {
	var names []string
	for i, n := range optionalNames {
		if o.Has(1 << i) {
			names = append(names, n)
		}
	}
	return strings.Join(names, ",")
}

// Description describes one node. The service configs are the services'
// own; New fills in what the composition decides (keys, replicas, the DHT
// storage places through, the registry authz reads revocations from), so
// a caller leaves those fields zero.
type Description struct {
	// Key is the node's identity.
	Key ed25519.PrivateKey
	// Peers are the overlay's static peers (self is removed). Empty: the
	// node runs no overlay.
	Peers []proto.NodeID
	// Replicas are the registry's raft voters (this node may be one).
	// Empty: the node runs no registry.
	Replicas []proto.NodeID
	// Members is the node's closed membership, if it has one: the overlay
	// admits dynamic peers only from it (overlay.Config.Members). Nil:
	// open, any node may become a dynamic peer (the simulator's nodes).
	// The services take their own membership in their configs.
	Members []proto.NodeID
	// Registry configures the registry (Key and Replicas are set by New).
	Registry registry.Config
	// DHT configures the DHT (Key is set by New).
	DHT dht.Config
	// DHTJoinAt delays the DHT's start until the node's clock reads it
	// (zero: at once). A node that starts after it joins at once.
	DHTJoinAt env.Time
	// Storage configures storage (DHT is set by New when the DHT runs).
	Storage storage.Config
	// Authz configures authz (Revocations is set by New to the registry).
	Authz authz.Config
	// Audit configures the audit log (its retention).
	Audit audit.Config
	// Off lists the optional services the node does not run.
	Off Optional
	// OverlayBug selects a deliberately wrong overlay (canary builds only;
	// core/overlay ignores it otherwise).
	OverlayBug overlay.Bug
	// OverlaySignatures is the HELLO signature cache shared by the nodes
	// of one simulated world (overlay.Config.Signatures); nil in rond.
	OverlaySignatures *overlay.HelloSignatures
}

// Self is the node id of Key.
func (d Description) Self() proto.NodeID {
	return proto.NodeIDFromPublicKey(d.Key.Public().(ed25519.PublicKey))
}

// Validate checks the description, naming the offending setting.
func (d Description) Validate() error {
	if len(d.Key) != ed25519.PrivateKeySize {
		return fmt.Errorf("stack: Key is not an Ed25519 private key")
	}
	for i, k := range d.Registry.AdminKeys {
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("stack: Registry.AdminKeys[%d] is not an Ed25519 public key", i)
		}
		// Under a small-order key anyone can sign a Revoke (the
		// registry's admin keys come from here only: a config).
		if err := proto.CheckPublicKey(k); err != nil {
			return fmt.Errorf("stack: Registry.AdminKeys[%d]: %w", i, err)
		}
	}
	if err := d.Audit.Validate(); err != nil {
		return fmt.Errorf("stack: %w", err)
	}
	if d.Off&^optionalAll != 0 {
		return fmt.Errorf("stack: Off holds unknown services %#x", uint8(d.Off&^optionalAll))
	}
	if !d.Off.Has(Storage) {
		cfg := d.Storage
		if cfg.DHT == nil && len(cfg.Members) == 0 && !d.Off.Has(DHT) {
			cfg.Members = []proto.NodeID{d.Self()} // stands in for the DHT New gives it
		}
		if err := cfg.Validate(); err != nil {
			return fmt.Errorf("stack: %w", err)
		}
	}
	return nil
}

// Part is one composed service as Plan sees it: its name and the
// configuration New gives it (nil for services without one). Config
// fields that New fills with other services (storage's DHT, authz's
// revocation view) are left nil in a Part, so two Parts compare by value.
type Part struct {
	Name   string
	Config any
}

// Plan lists the services New composes for d, in order, with their
// configurations. It is what the two worlds' parity test compares.
func Plan(d Description) []Part {
	d = d.normalized()
	var parts []Part
	if len(d.Peers) > 0 {
		parts = append(parts, Part{"overlay", d.overlayConfig()})
	}
	if len(d.Replicas) > 0 {
		parts = append(parts, Part{registry.ServiceName, d.registryConfig()})
	}
	parts = append(parts, Part{authz.ServiceName, d.Authz})
	if !d.Off.Has(DHT) {
		parts = append(parts, Part{"dht", DHTPart{d.dhtConfig(), d.DHTJoinAt}})
	}
	if !d.Off.Has(Storage) {
		parts = append(parts, Part{"storage", d.Storage})
	}
	if !d.Off.Has(Audit) {
		parts = append(parts, Part{"audit", nil})
	}
	return parts
}

// DHTPart is the DHT's Part config: its config and join time.
type DHTPart struct {
	Config dht.Config
	JoinAt env.Time
}

// New builds the node d describes on e: the only place services are
// composed (see the package comment). Node invariants are always checked
// (node.Config.Invariants).
func New(e env.Env, d Description) *node.Node {
	return node.New(e, node.Config{Invariants: true}, Services(d)...)
}

// Services builds d's services in Plan's order.
func Services(d Description) []node.Service {
	d = d.normalized()
	var services []node.Service
	if len(d.Peers) > 0 {
		services = append(services, overlay.New(d.overlayConfig()))
	}
	var reg *registry.Registry
	if len(d.Replicas) > 0 {
		reg = registry.New(d.registryConfig())
		services = append(services, reg)
	}
	az := d.Authz
	if reg != nil {
		az.Revocations = reg
	}
	services = append(services, authz.New(az))
	var placer *dht.DHT
	if !d.Off.Has(DHT) {
		placer = dht.New(d.dhtConfig())
		services = append(services, wrapJoin(placer, d.DHTJoinAt))
	}
	if !d.Off.Has(Storage) {
		cfg := d.Storage
		if placer != nil {
			cfg.DHT = placer
		}
		services = append(services, storage.New(cfg))
	}
	if !d.Off.Has(Audit) {
		services = append(services, audit.New(d.Audit))
	}
	return services
}

// normalized sorts and deduplicates the id lists and drops self from
// Peers; the registry requires sorted replicas.
func (d Description) normalized() Description {
	self := d.Self()
	d.Peers = slices.DeleteFunc(slices.Clone(d.Peers), func(id proto.NodeID) bool { return id == self })
	slices.SortFunc(d.Peers, proto.NodeID.Compare)
	d.Peers = slices.Compact(d.Peers)
	d.Replicas = slices.Clone(d.Replicas)
	slices.SortFunc(d.Replicas, proto.NodeID.Compare)
	d.Replicas = slices.Compact(d.Replicas)
	return d
}

func (d Description) overlayConfig() overlay.Config {
	return overlay.Config{Key: d.Key, Peers: d.Peers, Members: d.Members, Bug: d.OverlayBug, Signatures: d.OverlaySignatures}
}

func (d Description) registryConfig() registry.Config {
	cfg := d.Registry
	cfg.Key, cfg.Replicas = d.Key, d.Replicas
	return cfg
}

func (d Description) dhtConfig() dht.Config {
	cfg := d.DHT
	cfg.Key = d.Key
	return cfg
}

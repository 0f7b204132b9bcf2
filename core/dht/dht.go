package dht

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/internal/invariants"
	"github.com/ron-network/ron/core/internal/refusedlog"
	"github.com/ron-network/ron/core/membership"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
)

// Metric names (ARCHITECTURE section 8).
const (
	MetricLookupLatency   = "dht_lookup_latency_seconds"
	MetricLookupHops      = "dht_lookup_hops"
	MetricBucketFillRatio = "dht_bucket_fill_ratio"
	MetricTimeouts        = "dht_timeouts_total"
	MetricRejects         = "dht_rejects_total"
	MetricLookups         = "dht_lookups_total"
	MetricProviderRecords = "dht_provider_records"
	MetricShed            = "dht_shed_total"
)

var _ = env.Declare(
	env.MetricDef{Name: MetricLookupLatency, Kind: env.Histogram, Help: "Time from the start of a lookup to its result.", Buckets: env.LatencyBuckets},
	env.MetricDef{Name: MetricLookupHops, Kind: env.Histogram, Help: "Hops of finished lookups (see core/dht doc).", Buckets: env.HopBuckets},
	env.MetricDef{Name: MetricBucketFillRatio, Kind: env.Gauge, Help: "Share of k-bucket slots in use, over buckets up to the deepest non-empty one."},
	env.MetricDef{Name: MetricTimeouts, Kind: env.Counter, Help: "DHT RPC attempts that got no reply within RPCTimeout."},
	env.MetricDef{Name: MetricRejects, Kind: env.Counter, Help: "DHT messages and provider records rejected, by reason.", Label: "reason"},
	env.MetricDef{Name: MetricLookups, Kind: env.Counter, Help: "Finished lookups, by result (ok, hop_budget, timeout, empty).", Label: "result"},
	env.MetricDef{Name: MetricProviderRecords, Kind: env.Gauge, Help: "Provider records held in the store."},
	env.MetricDef{Name: MetricShed, Kind: env.Counter, Help: "Work shed because a bounded table was full, by table.", Label: "what"},
)

// Reject reasons of dht_rejects_total besides the record ones.
const (
	ReasonMalformed       = "malformed"
	ReasonUnexpectedReply = "unexpected_reply"
	// A valid PROVIDE refused because its sender, or its provider, already
	// holds Config.ProviderRecordsPerSenderMax records in this store.
	ReasonSenderQuota   = "sender_quota"
	ReasonProviderQuota = "provider_quota"
	// ReasonNotMember: a message from, a contact named as, or a provider
	// record of a node outside Config.Members.
	ReasonNotMember = "not_member"
)

// Lookup results of dht_lookups_total.
const (
	ResultOK        = "ok"
	ResultHopBudget = "hop_budget"
	ResultTimeout   = "timeout"
	ResultEmpty     = "empty"
)

// Errors of lookups and requests.
var (
	ErrHopBudget      = errors.New("dht: hop budget exhausted")
	ErrTimeout        = errors.New("dht: no contact answered")
	ErrNoContacts     = errors.New("dht: routing table empty")
	ErrOverloaded     = errors.New("dht: too many lookups in flight")
	ErrNotStarted     = errors.New("dht: not started")
	ErrNotStored      = errors.New("dht: no node stored the provider record")
	ErrUnknownRequest = node.ErrUnknownRequest
)

// Client requests (env.Request.Body; pointers are accepted too).
type (
	FindNode      struct{ Target proto.NodeID }
	FindProviders struct {
		Addr proto.Addr
		Max  int // 0 or more than ProvidersPerReplyMax means ProvidersPerReplyMax
	}
	Provide struct{ Addr proto.Addr }
)

// LookupResult answers FindNode. Closest is sorted by XOR distance to the
// target and holds at most K ids; it is the best set found even when Err is
// set.
type LookupResult struct {
	Closest []proto.NodeID
	Hops    int
	Err     error
}

// ProvidersResult answers FindProviders; Providers are verified, unexpired
// and sorted by provider id.
type ProvidersResult struct {
	Providers []ProviderRecord
	Hops      int
	Err       error
}

// ProvideResult answers Provide: Stored counts the nodes (this one
// included, when it is among the K closest) that acknowledged the record.
type ProvideResult struct {
	Stored int
	Err    error
}

// Timer tag layout: kind in bits 48..55, value (a corr id) below.
const (
	tagKindShift        = 48
	tagValueMask        = 1<<tagKindShift - 1
	tagRPC       uint64 = 1
	tagTick      uint64 = 2
)

var _ = [node.TagMax - (tagTick<<tagKindShift | tagValueMask)]struct{}{} // tags fit node.TagMax

// DHT is the Kademlia machine of one node. See the package doc.
type DHT struct {
	cfg  Config
	self proto.NodeID
	env  env.Env
	// members is Config.Members as a set; open for an open DHT.
	members membership.Set
	// refused: when each refused non-member was last logged (refused.go).
	refused refusedlog.Log

	started bool
	table   table
	evicts  map[int]eviction // bucket index -> pending ping-before-evict
	pending map[uint64]*rpc  // corr id -> outstanding RPC
	corr    uint64           // last corr id issued (48-bit space)
	lookups map[uint64]*lookup
	nextLID uint64
	store   store
	provs   providing
	tick    env.TimerID
}

var _ node.Service = (*DHT)(nil)
var _ node.InvariantChecker = (*DHT)(nil)

// New returns a DHT for cfg. An invalid cfg is a programmer error (the
// owner validates configuration with Config.Validate before building
// machines) and panics.
func New(cfg Config) *DHT {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	cfg = cfg.withDefaults()
	pub := cfg.Key.Public().(ed25519.PublicKey)
	d := &DHT{cfg: cfg, self: proto.NodeIDFromPublicKey(pub)}
	d.reset()
	d.setMembers(cfg.Members)
	return d
}

func (d *DHT) reset() {
	d.table = newTable(d.self, d.cfg.K)
	d.evicts = map[int]eviction{}
	d.pending = map[uint64]*rpc{}
	d.lookups = map[uint64]*lookup{}
	d.store = newStore(d.cfg.ProviderRecordsMax, d.cfg.ProviderRecordsPerSenderMax, d.self)
	d.provs = newProviding()
}

// Name implements node.Service.
func (d *DHT) Name() string { return ServiceName }

// Protocols implements node.Service.
func (d *DHT) Protocols() []uint16 { return []uint16{oap.ProtoDHT} }

// Init implements node.Service. The env's Self must be this DHT's id.
func (d *DHT) Init(e env.Env) {
	if e.Self() != d.self {
		panic(fmt.Sprintf("dht: env self %s is not the key's node id %s", e.Self().Short(), d.self.Short()))
	}
	d.env = e
}

// Self is this node's id.
func (d *DHT) Self() proto.NodeID { return d.self }

// Handle implements node.Service.
func (d *DHT) Handle(in env.Input) {
	switch in := in.(type) {
	case env.Start:
		d.start()
	case env.Message:
		if d.started {
			d.onMessage(in.From, in.Frame)
		}
	case env.TimerFired:
		d.onTimer(in.Tag)
	case env.Request:
		d.onRequest(in)
	}
}

// start (re)initialises the soft state: the DHT keeps nothing durable, a
// restarted node rejoins through its bootstrap contacts.
func (d *DHT) start() {
	if d.started {
		d.env.CancelTimer(d.tick)
	}
	d.reset()
	d.started = true
	d.corr = d.env.Rand().Uint64() & tagValueMask
	d.bootstrap()
	d.armTick()
}

// member reports whether id may be learned and served: always for an
// open DHT (no Config.Members), else when id is this node or listed.
func (d *DHT) member(id proto.NodeID) bool {
	return id == d.self || d.members.Admits(id)
}

// bootstrap seeds the table and looks up self; when that finishes, the
// buckets it left empty are refreshed once.
func (d *DHT) bootstrap() {
	for _, id := range d.cfg.Bootstrap {
		if d.member(id) {
			d.table.seen(id)
		}
	}
	if d.table.size == 0 {
		return
	}
	d.startLookup(&lookup{purpose: purposeSelf, target: d.self})
}

func (d *DHT) onRequest(in env.Request) {
	reply := func(resp any) { d.env.Reply(in.ID, resp) }
	switch body := in.Body.(type) {
	case FindNode:
		d.Lookup(body.Target, func(r LookupResult) { reply(r) })
	case *FindNode:
		d.Lookup(body.Target, func(r LookupResult) { reply(r) })
	case FindProviders:
		d.FindProvidersAsync(body.Addr, body.Max, func(r ProvidersResult) { reply(r) })
	case *FindProviders:
		d.FindProvidersAsync(body.Addr, body.Max, func(r ProvidersResult) { reply(r) })
	case Provide:
		d.ProvideAsync(body.Addr, func(r ProvideResult) { reply(r) })
	case *Provide:
		d.ProvideAsync(body.Addr, func(r ProvideResult) { reply(r) })
	case SetRepublish:
		d.cfg.RepublishOff = !body.Enabled
		reply(body)
	case SetMembers:
		d.setMembers(body.Members)
		reply(body)
	default:
		reply(fmt.Errorf("%w: %T", ErrUnknownRequest, in.Body))
	}
}

// Lookup finds the K nodes closest to target. done runs once, from a later
// input, or before Lookup returns when the lookup cannot start (not
// started, no contacts, too many lookups in flight).
func (d *DHT) Lookup(target proto.NodeID, done func(LookupResult)) {
	d.startLookup(&lookup{purpose: purposeFindNode, target: target, onNode: done})
}

// FindProvidersAsync finds up to max verified provider records for addr
// (max <= 0 or above ProvidersPerReplyMax means ProvidersPerReplyMax). done
// runs as for Lookup.
func (d *DHT) FindProvidersAsync(addr proto.Addr, max int, done func(ProvidersResult)) {
	if max <= 0 || max > ProvidersPerReplyMax {
		max = ProvidersPerReplyMax
	}
	d.startLookup(&lookup{purpose: purposeFindProviders, target: addr.Key(), addr: addr, max: max, onProviders: done})
}

// ProvideAsync announces this node as a provider of addr: it signs a record
// valid for ProviderTTL and stores it at the K nodes closest to addr, and
// republishes it every RepublishInterval until the node restarts. done runs
// as for Lookup.
func (d *DHT) ProvideAsync(addr proto.Addr, done func(ProvideResult)) {
	if d.started && !d.provs.add(addr, d.env.Now().Add(d.cfg.RepublishInterval)) {
		d.env.Metrics().Add(MetricShed, "providing", 1)
	}
	d.provide(addr, done)
}

func (d *DHT) provide(addr proto.Addr, done func(ProvideResult)) {
	l := &lookup{purpose: purposeProvide, target: addr.Key(), addr: addr, onProvide: done}
	if d.started {
		l.record = NewProviderRecord(d.cfg.Key, addr, d.env.Now().Add(d.cfg.ProviderTTL))
	}
	d.startLookup(l)
}

// Closest returns up to n ids from the local routing table, sorted by XOR
// distance to target. The caller owns the slice.
func (d *DHT) Closest(target proto.NodeID, n int) []proto.NodeID {
	n = min(n, d.table.size)
	return d.table.appendClosest(make([]proto.NodeID, 0, max(n, 0)), target, n)
}

// TableSize is the number of contacts in the routing table.
func (d *DHT) TableSize() int { return d.table.size }

// ProviderRecords is the number of records in the local store.
func (d *DHT) ProviderRecords() int { return d.store.len() }

// CheckInvariants implements node.InvariantChecker: the cheap structural
// checks, plus the O(table) ones when built with the invariants tag.
// The node calls it once after every step; Handle does not check by
// itself.
func (d *DHT) CheckInvariants() {
	d.table.check(invariants.Enabled)
	if len(d.pending) > PendingRPCsMax {
		panic(fmt.Sprintf("dht: %d pending RPCs, max %d", len(d.pending), PendingRPCsMax))
	}
	if len(d.lookups) > LookupsInflightMax {
		panic(fmt.Sprintf("dht: %d lookups, max %d", len(d.lookups), LookupsInflightMax))
	}
	if len(d.evicts) > BucketsCount {
		panic(fmt.Sprintf("dht: %d evictions pending", len(d.evicts)))
	}
	if invariants.Enabled {
		d.checkDeep()
	}
}

// checkDeep runs the expensive checks; tests call it directly.
func (d *DHT) checkDeep() {
	d.table.check(true)
	d.store.check()
	d.provs.check()
	// map order ok: each lookup is checked on its own; nothing is emitted.
	for _, l := range d.lookups {
		l.check(d.cfg.K)
	}
}

package dht

import (
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/ron-network/ron/core/proto"
)

// Limits. Every table of the machine is bounded by one of these; when a limit
// is hit the machine sheds the newcomer (or the oldest entry, where stated)
// and counts it in dht_shed_total{what}.
const (
	// BucketsCount is the number of k-buckets: one per possible common
	// prefix length of two distinct 256-bit ids.
	BucketsCount = 8 * proto.IDBytes
	// KMax bounds Config.K, and with it every list of contacts on the wire.
	KMax = 32
	// AlphaMax bounds Config.Alpha.
	AlphaMax = 8
	// HopsMaxLimit bounds Config.HopsMax (HopBuckets end at 10).
	HopsMaxLimit = 10
	// LookupsInflightMax bounds the lookups (including provides, refreshes
	// and republishes) one node runs at a time.
	LookupsInflightMax = 64
	// LookupCandidatesMax bounds a lookup's shortlist; the farthest
	// candidates are dropped first.
	LookupCandidatesMax = 4 * KMax
	// LookupQueriesMax bounds the RPCs one lookup sends; with dedup and the
	// hop budget it is a backstop that guarantees termination.
	LookupQueriesMax = 4 * LookupCandidatesMax
	// PendingRPCsMax bounds outstanding RPCs: every lookup at full
	// parallelism, one eviction ping per bucket, and provide fan-out.
	PendingRPCsMax = LookupsInflightMax*AlphaMax + BucketsCount + 4*KMax
	// RPCAttemptsMax is how many times one RPC is sent before it counts as
	// failed (the first send plus retries on timeout).
	RPCAttemptsMax = 3
	// EvictionPingGap is how long a bucket whose head answered an eviction
	// ping drops newcomers without pinging again. A dead contact is still
	// removed within it by failed lookup RPCs (ContactFailsMax).
	EvictionPingGap = 10 * time.Second
	// ContactFailsMax is how many consecutive failed RPCs remove a contact
	// from the routing table.
	ContactFailsMax = 2
	// ProviderRecordsMax is the default bound on stored provider records.
	ProviderRecordsMax = 1 << 16
	// ProvidersPerAddrMax bounds the records stored for one address.
	ProvidersPerAddrMax = 64
	// ProvidersPerReplyMax bounds the records in one FIND_PROVIDERS reply
	// and in one FindProviders result.
	ProvidersPerReplyMax = 32
	// ProvidingMax bounds the addresses this node republishes.
	ProvidingMax = 1 << 16
	// RefreshPerTickMax bounds the bucket refresh lookups one maintenance
	// tick starts, so that a node waking up stale does not flood.
	RefreshPerTickMax = 8
	// MaintenanceIntervalMax is the longest gap between maintenance ticks.
	MaintenanceIntervalMax = time.Minute
	// MaintenanceIntervalMin is the shortest gap between maintenance ticks.
	MaintenanceIntervalMin = time.Second
	// ExpirySkewMax is how far beyond now+ProviderTTL a record's expiry may
	// lie before it is rejected: clocks of nodes differ.
	ExpirySkewMax = 5 * time.Minute
)

// Defaults for zero Config fields.
const (
	KDefault                 = 20
	AlphaDefault             = 3
	HopsMaxDefault           = 6
	RPCTimeoutDefault        = 500 * time.Millisecond
	RefreshIntervalDefault   = 15 * time.Minute
	ProviderTTLDefault       = 24 * time.Hour
	RepublishIntervalDefault = 12 * time.Hour
)

// Config configures one DHT machine. Zero fields take the defaults above.
type Config struct {
	Key       ed25519.PrivateKey // identity; NodeID = proto.NodeIDFromPublicKey(pub)
	Bootstrap []proto.NodeID     // initial contacts

	// Members, when set, is a closed membership: the machine learns
	// contacts only among them (the requests and replies of other nodes
	// are dropped and counted as dht_rejects_total{reason="not_member"};
	// lookups do not follow non-members named in replies; provider
	// records of non-members are neither stored nor returned by
	// FindProviders). This node is a member whether listed or not.
	// Empty: an open DHT, every sender is learned and served.
	Members []proto.NodeID

	K, Alpha, HopsMax int // defaults 20, 3, 6

	RPCTimeout        time.Duration // default 500ms
	RefreshInterval   time.Duration // default 15m; a bucket no lookup aimed at for this long is refreshed
	ProviderTTL       time.Duration // default 24h; lifetime of a signed provider record
	RepublishInterval time.Duration // default 12h; must be shorter than ProviderTTL

	ProviderRecordsMax int // default ProviderRecordsMax

	// ProviderRecordsPerSenderMax bounds the records charged to one sender
	// and those of one provider (default ProviderRecordsMax/8, at least 1;
	// see the store in doc.go). This node's own records are exempt.
	ProviderRecordsPerSenderMax int

	// RepublishOff stops republishing provider records (the flag
	// "republish" off; SetRepublish flips it on a running machine). First
	// announcements, lookups and the record store go on.
	RepublishOff bool

	// Bug selects deliberately wrong behaviour (canary builds only; see
	// bugs_canary.go). Normal builds clear it.
	Bug Bug
}

// Bug switches select deliberately wrong lookups so that the simulator's
// canaries can show its checks catch each. They take effect only in builds
// with the canary tag.
type Bug struct {
	// ReplySkipsFirst drops the first contact of a FIND_NODE reply, as if
	// it were always the requester: the node closest to a target is then
	// named by no one but itself.
	ReplySkipsFirst bool
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	setInt := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setDur := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	if !canaryBugs {
		c.Bug = Bug{}
	}
	setInt(&c.K, KDefault)
	setInt(&c.Alpha, AlphaDefault)
	setInt(&c.HopsMax, HopsMaxDefault)
	setInt(&c.ProviderRecordsMax, ProviderRecordsMax)
	setInt(&c.ProviderRecordsPerSenderMax, max(c.ProviderRecordsMax/8, 1))
	setDur(&c.RPCTimeout, RPCTimeoutDefault)
	setDur(&c.RefreshInterval, RefreshIntervalDefault)
	setDur(&c.ProviderTTL, ProviderTTLDefault)
	setDur(&c.RepublishInterval, RepublishIntervalDefault)
	return c
}

// Validate reports the first setting of c (after defaults) that is out of
// range, naming it.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case len(c.Key) != ed25519.PrivateKeySize:
		return fmt.Errorf("dht: config Key: %d bytes, want an Ed25519 private key of %d", len(c.Key), ed25519.PrivateKeySize)
	case c.K < 1 || c.K > KMax:
		return fmt.Errorf("dht: config K = %d, want 1..%d", c.K, KMax)
	case c.Alpha < 1 || c.Alpha > AlphaMax:
		return fmt.Errorf("dht: config Alpha = %d, want 1..%d", c.Alpha, AlphaMax)
	case c.HopsMax < 1 || c.HopsMax > HopsMaxLimit:
		return fmt.Errorf("dht: config HopsMax = %d, want 1..%d", c.HopsMax, HopsMaxLimit)
	case c.RPCTimeout <= 0:
		return fmt.Errorf("dht: config RPCTimeout = %v, want > 0", c.RPCTimeout)
	case c.RefreshInterval <= 0:
		return fmt.Errorf("dht: config RefreshInterval = %v, want > 0", c.RefreshInterval)
	case c.RepublishInterval <= 0 || c.RepublishInterval >= c.ProviderTTL:
		return fmt.Errorf("dht: config RepublishInterval = %v, want > 0 and < ProviderTTL (%v)", c.RepublishInterval, c.ProviderTTL)
	case c.ProviderRecordsMax < 1 || c.ProviderRecordsMax > ProviderRecordsMax:
		return fmt.Errorf("dht: config ProviderRecordsMax = %d, want 1..%d", c.ProviderRecordsMax, ProviderRecordsMax)
	case c.ProviderRecordsPerSenderMax < 1 || c.ProviderRecordsPerSenderMax > c.ProviderRecordsMax:
		return fmt.Errorf("dht: config ProviderRecordsPerSenderMax = %d, want 1..ProviderRecordsMax (%d)", c.ProviderRecordsPerSenderMax, c.ProviderRecordsMax)
	}
	return nil
}

// maintenanceInterval is the gap between maintenance ticks: a quarter of the
// shortest periodic duty, clamped, so refresh and republish run on time.
func (c Config) maintenanceInterval() time.Duration {
	d := min(c.RefreshInterval, c.RepublishInterval) / 4
	return min(max(d, MaintenanceIntervalMin), MaintenanceIntervalMax)
}

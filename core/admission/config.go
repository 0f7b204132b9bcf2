package admission

import "time"

// Defaults (omnigate, ARCHITECTURE 5.7).
const (
	TenantRateDefault    = 200.0 // requests per second per tenant
	TenantBurstDefault   = 400.0
	TenantsMaxDefault    = 4096
	InflightMaxDefault   = 256
	ReadHeadroomDefault  = 64
	QueueDepthMaxDefault = 1024
	QueueWaitMaxDefault  = 2 * time.Second
	// WritesPerTenantShare: by default no tenant runs more than this
	// fraction of the write slots (InflightMax-ReadHeadroom) at once, 48
	// of 192 with the defaults (doc.go, "Write slots per tenant").
	WritesPerTenantShare = 4 // one quarter
	// AnonymousRateDefault (requests per second) is the rate of the one
	// bucket that every read without a verified token shares: 25 times a
	// tenant's and about a quarter of the small GETs one node serves on 2
	// cores (BENCHMARKS.md), so public reads are not held to one tenant's
	// quota yet cannot take the whole node from the tenants. Its burst
	// defaults to two seconds' worth (at least one request).
	AnonymousRateDefault = 5000.0
	// SourceFailureRateDefault and SourceFailureBurstDefault size the
	// failure budget of one client source: failed token attempts per
	// second, and how many it may make at once.
	SourceFailureRateDefault  = 20.0
	SourceFailureBurstDefault = 100.0
	// SourcesMax bounds the sources whose failure budget is tracked;
	// beyond it a refilled (or else the oldest) entry is recycled.
	SourcesMax = 4096
	// CostBytesUnit: a write costs one unit per started MiB of body (plus
	// one), so deficit round robin shares bandwidth, not request counts.
	CostBytesUnit = 1 << 20
	// CostMax bounds a request's cost (a 4 GiB body costs 4097 units):
	// DRR's unfairness within a round is at most one CostMax.
	CostMax = 1 + (4<<30)/CostBytesUnit
	// quantum is the deficit a tenant earns per round.
	quantum = 1
)

// Config configures a Gate. Zero values take the defaults.
type Config struct {
	TenantRate    float64       // token bucket refill, requests per second
	TenantBurst   float64       // token bucket size
	TenantsMax    int           // buckets kept; beyond it a full bucket is recycled
	InflightMax   int           // requests running at once
	ReadHeadroom  int           // slots of InflightMax only reads may take; < 0: none
	QueueDepthMax int           // requests waiting for a slot, all tenants
	QueueWaitMax  time.Duration // longest wait for a slot before 503
	// WritesPerTenantMax bounds the writes one tenant runs at once; its
	// further writes queue. 0 takes a quarter of the write slots (at
	// least one); < 0 or more than the write slots: the write slots (no
	// bound of its own).
	WritesPerTenantMax int
	// QueuedWritesPerTenantMax bounds the writes one tenant has queued
	// (held back by its WritesPerTenantMax, they would otherwise fill the
	// queue every tenant shares); beyond it its writes are refused 429
	// ShedTenantWrites. 0 takes a quarter of
	// QueueDepthMax (at least one); < 0 or more than QueueDepthMax:
	// QueueDepthMax (no bound of its own).
	QueuedWritesPerTenantMax int

	// AnonymousRate (requests per second) and AnonymousBurst size the one
	// bucket that every read without a verified token shares, apart from
	// every tenant's.
	AnonymousRate  float64
	AnonymousBurst float64

	// SourceFailureRate and SourceFailureBurst size each source's budget
	// of failed token attempts (see Sources).
	SourceFailureRate  float64
	SourceFailureBurst float64

	// Bug selects deliberately wrong behaviour (canary builds only; see
	// bugs_canary.go). WithDefaults clears it in normal builds.
	Bug Bug
}

// Bug switches select a deliberately wrong gate so that the simulator's
// canaries can show its edge checks catch each. They take effect only in
// builds with the canary tag.
type Bug struct {
	// SharedHeadroom lets writes take the slots reserved for reads.
	SharedHeadroom bool
	// StickyCursor keeps DRR's cursor on a tenant that was just granted, so
	// the first tenant of a blocked circle wins every slot that frees.
	StickyCursor bool
}

// WithDefaults fills the zero fields. ReadHeadroom 0 takes
// ReadHeadroomDefault (at most a quarter of InflightMax): the headroom is
// really reserved unless a caller asks for none with a negative value.
func (c Config) WithDefaults() Config {
	if c.TenantRate <= 0 {
		c.TenantRate = TenantRateDefault
	}
	if c.TenantBurst <= 0 {
		c.TenantBurst = max(TenantBurstDefault, c.TenantRate)
	}
	if c.AnonymousRate <= 0 {
		c.AnonymousRate = AnonymousRateDefault
	}
	if c.AnonymousBurst <= 0 {
		c.AnonymousBurst = max(1, 2*c.AnonymousRate)
	}
	if c.TenantsMax <= 0 {
		c.TenantsMax = TenantsMaxDefault
	}
	if !canaryBugs {
		c.Bug = Bug{}
	}
	if c.InflightMax <= 0 {
		c.InflightMax = InflightMaxDefault
	}
	switch {
	case c.ReadHeadroom < 0:
		c.ReadHeadroom = 0
	case c.ReadHeadroom == 0 || c.ReadHeadroom >= c.InflightMax:
		c.ReadHeadroom = min(ReadHeadroomDefault, c.InflightMax/4)
	}
	writeSlots := max(1, c.InflightMax-c.ReadHeadroom)
	switch {
	case c.WritesPerTenantMax == 0:
		c.WritesPerTenantMax = max(1, writeSlots/WritesPerTenantShare)
	case c.WritesPerTenantMax < 0 || c.WritesPerTenantMax > writeSlots:
		c.WritesPerTenantMax = writeSlots
	}
	if c.QueueDepthMax <= 0 {
		c.QueueDepthMax = QueueDepthMaxDefault
	}
	switch {
	case c.QueuedWritesPerTenantMax == 0:
		c.QueuedWritesPerTenantMax = max(1, c.QueueDepthMax/WritesPerTenantShare)
	case c.QueuedWritesPerTenantMax < 0 || c.QueuedWritesPerTenantMax > c.QueueDepthMax:
		c.QueuedWritesPerTenantMax = c.QueueDepthMax
	}
	if c.QueueWaitMax <= 0 {
		c.QueueWaitMax = QueueWaitMaxDefault
	}
	if c.SourceFailureRate <= 0 {
		c.SourceFailureRate = SourceFailureRateDefault
	}
	if c.SourceFailureBurst <= 0 {
		c.SourceFailureBurst = max(SourceFailureBurstDefault, c.SourceFailureRate)
	}
	return c
}

// Cost is the DRR cost of a request with a body of bodyBytes (unknown:
// negative): one unit plus one per started MiB, at most CostMax.
func Cost(bodyBytes int64) int {
	return min(CostMax, 1+int(max(bodyBytes, 0)/CostBytesUnit))
}

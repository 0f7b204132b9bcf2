package scenario

import (
	"cmp"
	"fmt"
	"time"

	"github.com/ron-network/ron/core/admission"
	"go.yaml.in/yaml/v3"
)

// Edge workload limits.
const (
	// EdgeTenantsMax bounds the tenant groups of workload.edge.
	EdgeTenantsMax = 16
	// EdgeClientsMax bounds one group's clients.
	EdgeClientsMax = 256
	// EdgeLimitMax bounds the integer limits of workload.edge.limits.
	EdgeLimitMax = 1 << 16
)

// Edge token kinds (EdgeTenant.Token).
const (
	EdgeTokenValid   = "valid"   // a token of the tenant allowing read and write
	EdgeTokenNone    = "none"    // no token: anonymous reads, writes refused
	EdgeTokenExpired = "expired" // expired an hour before the run started
	EdgeTokenRevoked = "revoked" // revoked through the registry at the start
)

var (
	edgeKeys       = []string{"limits", "tenants"}
	edgeLimitKeys  = []string{"inflight_max", "read_headroom", "queue_depth_max", "queue_wait_max", "tenant_rate", "tenant_burst", "sessions_max", "sessions_per_tenant_max", "sessions_reserved", "session_ttl", "writes_per_tenant_max", "queued_writes_per_tenant_max"}
	edgeTenantKeys = []string{"name", "clients", "rate", "writes", "size", "upload", "token"}
	edgeTokenKinds = []string{EdgeTokenValid, EdgeTokenNone, EdgeTokenExpired, EdgeTokenRevoked}
)

// Edge describes clients that enter every node through its edge
// (core/admission, as HTTP requests do in rond): groups of clients per
// tenant, and the edge's limits (zero: core/admission's defaults).
type Edge struct {
	Limits  EdgeLimits
	Tenants []EdgeTenant
}

// EdgeLimits mirror core/admission's Config and SessionsConfig.
type EdgeLimits struct {
	InflightMax, ReadHeadroom, QueueDepthMax int
	QueueWaitMax                             time.Duration
	TenantRate                               float64 // requests per second
	TenantBurst                              int
	SessionsMax, SessionsPerTenantMax        int
	// SessionsReserved as core/admission's: 0 takes its default (a
	// quarter of SessionsMax), -1 is "sessions_reserved: 0" (none).
	SessionsReserved int
	SessionTTL       time.Duration
	// WritesPerTenantMax as core/admission's: 0 takes its default (a
	// quarter of the write slots).
	WritesPerTenantMax int
	// QueuedWritesPerTenantMax as core/admission's: 0 takes its default
	// (a quarter of QueueDepthMax).
	QueuedWritesPerTenantMax int
}

// EdgeTenant is a group of Clients of tenant Name issuing RatePerSecond
// requests in all: a Writes fraction are uploads of SizeBytes at
// UploadBytesPerSecond each (0: instantaneous), the rest reads of objects
// already stored. Token says what token the clients present.
type EdgeTenant struct {
	Name                 string
	Clients              int
	RatePerSecond        float64
	Writes               float64
	SizeBytes            int64
	UploadBytesPerSecond int64
	Token                string
}

func (d *decoder) edgeSection(n *yaml.Node) *Edge {
	const path = "workload.edge"
	f, ok := d.mapping(n, path, edgeKeys)
	if !ok {
		return nil
	}
	e := &Edge{}
	if v, ok := f.get("limits"); ok {
		e.Limits = d.edgeLimits(v)
	}
	v, ok := f.get("tenants")
	if !ok {
		return e // only the token probes enter through the edge
	}
	if v.Kind != yaml.SequenceNode || len(v.Content) == 0 || len(v.Content) > EdgeTenantsMax {
		d.fail(v, join(path, "tenants"), fmt.Sprintf("want a list of 1..%d tenant groups, got %s", EdgeTenantsMax, describe(v)))
		return e
	}
	for i, item := range v.Content {
		e.Tenants = append(e.Tenants, d.edgeTenant(item, index(join(path, "tenants"), i)))
	}
	return e
}

func (d *decoder) edgeLimits(n *yaml.Node) EdgeLimits {
	const path = "workload.edge.limits"
	var l EdgeLimits
	f, ok := d.mapping(n, path, edgeLimitKeys)
	if !ok {
		return l
	}
	for _, x := range []struct {
		key string
		ref *int
	}{{"inflight_max", &l.InflightMax}, {"read_headroom", &l.ReadHeadroom}, {"queue_depth_max", &l.QueueDepthMax},
		{"tenant_burst", &l.TenantBurst}, {"sessions_max", &l.SessionsMax}, {"sessions_per_tenant_max", &l.SessionsPerTenantMax},
		{"writes_per_tenant_max", &l.WritesPerTenantMax}, {"queued_writes_per_tenant_max", &l.QueuedWritesPerTenantMax}} {
		if v, ok := f.get(x.key); ok {
			i, _ := d.integer(v, join(path, x.key), 1, EdgeLimitMax)
			*x.ref = int(i)
		}
	}
	if v, ok := f.get("sessions_reserved"); ok {
		i, _ := d.integer(v, join(path, "sessions_reserved"), 0, EdgeLimitMax)
		l.SessionsReserved = int(i)
		if i == 0 {
			l.SessionsReserved = -1
		}
		if limit := cmp.Or(l.SessionsMax, admission.SessionsMaxDefault); int(i) >= limit {
			d.fail(v, join(path, "sessions_reserved"), fmt.Sprintf("%d leaves no session for a tenant holding one of sessions_max %d", i, limit))
		}
	}
	if v, ok := f.get("queue_wait_max"); ok {
		l.QueueWaitMax, _ = d.positiveDuration(v, join(path, "queue_wait_max"))
	}
	if v, ok := f.get("session_ttl"); ok {
		l.SessionTTL, _ = d.positiveDuration(v, join(path, "session_ttl"))
	}
	if v, ok := f.get("tenant_rate"); ok {
		l.TenantRate, _ = unitValue(d, v, join(path, "tenant_rate"), "a rate", parseRateText)
	}
	if l.InflightMax > 0 && l.ReadHeadroom >= l.InflightMax {
		d.fail(n, join(path, "read_headroom"), fmt.Sprintf("%d leaves no slot for writes of inflight_max %d", l.ReadHeadroom, l.InflightMax))
	}
	return l
}

func (d *decoder) edgeTenant(n *yaml.Node, path string) EdgeTenant {
	t := EdgeTenant{Token: EdgeTokenValid, Clients: 1}
	f, ok := d.mapping(n, path, edgeTenantKeys)
	if !ok {
		return t
	}
	if v, ok := d.require(f, "name"); ok {
		t.Name, _ = d.str(v, join(path, "name"))
	}
	if v, ok := f.get("clients"); ok {
		c, _ := d.integer(v, join(path, "clients"), 1, EdgeClientsMax)
		t.Clients = int(c)
	}
	if v, ok := d.require(f, "rate"); ok {
		t.RatePerSecond, _ = unitValue(d, v, join(path, "rate"), "a rate", parseRateText)
		if t.RatePerSecond <= 0 {
			d.fail(v, join(path, "rate"), "want a rate > 0")
		}
	}
	if v, ok := f.get("writes"); ok {
		t.Writes, _ = d.probability(v, join(path, "writes"))
	}
	t.SizeBytes = ObjectSizeMinDefault
	if v, ok := f.get("size"); ok {
		t.SizeBytes, _ = unitValue(d, v, join(path, "size"), "a size", parseSizeText)
	}
	if v, ok := f.get("upload"); ok {
		t.UploadBytesPerSecond, _ = unitValue(d, v, join(path, "upload"), "a bandwidth", parseBandwidthText)
	}
	if v, ok := f.get("token"); ok {
		kind, good := d.str(v, join(path, "token"))
		if good && !containsString(edgeTokenKinds, kind) {
			d.fail(v, join(path, "token"), fmt.Sprintf("unknown token kind %q; known: valid, none, expired, revoked", kind))
		}
		if kind == EdgeTokenRevoked && d.registry == 0 && !d.registryBad {
			d.fail(v, join(path, "token"), "revoking goes through the registry and nodes.registry_replicas is 0")
		}
		t.Token = kind
	}
	return t
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (e *Edge) node() *yaml.Node {
	m := newMap(false)
	l := e.Limits
	limits := newMap(true)
	for _, x := range []struct {
		key string
		v   int
	}{{"inflight_max", l.InflightMax}, {"read_headroom", l.ReadHeadroom}, {"queue_depth_max", l.QueueDepthMax}} {
		v := x.v
		limits.addIf(v > 0, x.key, func() *yaml.Node { return intNode(int64(v)) })
	}
	limits.addIf(l.QueueWaitMax > 0, "queue_wait_max", func() *yaml.Node { return durNode(l.QueueWaitMax) })
	limits.addIf(l.TenantRate > 0, "tenant_rate", func() *yaml.Node { return strNode(formatRate(l.TenantRate)) })
	for _, x := range []struct {
		key string
		v   int
	}{{"tenant_burst", l.TenantBurst}, {"sessions_max", l.SessionsMax}, {"sessions_per_tenant_max", l.SessionsPerTenantMax},
		{"writes_per_tenant_max", l.WritesPerTenantMax}, {"queued_writes_per_tenant_max", l.QueuedWritesPerTenantMax}} {
		v := x.v
		limits.addIf(v > 0, x.key, func() *yaml.Node { return intNode(int64(v)) })
	}
	limits.addIf(l.SessionsReserved != 0, "sessions_reserved", func() *yaml.Node { return intNode(int64(max(0, l.SessionsReserved))) })
	limits.addIf(l.SessionTTL > 0, "session_ttl", func() *yaml.Node { return durNode(l.SessionTTL) })
	if len(limits.n.Content) > 0 {
		m.add("limits", limits.n)
	}
	var tenants []*yaml.Node
	for _, t := range e.Tenants {
		tm := newMap(true)
		tm.add("name", strNode(t.Name))
		tm.add("clients", intNode(int64(t.Clients)))
		tm.add("rate", strNode(formatRate(t.RatePerSecond)))
		tm.add("writes", floatNode(t.Writes))
		tm.add("size", strNode(formatSize(t.SizeBytes)))
		tm.addIf(t.UploadBytesPerSecond > 0, "upload", func() *yaml.Node { return strNode(formatBandwidth(t.UploadBytesPerSecond)) })
		tm.add("token", strNode(t.Token))
		tenants = append(tenants, tm.n)
	}
	m.addIf(len(tenants) > 0, "tenants", func() *yaml.Node { return seqNode(false, tenants...) })
	return m.n
}

func isEdgeCheck(name string) bool {
	switch name {
	case CheckFairness, CheckReadAvailability, CheckReadiness, CheckRefusals:
		return true
	}
	return false
}

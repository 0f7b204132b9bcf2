package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/ron-network/ron/core/admission"
	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/policy"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/io/runtime"

	dto "github.com/prometheus/client_model/go"
)

// Metrics GET /status reads from the Gatherer. They are named here rather
// than imported so that the gateway does not depend on every machine.
const (
	statusMetricObjects     = "storage_objects"
	statusMetricObjectBytes = "storage_bytes"
	statusMetricNames       = "registry_names"
	statusMetricClusterVer  = "registry_cluster_version"
	statusMetricUnconfirmed = "registry_unconfirmed"
	statusMetricSessions    = "overlay_sessions"
	statusSessionActive     = "active"
)

// StatusConfig is what the node knows about itself that its metrics do
// not say.
type StatusConfig struct {
	NodeID string
	// Profile is the kind of node: "micronode (in memory)", "macronode
	// (on disk)". GET /status answers anyone, so no path goes in it.
	Profile string
	Started time.Time
	// RegistryReplica: this node holds a registry replica, so its names
	// gauge counts the names (else Status.Names is null).
	RegistryReplica bool
	// Flags returns the feature flags and their state (nil: none).
	Flags func() map[string]bool
	// FlagSources returns where each flag's value comes from ("default",
	// "config", "override"; nil: not said).
	FlagSources func() map[string]string
}

// Status is the answer of GET /status: one JSON object a person (ronctl
// status) or a script can read without parsing /metrics. A count the node
// does not keep is null: names on a node that is not a registry replica,
// everything when the gateway has no Gatherer. Objects and ObjectBytes are
// null too for a caller that may not read objects here (no token while
// the policy closes anonymous reads, a write-only token), and
// StorageCountsHidden then says so: counts that move with every new
// object are a dedup existence oracle (doc.go).
type Status struct {
	NodeID      string  `json:"node_id"`
	Profile     string  `json:"profile"`
	Version     string  `json:"version"`
	Ready       bool    `json:"ready"`
	ReadyReason string  `json:"ready_reason"`
	PeersActive uint64  `json:"peers_active"`
	PeersKnown  uint64  `json:"peers_known"`
	Objects     *uint64 `json:"objects"`
	ObjectBytes *uint64 `json:"object_bytes"`
	Names       *uint64 `json:"names"`
	// StorageCountsHidden is true when Objects and ObjectBytes are null
	// because the caller may not read objects here (not because the node
	// keeps no count), so a client can say which; absent otherwise.
	StorageCountsHidden bool `json:"storage_counts_hidden,omitempty"`
	// ClusterVersion is the registry cluster version (log entry format)
	// this replica applied; absent on a node that is not a replica.
	ClusterVersion *uint64 `json:"cluster_version,omitempty"`
	// RegistryUnconfirmed is true while this replica started with no raft
	// state and does not vote yet (core/registry doc.go, "Amnesia");
	// absent otherwise.
	RegistryUnconfirmed bool            `json:"registry_unconfirmed,omitempty"`
	Flags               map[string]bool `json:"flags,omitempty"`
	// FlagSources says where each flag's value comes from: "default",
	// "config" (the config file) or "override" (POST /admin/flags,
	// persisted; it wins over the config file).
	FlagSources   map[string]string `json:"flag_sources,omitempty"`
	UptimeSeconds float64           `json:"uptime_seconds"`
	// Registry is this node's view of the registry (its leader and term),
	// up to statusRegistryTTL old; absent when the node could not say
	// within statusRegistryWait (not serving yet, or its loop is busy) or
	// has no registry.
	Registry *RegistryStatus `json:"registry,omitempty"`
}

// RegistryStatus is GET /status's view of the registry from this node
// (core/registry View). GET /status answers anyone, and the leader's node
// id is no secret worth an admin token: the replicas are every node's
// --replicas list, any client can locate the leader anyway by scraping
// each replica's registry_is_leader from /metrics or by timing writes,
// and a node id is a key hash, not an address. Knowing which node leads
// helps an operator far more than an attacker, who still needs that
// node's address and gains nothing he could not learn from /metrics.
type RegistryStatus struct {
	// Replica: this node holds a registry replica; ReplicaID is its raft
	// id (1-based position in the sorted --replicas list), 0 otherwise.
	Replica   bool   `json:"replica"`
	ReplicaID uint64 `json:"replica_id,omitempty"`
	// Replicas is the number of registry replicas configured.
	Replicas int `json:"replicas"`
	// Leader is the leader's node id, null when none is known; on a
	// non-replica it is the leader the latest replica reply that named
	// one named (it can be stale), and null while the replicas' replies
	// say they know none (as /readyz's registry_no_leader).
	// LeaderReplica is its raft id (0: none).
	Leader        *string `json:"leader"`
	LeaderReplica uint64  `json:"leader_replica,omitempty"`
	// Term is the replica's raft term (absent on a non-replica, and while
	// a replica recovers).
	Term uint64 `json:"term,omitempty"`
	// IsLeader: this node is the registry leader.
	IsLeader bool `json:"is_leader"`
	// Role is a running replica's raft role: "leader", "follower",
	// "candidate" or "pre-candidate" (absent otherwise).
	Role string `json:"role,omitempty"`
	// State is the replica's phase: "running", "recovering" or "failed";
	// "client" on a non-replica.
	State string `json:"state"`
}

// statusRegistryWait bounds how long GET /status waits for the node's
// registry view (a call answered from memory in one loop step).
const statusRegistryWait = 500 * time.Millisecond

// statusRegistryTTL is how long GET /status reuses a registry view (or
// the lack of one) before it asks the node again.
const statusRegistryTTL = 250 * time.Millisecond

// registryViewCache holds the latest registry view GET /status got, and
// the call in flight for the next one. GET /status answers anyone,
// without admission control, and each call into the node takes one of
// its CallsInflightMax slots and an inbox entry: a flood of /status
// would otherwise make real calls fail overloaded. So at most one call
// is in flight, every /status request waiting meanwhile shares its
// answer, and an answer serves for statusRegistryTTL.
type registryViewCache struct {
	mu   sync.Mutex
	view *RegistryStatus // the latest answer (nil: none, or the call failed)
	at   time.Time       // when it came (zero: never)
	// done is closed when the call in flight ends (nil: none in flight).
	done chan struct{}
}

// WithStatus returns g with GET /status added in front of it. Readiness
// and its reason come from g's own /readyz, so they never disagree with
// it; the counts come from the metrics.
func (g *Gateway) WithStatus(cfg StatusConfig) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		responding(r)
		if r.URL.Path != "/status" || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			g.ServeHTTP(w, r)
			return
		}
		writeJSON(g.limitBody(w, r), http.StatusOK, g.status(r, cfg)) // limitBody: an unread body, a chunked one
	})
}

func (g *Gateway) status(r *http.Request, cfg StatusConfig) Status {
	s := Status{NodeID: cfg.NodeID, Profile: cfg.Profile, Version: g.cfg.Version,
		UptimeSeconds: g.cfg.Clock().Sub(cfg.Started).Seconds()}
	s.Ready, s.ReadyReason = g.readiness(r)
	if cfg.Flags != nil {
		s.Flags = cfg.Flags()
	}
	if cfg.FlagSources != nil {
		s.FlagSources = cfg.FlagSources()
	}
	s.Registry = g.registryStatus(r)
	if g.cfg.Gatherer == nil {
		return s
	}
	families, err := g.cfg.Gatherer.Gather()
	if err != nil {
		g.log.Warn("gateway: status: gathering metrics", "err", err)
	}
	counts := g.storageCountsVisible(r)
	s.StorageCountsHidden = !counts
	for _, f := range families {
		switch f.GetName() {
		case statusMetricObjects:
			if counts {
				s.Objects = gaugeOf(f)
			}
		case statusMetricObjectBytes:
			if counts {
				s.ObjectBytes = gaugeOf(f)
			}
		case statusMetricNames:
			if cfg.RegistryReplica {
				s.Names = gaugeOf(f)
			}
		case statusMetricClusterVer:
			if cfg.RegistryReplica {
				s.ClusterVersion = gaugeOf(f)
			}
		case statusMetricUnconfirmed:
			if v := gaugeOf(f); cfg.RegistryReplica && v != nil && *v > 0 {
				s.RegistryUnconfirmed = true
			}
		case statusMetricSessions:
			s.PeersActive, s.PeersKnown = sessionsOf(f)
		}
	}
	return s
}

// registryStatus returns the node's registry view (nil when it did not
// answer within statusRegistryWait, or has no registry): a cached one
// younger than statusRegistryTTL, else the answer of the call in flight,
// started here if there is none (registryViewCache).
func (g *Gateway) registryStatus(r *http.Request) *RegistryStatus {
	c := &g.regView
	c.mu.Lock()
	if !c.at.IsZero() && g.cfg.Clock().Sub(c.at) < statusRegistryTTL {
		v := c.view
		c.mu.Unlock()
		return v
	}
	if c.done == nil {
		c.done = make(chan struct{})
		go g.fetchRegistryStatus(context.WithoutCancel(r.Context()), c.done)
	}
	done := c.done
	c.mu.Unlock()
	wait := time.NewTimer(min(statusRegistryWait, g.cfg.CallTimeout))
	defer wait.Stop()
	select {
	case <-done:
	case <-wait.C:
		return nil // a slow node: answer without the view, the call goes on
	case <-r.Context().Done():
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.view
}

// fetchRegistryStatus is the one call in flight for the registry view:
// it asks the node, stores the answer (nil on an error) and closes done.
// Its deadline is its own, not a request's, since every /status request
// waiting shares it: base is the first request's context without its
// cancellation.
func (g *Gateway) fetchRegistryStatus(base context.Context, done chan struct{}) {
	ctx, cancel := context.WithTimeout(base, min(statusRegistryWait, g.cfg.CallTimeout))
	defer cancel()
	var rs *RegistryStatus
	v, err := runtime.Call(ctx, g.cfg.Backend, registry.StatusQuery{})
	if err != nil {
		g.log.Debug("gateway: status: registry view", "err", err)
	} else {
		rs = registryStatusOf(v)
	}
	c := &g.regView
	c.mu.Lock()
	c.view, c.at, c.done = rs, g.cfg.Clock(), nil
	c.mu.Unlock()
	close(done)
}

// registryStatusOf is GET /status's form of the view v. It is shared by
// every request the cache answers: nothing may change it after.
func registryStatusOf(v registry.View) *RegistryStatus {
	rs := &RegistryStatus{Replica: v.Replica != 0, ReplicaID: v.Replica, Replicas: v.Replicas,
		LeaderReplica: v.Leader, Term: v.Term, IsLeader: v.IsLeader, Role: v.Role, State: "running"}
	if v.Leader != 0 {
		id := v.LeaderNode.String()
		rs.Leader = &id
	}
	switch {
	case v.Replica == 0:
		rs.State = "client"
	case v.Failed:
		rs.State = "failed"
	case v.Recovering:
		rs.State = "recovering"
	}
	return rs
}

// storageCountsVisible reports whether r may see the storage counts
// (objects, object_bytes): it may read objects on this node, or holds an
// admin token, as the policy in force decides. Content-addressed storage
// stores an object once, so a count that does not move after a PUT tells
// the writer someone stored those exact bytes before: a write-only tenant
// with reads closed by policy would learn what others stored (doc.go,
// "Storage counts and dedup"). The check asks about reads in general
// (no resource): a token or rule limited to a prefix does not see them.
func (g *Gateway) storageCountsVisible(r *http.Request) bool {
	bundle := g.cfg.Policy.Bundle()
	text, ok := bearer(r)
	if !ok || g.cfg.Verifier == nil {
		return g.flagOn(FlagAnonymousReads) &&
			!admission.Decide(bundle, policy.Request{Op: auth.OpRead}).Refused()
	}
	tok, err := auth.Decode(text)
	if err != nil {
		return false
	}
	for _, op := range []auth.Op{auth.OpRead, auth.OpAdmin} {
		v := g.verify(text, auth.Request{Op: op, Tenant: tok.Tenant}) // the MAC binds the tenant
		if v.Allowed() && !admission.Decide(bundle, policy.Request{Tenant: v.Token.Tenant, Op: op, Authenticated: true}).Refused() {
			return true
		}
	}
	return false
}

// readiness asks the gateway's /readyz, so that GET /status reports
// exactly what balancers see: ready, or not with the envelope's message.
func (g *Gateway) readiness(r *http.Request) (bool, string) {
	probe, err := http.NewRequestWithContext(r.Context(), http.MethodGet, "/readyz", nil)
	if err != nil {
		return false, err.Error()
	}
	rec := &statusRecorder{header: http.Header{}}
	g.ServeHTTP(rec, probe)
	if rec.status == http.StatusOK {
		return true, "ready"
	}
	var env Envelope
	if json.Unmarshal(rec.body, &env) == nil && env.Message != "" {
		return false, env.Message
	}
	return false, http.StatusText(rec.status)
}

// statusRecorder is the ResponseWriter of the /readyz probe; the answer
// is a small JSON object.
type statusRecorder struct {
	header http.Header
	status int
	body   []byte
}

func (s *statusRecorder) Header() http.Header { return s.header }
func (s *statusRecorder) WriteHeader(status int) {
	if s.status == 0 {
		s.status = status
	}
}
func (s *statusRecorder) Write(b []byte) (int, error) {
	s.WriteHeader(http.StatusOK)
	if len(s.body) < statusProbeBytesMax {
		s.body = append(s.body, b[:min(len(b), statusProbeBytesMax-len(s.body))]...)
	}
	return len(b), nil
}

// statusProbeBytesMax bounds what the readiness probe keeps of /readyz.
const statusProbeBytesMax = 4 << 10

// gaugeOf returns the value of an unlabelled gauge (nil when absent).
func gaugeOf(f *dto.MetricFamily) *uint64 {
	for _, m := range f.GetMetric() {
		if m.GetGauge() != nil && len(m.GetLabel()) == 0 {
			v := uint64(max(m.GetGauge().GetValue(), 0))
			return &v
		}
	}
	return nil
}

// sessionsOf sums overlay sessions: the active ones, and every one not
// closed (configured or admitted peers, connected or not).
func sessionsOf(f *dto.MetricFamily) (active, known uint64) {
	for _, m := range f.GetMetric() {
		n := uint64(max(m.GetGauge().GetValue(), 0))
		for _, l := range m.GetLabel() {
			if l.GetName() != "state" {
				continue
			}
			if l.GetValue() == statusSessionActive {
				active += n
			}
			if l.GetValue() != "closed" {
				known += n
			}
		}
	}
	return active, known
}

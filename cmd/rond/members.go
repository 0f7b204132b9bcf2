package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ron-network/ron/core/audit"
	"github.com/ron-network/ron/core/dht"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/overlay"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/core/storage"
	"github.com/ron-network/ron/io/quicnet"
	"github.com/ron-network/ron/io/runtime"
)

// The members setting is reloaded with the config file (SIGHUP, or a
// change on disk; watchFlags): rond reads its configuration again as at
// start (file, RON_* variables, flags) and, when members changed, hands
// the new membership (self, replicas, bootstrap peers and members:
// runtime.NodeSpec.Membership) to the transport, and to the overlay,
// storage (with R and W recomputed from it as at start), the DHT and the
// registry as a SetMembers request on the node loop. A reload that did
// not reach every service is retried at the polls of the config file
// until it does, backing off (1 s, doubling up to 30 s) while it keeps
// failing; the failure is logged the first time and then at most once a
// minute, with the count of failures so far. Any other setting that changed
// needs a restart: it is logged by name and ignored. An invalid
// configuration (a member that is not a node id, say) is logged with the
// setting and the value, and the membership stays as it is.

// metricMembers is the size of the node's closed membership.
const metricMembers = "cluster_members"

var _ = env.Declare(env.MetricDef{Name: metricMembers, Kind: env.Gauge,
	Help: "Nodes in this node's closed membership (self, replicas, bootstrap peers and members; 0: no membership, any node is served). Set at start and when a reload of members changes it."})

// membersApplyTimeout bounds handing a new membership to the machines.
const membersApplyTimeout = 5 * time.Second

// A membership that did not reach every service is handed again no
// sooner than membersRetryBackoffMin after the failure, the wait doubling
// with each failure up to membersRetryBackoffMax; failures after the first
// are logged at most once per membersFailLogEvery, with their count.
const (
	membersRetryBackoffMin = time.Second
	membersRetryBackoffMax = 30 * time.Second
	membersFailLogEvery    = time.Minute
)

// membership is the node's members setting, as wanted (the last valid
// reload) and as applied. A node rebuilt by the runtime (a restart after
// a panic) takes the wanted one (spec), and with it R and W recomputed as
// the running node's were at the reload.
type membership struct {
	// reloadMu serialises reloads and retries, and guards applied and
	// stale; mu guards members, which NewNode reads on the node loop
	// while a reload waits for that loop.
	reloadMu sync.Mutex
	mu       sync.Mutex
	running  Config           // the configuration the node started with
	base     runtime.NodeSpec // Members replaced by members
	members  []proto.NodeID   // wanted: the members setting of the last valid reload
	// applied is the membership (NodeSpec.Membership) every service last
	// took; stale: a later one reached only some of them, so the wanted
	// one is handed again (retry) even where it equals applied.
	applied []proto.NodeID
	stale   bool
	// While stale: failures counts the failed applies in a row, retryAt
	// is when retry may hand it again (after backoff), loggedAt when a
	// failure was last logged. now is the clock (time.Now when nil).
	failures          int
	backoff           time.Duration
	retryAt, loggedAt time.Time
	now               func() time.Time
	// replicas and quorum are the R and W storage runs with (guarded by
	// mu, read by spec): a reload raises them with the membership but
	// never lowers them, since a lower R lets repair delete this node's
	// copies beyond it (a config edit must not cut redundancy); lowering
	// needs a restart.
	replicas, quorum int

	rt        runtime.Caller     // the node (*runtime.Runtime)
	transport *quicnet.Transport // refuses non-members after the handshake
	metrics   env.Metrics
	log       *slog.Logger
	// audit records a membership every service took and a refused
	// reload (reloadaudit.go); nil records nothing. refused identifies
	// the last refusal recorded (the config file's size and modification
	// time and the error; "" after a valid reload), so the same bad file
	// refused at every SIGHUP is recorded once. Guarded by reloadMu.
	audit   func(audit.Event)
	refused string
	// partial is the membership recorded as having reached only some
	// services (membersPartial; nil when none is), so that the failed
	// applies of one membership are recorded once. Guarded by reloadMu.
	partial []proto.NodeID
}

func newMembership(cfg Config, spec runtime.NodeSpec) *membership {
	st := spec.Describe().Storage
	return &membership{running: cfg, base: spec, members: slices.Clone(spec.Members), applied: spec.Membership(),
		replicas: st.Replicas, quorum: st.WriteQuorum}
}

// spec returns spec with the current members and the R and W storage
// runs with (a node the runtime rebuilds keeps them).
func (m *membership) spec(spec runtime.NodeSpec) runtime.NodeSpec {
	m.mu.Lock()
	defer m.mu.Unlock()
	spec.Members = slices.Clone(m.members)
	spec.StorageReplicas, spec.WriteQuorum = m.replicas, m.quorum
	return spec
}

// setMembers records ids as the members a rebuilt node takes.
func (m *membership) setMembers(ids []proto.NodeID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.members = slices.Clone(ids)
}

// attach starts applying reloads to rt and exports the gauge.
func (m *membership) attach(rt runtime.Caller, transport *quicnet.Transport, metrics env.Metrics, log *slog.Logger) {
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	m.rt, m.transport, m.metrics, m.log = rt, transport, metrics, log
	m.metrics.Set(metricMembers, "", float64(len(m.spec(m.base).Membership())))
}

// current is the membership every service last took.
func (m *membership) current() []proto.NodeID {
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	return slices.Clone(m.applied)
}

// setAudit makes m record its changes and refusals with record.
func (m *membership) setAudit(record func(audit.Event)) {
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	m.audit = record
}

// reload reads the configuration again and applies a changed members
// setting; other changed settings are logged as needing a restart.
func (m *membership) reload(ctx context.Context) {
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	if m.rt == nil || m.running.reload == nil {
		return
	}
	cfg, err := m.running.reload()
	if err != nil {
		m.log.Error("rond: configuration not reloaded; the membership stays as it is", "file", m.running.ConfigFile, "err", err)
		m.recordRefusal(err)
		return
	}
	m.refused = ""
	for _, name := range restartSettings(m.running, cfg) {
		m.log.Warn("rond: a changed setting needs a restart; it is ignored until then", "setting", name, "file", m.running.ConfigFile)
	}
	if file := fileMembers(m.running.ConfigFile); file != nil && !slices.Equal(file, cfg.Members) {
		m.log.Warn("rond: the config file's members are overridden by --members or RON_MEMBERS, which a reload does not change", "file", m.running.ConfigFile)
	}
	ids, _ := cfg.memberIDs() // validated by reload
	m.setMembers(ids)         // a node the runtime rebuilds from here on has it
	m.sync(ctx)
}

// retry hands the wanted membership again when the last reload did not
// reach every service (watchFlags calls it at each poll).
func (m *membership) retry(ctx context.Context) {
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	if m.rt == nil || !m.stale || m.clock().Before(m.retryAt) {
		return
	}
	m.sync(ctx)
}

func (m *membership) clock() time.Time {
	if m.now != nil {
		return m.now()
	}
	return time.Now()
}

// sync applies the wanted membership when it differs from the applied
// one or the last apply failed. reloadMu is held.
func (m *membership) sync(ctx context.Context) {
	next := m.spec(m.base)
	after := next.Membership()
	if slices.Equal(m.applied, after) && !m.stale {
		return
	}
	fresh := m.base
	fresh.Members = next.Members
	st := fresh.Describe().Storage // R and W as a start with this membership has them
	m.mu.Lock()
	r, w := m.replicas, m.quorum
	m.mu.Unlock()
	if st.Replicas > r {
		r, w = st.Replicas, st.WriteQuorum
	} else if st.Replicas < r {
		m.log.Warn("rond: storage keeps its replicas per object; lowering them needs a restart (a reload never lets repair delete copies)",
			"storage_replicas", r, "with_this_membership", st.Replicas)
	}
	if err := m.apply(ctx, after, r, w); err != nil {
		now := m.clock()
		m.stale = true
		m.failures++
		m.backoff = min(max(2*m.backoff, membersRetryBackoffMin), membersRetryBackoffMax)
		m.retryAt = now.Add(m.backoff)
		if m.failures == 1 || now.Sub(m.loggedAt) >= membersFailLogEvery {
			m.loggedAt = now
			m.log.Error("rond: the new membership did not reach every service; it is handed again at a later poll of the config file",
				"file", m.running.ConfigFile, "err", err, "failures", m.failures, "next_retry_in", m.backoff)
		}
		if m.audit != nil && !slices.Equal(m.partial, after) {
			m.partial = slices.Clone(after)
			m.audit(membersPartial(m.running.ConfigFile, err, m.applied, after))
		}
		return
	}
	retried := m.stale
	failures := m.failures
	before := m.applied
	m.applied, m.stale = after, false
	m.failures, m.backoff = 0, 0
	m.mu.Lock()
	m.replicas, m.quorum = r, w
	m.mu.Unlock()
	m.metrics.Set(metricMembers, "", float64(len(after)))
	self := m.base.Self()
	notSelf := func(ids []proto.NodeID) []proto.NodeID {
		return slices.DeleteFunc(ids, func(id proto.NodeID) bool { return id == self })
	}
	m.log.Info("rond: membership changed", "members", len(after), "added", idList(notSelf(diffIDs(after, before))),
		"removed", idList(notSelf(diffIDs(before, after))), "storage_replicas", r, "write_quorum", w,
		"retried", retried, "failures", failures)
	if len(after) == 0 {
		m.log.Warn("rond: no membership: the peer protocol serves any node")
	}
	if m.audit != nil {
		m.audit(membersChange(m.running.ConfigFile, before, after, failures, m.partial))
	}
	m.partial = nil
}

// recordRefusal audits a refused reload unless the last one recorded was
// the same error on the same file. reloadMu is held.
func (m *membership) recordRefusal(err error) {
	var size, mod int64
	if st, statErr := os.Stat(m.running.ConfigFile); statErr == nil {
		size, mod = st.Size(), st.ModTime().UnixNano()
	}
	key := fmt.Sprintf("%d %d %v", size, mod, err)
	if key == m.refused || m.audit == nil {
		return
	}
	m.refused = key
	var pending []proto.NodeID
	if m.stale { // a valid reload before reached only some services
		pending = m.spec(m.base).Membership()
	}
	m.audit(membersRefused(m.running.ConfigFile, err, m.applied, pending))
}

// apply hands ids to the QUIC transport (which refuses non-members right
// after the handshake and closes the connections of a dropped member),
// then to the overlay (when the node runs one), storage (with R and W),
// the DHT and (when the node runs one) the registry, each as a request on
// the node loop.
func (m *membership) apply(ctx context.Context, ids []proto.NodeID, r, w int) error {
	ctx, cancel := context.WithTimeout(ctx, membersApplyTimeout)
	defer cancel()
	if m.transport != nil {
		m.transport.SetMembers(ids)
	}
	if len(m.base.Describe().Peers) > 0 {
		if _, err := runtime.Call(ctx, m.rt, overlay.SetMembers{Members: ids}); err != nil {
			return err
		}
	}
	if _, err := runtime.Call(ctx, m.rt, storage.SetMembers{Members: ids, Replicas: r, WriteQuorum: w}); err != nil {
		return err
	}
	if _, err := runtime.Call(ctx, m.rt, dht.SetMembers{Members: ids}); err != nil {
		return err
	}
	if len(m.base.Replicas) > 0 {
		if _, err := runtime.Call(ctx, m.rt, registry.SetMembers{Members: ids}); err != nil {
			return err
		}
	}
	return nil
}

// restartSettings names the YAML settings, other than members and flags
// (both reloaded), whose values differ between a and b.
func restartSettings(a, b Config) []string {
	var names []string
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	t := va.Type()
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == "" || name == "-" || name == "members" || name == "flags" {
			continue
		}
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			names = append(names, name)
		}
	}
	return names
}

// fileMembers is the members the config file at path lists (nil when
// unset or unreadable: reload has said why).
func fileMembers(path string) []string {
	if path == "" {
		return nil
	}
	cfg := defaults()
	if readConfigFile(path, &cfg) != nil {
		return nil
	}
	return cfg.Members
}

// diffIDs is the ids of a (sorted) not in b (sorted).
func diffIDs(a, b []proto.NodeID) []proto.NodeID {
	var out []proto.NodeID
	for _, id := range a {
		if _, found := slices.BinarySearchFunc(b, id, proto.NodeID.Compare); !found {
			out = append(out, id)
		}
	}
	return out
}

func idList(ids []proto.NodeID) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = id.String()
	}
	return strings.Join(s, ",")
}

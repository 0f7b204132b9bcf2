package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/env"
	"lukechampine.com/blake3"
)

// Limits of a bundle.
const (
	// BundleBytesMax bounds the YAML text of a bundle.
	BundleBytesMax = 1 << 20
	// RulesMax bounds the rules of a bundle.
	RulesMax = 1024
	// ListItemsMax bounds each list of a match (tenants, ops, prefixes, tags).
	ListItemsMax = 256
	// NameBytesMax bounds a rule or bundle name.
	NameBytesMax = 64
	// TagBytesMax bounds a tag.
	TagBytesMax = 64
	// BundleVersion is the only schema version this package reads.
	BundleVersion = 1
)

// MetricApplyLatency is the time from a bundle change being noticed to the
// new bundle deciding requests. io/ observes it around Load (this package
// has no clock).
const MetricApplyLatency = "policy_apply_latency_seconds"

// MetricReloads counts bundle reloads by result (ReloadResults); io/
// counts them, this package only names them. A rejected bundle is one an
// operator must fix: the old bundle stays in force meanwhile.
const MetricReloads = "policy_reloads_total"

// MetricPolls counts looks at the policy file (whether or not it changed):
// a flat series means the watcher stopped.
const MetricPolls = "policy_polls_total"

// Results of a reload, the values of policy_reloads_total's label.
const (
	ReloadApplied   = "applied"   // a new bundle took effect
	ReloadUnchanged = "unchanged" // the file held the bundle in force
	ReloadRejected  = "rejected"  // the bundle failed validation; the old one stays
	ReloadFailed    = "failed"    // the file could not be read; the old one stays
)

// applyBuckets put a bound on the apply SLO (<= 2 s), so an alert can
// count the applies above it exactly.
var applyBuckets = []float64{0.001, 0.01, 0.1, 0.5, 1, 2, 5, 10}

// ReloadResults are every value of policy_reloads_total's label (each
// series exists at zero before the first reload).
var ReloadResults = []string{ReloadApplied, ReloadUnchanged, ReloadRejected, ReloadFailed}

var _ = env.Declare(
	env.MetricDef{Name: MetricApplyLatency, Kind: env.Histogram,
		Help: "Policy bundle apply latency.", Buckets: applyBuckets},
	env.MetricDef{Name: MetricReloads, Kind: env.Counter, Label: "result", LabelValues: ReloadResults,
		Help: "Policy bundle reloads, by result (applied, unchanged, rejected, failed)."},
	env.MetricDef{Name: MetricPolls, Kind: env.Counter, Help: "Looks at the policy file for a change."},
)

// ErrInvalid is wrapped by every bundle validation error.
var ErrInvalid = errors.New("policy: invalid bundle")

// Effect is what a matching rule decides.
type Effect uint8

const (
	Deny  Effect = 1
	Allow Effect = 2
)

func (e Effect) String() string {
	switch e {
	case Deny:
		return "deny"
	case Allow:
		return "allow"
	}
	return fmt.Sprintf("Effect(%d)", uint8(e))
}

// Request is what a rule is matched against.
type Request struct {
	Tenant        string
	Op            auth.Op
	Resource      string   // "b3:..." address or a name; "" when none
	Bytes         uint64   // body size
	Tags          []string // labels the caller attaches (route, client class, ...)
	Authenticated bool     // a capability token was presented and verified
}

// Match is a rule's condition. Every field that is set must hold; an
// unset field matches anything. Within a list, any one entry suffices,
// except Tags, which the request must carry all of.
type Match struct {
	Tenants       []string
	Ops           auth.OpSet // 0: any op
	Prefixes      []string
	MinBytes      uint64
	MaxBytes      *uint64
	Tags          []string
	Authenticated *bool
}

// Rule is one named rule of a bundle.
type Rule struct {
	Name   string
	Effect Effect
	Match  Match
}

// Bundle is a validated, immutable rule list.
type Bundle struct {
	Name   string
	Rules  []Rule
	Digest [32]byte // BLAKE3-256 of the YAML text, for audit records
}

// Decision is the outcome of Decide. Rule is the index of the matching
// rule, or -1 when none matched and the default (deny) applied.
type Decision struct {
	Allow    bool
	Rule     int
	RuleName string
}

// Decide returns the effect of the first rule that matches req; deny when
// none does.
func (b *Bundle) Decide(req Request) Decision {
	for i := range b.Rules {
		r := &b.Rules[i]
		if r.Match.matches(&req) {
			return Decision{Allow: r.Effect == Allow, Rule: i, RuleName: r.Name}
		}
	}
	return Decision{Rule: -1}
}

func (m *Match) matches(req *Request) bool {
	switch {
	case len(m.Tenants) > 0 && !slices.Contains(m.Tenants, req.Tenant):
		return false
	case m.Ops != 0 && !m.Ops.Has(req.Op):
		return false
	case len(m.Prefixes) > 0 && !hasAnyPrefix(req.Resource, m.Prefixes):
		return false
	case req.Bytes < m.MinBytes || m.MaxBytes != nil && req.Bytes > *m.MaxBytes:
		return false
	case m.Authenticated != nil && *m.Authenticated != req.Authenticated:
		return false
	}
	for _, tag := range m.Tags {
		if !slices.Contains(req.Tags, tag) {
			return false
		}
	}
	return true
}

// isEmpty reports whether m matches every request.
func (m *Match) isEmpty() bool {
	return len(m.Tenants) == 0 && m.Ops == 0 && len(m.Prefixes) == 0 && m.MinBytes == 0 &&
		m.MaxBytes == nil && len(m.Tags) == 0 && m.Authenticated == nil
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// Engine holds the bundle in force. It starts with an empty bundle, which
// denies everything.
type Engine struct {
	bundle *Bundle
}

// NewEngine returns an engine that denies everything until a bundle loads.
func NewEngine() *Engine {
	return &Engine{bundle: &Bundle{Name: "deny-all", Digest: blake3.Sum256(nil)}}
}

// Load parses and validates data and, only if it is valid, makes it the
// bundle in force. On error the previous bundle stays in force. The swap
// is a single pointer assignment inside the node's one-input-at-a-time
// loop, so no request ever sees half of two bundles.
func (e *Engine) Load(data []byte) error {
	b, err := Parse(data)
	if err != nil {
		return err
	}
	e.bundle = b
	return nil
}

// Bundle returns the bundle in force. It is immutable; callers must not
// modify it.
func (e *Engine) Bundle() *Bundle { return e.bundle }

// Decide decides req with the bundle in force.
func (e *Engine) Decide(req Request) Decision { return e.bundle.Decide(req) }

package gateway

import (
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ron-network/ron/core/admission"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/policy"
	"lukechampine.com/blake3"
)

// DefaultPolicy is the bundle in force when none is configured
// (core/admission.DefaultPolicy): reads are public, and every other op
// needs a verified token. Anything else is denied by default.
const DefaultPolicy = admission.DefaultPolicy

// ReasonPolicyDenied is the deny reason of a request a policy rule (or the
// default deny) refused.
const ReasonPolicyDenied = "policy_denied"

// PolicyPollInterval is how often a PolicyFile looks at its file's size
// and modification time (no fsnotify: no new dependency, and polling is
// well inside the 2 s apply budget).
const PolicyPollInterval = 500 * time.Millisecond

// Policy is the bundle in force, shared by every request goroutine. A
// reload swaps one pointer after the new bundle validated, so a request
// sees either the old or the new bundle, never a mix, and an invalid
// bundle never takes effect (core/policy.Engine's contract, made safe for
// concurrent readers).
type Policy struct {
	bundle atomic.Pointer[policy.Bundle]
}

// NewPolicy parses text (DefaultPolicy when empty).
func NewPolicy(text []byte) (*Policy, error) {
	if len(text) == 0 {
		text = []byte(DefaultPolicy)
	}
	p := &Policy{}
	if err := p.Load(text); err != nil {
		return nil, err
	}
	return p, nil
}

// Load validates text and makes it the bundle in force; on error the old
// bundle stays and the error (a *policy.Error naming rule, field and line)
// is returned.
func (p *Policy) Load(text []byte) error {
	b, err := policy.Parse(text)
	if err != nil {
		return err
	}
	p.bundle.Store(b)
	return nil
}

// Bundle is the bundle in force (immutable).
func (p *Policy) Bundle() *policy.Bundle { return p.bundle.Load() }

// Decide decides req with the bundle in force.
func (p *Policy) Decide(req policy.Request) policy.Decision { return p.Bundle().Decide(req) }

// Digest is the hex BLAKE3 of the bundle text in force.
func (p *Policy) Digest() string {
	d := p.Bundle().Digest
	return hex.EncodeToString(d[:])
}

// PolicyFile reloads a Policy from a file when the file's size or
// modification time changes (Poll, or Run's loop) and when asked (Reload,
// on SIGHUP). Apply latency, from the change being noticed to the new
// bundle deciding requests, is observed in policy_apply_latency_seconds.
type PolicyFile struct {
	Path    string
	Policy  *Policy
	Metrics env.Metrics
	Logger  *slog.Logger
	// Applied is called after a new bundle took effect, with the bundle
	// it replaced (rond audits both digests); it may be nil.
	Applied func(old, b *policy.Bundle)
	// Refused is called when a reload was refused (the file unreadable or
	// the bundle invalid; the old bundle stays), once per refusal: a
	// refusal identical to the last one (the same file content refused
	// again on SIGHUP, the same read error) is not reported again until a
	// reload succeeds or the refusal differs, so a bad file left in place
	// cannot flood the audit log. It may be nil.
	Refused func(err error)

	mu   sync.Mutex // serialises Reload between Run and a signal handler
	size int64
	mod  time.Time
	// refused identifies the last refusal reported (see Refused): the
	// BLAKE3 of the refused text, or the read error; "" after a success.
	refused string
}

// Open reads and loads the file once, so a bad file at start is an error
// rather than a log line.
func (f *PolicyFile) Open() error {
	st, err := os.Stat(f.Path)
	if err != nil {
		return fmt.Errorf("gateway: policy file: %w", err)
	}
	text, err := os.ReadFile(f.Path)
	if err != nil {
		return fmt.Errorf("gateway: policy file: %w", err)
	}
	if err := f.Policy.Load(text); err != nil {
		return fmt.Errorf("gateway: policy file %s: %w", f.Path, err)
	}
	f.size, f.mod = st.Size(), st.ModTime()
	return nil
}

// Poll reloads when the file's size or modification time changed since
// the last load. A vanished file keeps the bundle in force.
func (f *PolicyFile) Poll() error {
	// Counted last, so one waiting for the count sees the poll's effect.
	defer f.Metrics.Add(policy.MetricPolls, "", 1)
	st, err := os.Stat(f.Path)
	if err != nil {
		return fmt.Errorf("gateway: policy file: %w", err)
	}
	f.mu.Lock()
	changed := st.Size() != f.size || !st.ModTime().Equal(f.mod)
	f.mu.Unlock()
	if !changed {
		return nil
	}
	return f.Reload()
}

// Reload reads the file and applies it if it is valid. An invalid bundle
// is logged with the rule and field at fault and the old one stays; the
// file's size and time are remembered either way, so a bad file is
// reported once, not every poll.
func (f *PolicyFile) Reload() error {
	noticed := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	st, statErr := os.Stat(f.Path)
	text, err := os.ReadFile(f.Path)
	if err == nil && statErr != nil {
		err = statErr
	}
	if err != nil {
		f.Logger.Error("gateway: policy reload failed; the old bundle stays", "file", f.Path, "err", err)
		f.Metrics.Add(policy.MetricReloads, policy.ReloadFailed, 1)
		err = fmt.Errorf("gateway: policy file: %w", err)
		f.refuse("read:"+err.Error(), err)
		return err
	}
	f.size, f.mod = st.Size(), st.ModTime()
	oldBundle := f.Policy.Bundle()
	old := f.Policy.Digest()
	if err := f.Policy.Load(text); err != nil {
		attrs := []any{"file", f.Path, "err", err}
		var pe *policy.Error
		if errors.As(err, &pe) {
			attrs = append(attrs, "rule", pe.Rule, "rule_name", pe.RuleName, "field", pe.Field, "line", pe.Line)
		}
		f.Logger.Error("gateway: invalid policy bundle rejected; the old bundle stays", attrs...)
		f.Metrics.Add(policy.MetricReloads, policy.ReloadRejected, 1)
		err = fmt.Errorf("gateway: policy file %s: %w", f.Path, err)
		sum := blake3.Sum256(text)
		f.refuse("text:"+hex.EncodeToString(sum[:]), err)
		return err
	}
	f.refused = ""
	f.Metrics.Observe(policy.MetricApplyLatency, "", time.Since(noticed).Seconds())
	if f.Policy.Digest() == old {
		f.Metrics.Add(policy.MetricReloads, policy.ReloadUnchanged, 1)
		return nil
	}
	f.Metrics.Add(policy.MetricReloads, policy.ReloadApplied, 1)
	b := f.Policy.Bundle()
	f.Logger.Info("gateway: policy bundle applied", "file", f.Path, "bundle", b.Name, "rules", len(b.Rules), "digest", f.Policy.Digest())
	if f.Applied != nil {
		f.Applied(oldBundle, b)
	}
	return nil
}

// refuse reports err to Refused unless the last refusal reported had the
// same key. f.mu is held.
func (f *PolicyFile) refuse(key string, err error) {
	if key == f.refused {
		return
	}
	f.refused = key
	if f.Refused != nil {
		f.Refused(err)
	}
}

// Run polls every PolicyPollInterval and reloads on every value from hup
// (SIGHUP), until done is closed.
func (f *PolicyFile) Run(done <-chan struct{}, hup <-chan os.Signal) {
	tick := time.NewTicker(PolicyPollInterval)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			_ = f.Poll()
		case <-hup:
			_ = f.Reload()
		}
	}
}

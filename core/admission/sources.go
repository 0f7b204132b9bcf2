package admission

import (
	"time"

	"github.com/ron-network/ron/core/env"
)

// Sources is the failure budget of client sources (remote addresses): a
// token bucket per source, charged by every request whose token fails
// verification. Failed attempts are charged here and never to the tenant
// the token names, so an attacker holding an expired or forged token of
// tenant A cannot spend A's quota. A source whose budget is spent gets
// ShedSourceOverQuota (429) instead of the token's deny, which costs the
// node nothing more; valid tokens and anonymous reads from the same source
// are not affected (a shared NAT address must not lock out its honest
// clients).
type Sources struct {
	buckets buckets
}

// NewSources returns the table for cfg's source failure budget.
func NewSources(cfg Config) *Sources {
	cfg = cfg.WithDefaults()
	return &Sources{buckets: newBuckets(cfg.SourceFailureRate, cfg.SourceFailureBurst, SourcesMax)}
}

// Fail charges one failed attempt to source. It returns the refusal to
// answer instead of the token's own deny when the budget is spent.
func (s *Sources) Fail(now env.Time, source string) (Refusal, bool) {
	wait, ok := s.buckets.take(now, source)
	if len(s.buckets.m) > SourcesMax {
		panic("admission: more sources than SourcesMax")
	}
	if ok {
		return Refusal{}, false
	}
	return Refusal{Kind: KindOverQuota, Reason: ShedSourceOverQuota, Detail: "source " + source,
		RetryAfter: max(wait, time.Millisecond)}, true
}

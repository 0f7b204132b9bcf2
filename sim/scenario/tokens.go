package scenario

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"
)

// Token workload limits and defaults.
const (
	// TokensMax bounds the tokens a workload mints.
	TokensMax = 256
	// RevocationWithinDefault is the revocation check's propagation bound:
	// core/registry's RevocationPullIntervalDefault (1s) with its jitter
	// (25%), plus a margin for round trips and a leader election. The
	// runner asserts the relation in a test.
	RevocationWithinDefault = 3 * time.Second
)

var tokensKeys = []string{"count", "expiring", "expire_at", "revoke_at", "rate"}

// tokensSection decodes workload.tokens. At least one token stays valid for the
// whole run (neither expiring nor revoked), so that false denials show.
func (d *decoder) tokensSection(n *yaml.Node) *Tokens {
	const path = "workload.tokens"
	f, ok := d.mapping(n, path, tokensKeys)
	if !ok {
		return nil
	}
	t := &Tokens{}
	if v, ok := d.require(f, "count"); ok {
		count, _ := d.integer(v, join(path, "count"), 1, TokensMax)
		t.Count = int(count)
	}
	if v, ok := d.require(f, "rate"); ok {
		if rate, good := unitValue(d, v, join(path, "rate"), "a rate", parseRateText); good {
			t.RatePerSecond = rate
			if rate == 0 {
				d.fail(v, join(path, "rate"), "want a rate > 0")
			}
		}
	}
	if v, ok := f.get("expiring"); ok {
		expiring, _ := d.integer(v, join(path, "expiring"), 0, TokensMax)
		t.Expiring = int(expiring)
	}
	if v, ok := f.get("expire_at"); ok {
		t.ExpireAt, _ = d.runTime(v, join(path, "expire_at"))
	}
	if v, ok := f.get("revoke_at"); ok {
		t.RevokeAt, _ = d.runTime(v, join(path, "revoke_at"))
		if d.registry == 0 && !d.registryBad {
			d.fail(v, join(path, "revoke_at"), "revoking goes through the registry and nodes.registry_replicas is 0")
		}
	}
	d.tokensNeeds(n, t)
	return t
}

// runTime decodes a positive time inside the run.
func (d *decoder) runTime(n *yaml.Node, path string) (time.Duration, bool) {
	at, good := d.positiveDuration(n, path)
	if good && d.runEnd > 0 && at >= d.runEnd {
		d.fail(n, path, fmt.Sprintf("%s is not before the end of the run (duration %s)", formatDuration(at), formatDuration(d.runEnd)))
		return at, false
	}
	return at, good
}

func (d *decoder) tokensNeeds(n *yaml.Node, t *Tokens) {
	revoked := 0
	if t.RevokeAt > 0 {
		revoked = 1
	}
	if t.Count > 0 && t.Expiring+revoked >= t.Count {
		d.fail(n, "workload.tokens", fmt.Sprintf("%d expiring and %d revoked of %d tokens leave none valid; keep at least one", t.Expiring, revoked, t.Count))
	}
	if t.Expiring > 0 && t.ExpireAt == 0 {
		d.fail(n, "workload.tokens.expire_at", "required when expiring > 0")
	}
}

func (t *Tokens) node() *yaml.Node {
	m := newMap(true)
	m.add("count", intNode(int64(t.Count)))
	m.add("rate", strNode(formatRate(t.RatePerSecond)))
	m.addIf(t.Expiring > 0, "expiring", func() *yaml.Node { return intNode(int64(t.Expiring)) })
	m.addIf(t.ExpireAt > 0, "expire_at", func() *yaml.Node { return durNode(t.ExpireAt) })
	m.addIf(t.RevokeAt > 0, "revoke_at", func() *yaml.Node { return durNode(t.RevokeAt) })
	return m.n
}

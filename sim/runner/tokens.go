package runner

import (
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/sim/check"
	"github.com/ron-network/ron/sim/scenario"
	"github.com/ron-network/ron/sim/workload"
)

// TokenKeyID is the cluster capability key's id in token workloads.
const TokenKeyID = "cluster"

// tokenKeys holds the cluster's capability root key and the revocation
// admin's key, both derived from the seed (stream "tokens/keys").
type tokenKeys struct {
	mac   auth.MACKey
	admin ed25519.PrivateKey
}

// MACKey implements auth.KeySource for the one cluster key.
func (k *tokenKeys) MACKey(id string, version uint32) (auth.MACKey, bool) {
	if id != k.mac.ID || version != k.mac.Version {
		return auth.MACKey{}, false
	}
	return k.mac, true
}

// runsTokens reports whether the scenario has a token workload (and so
// composes authz and registry revocation pulls).
func (c *cluster) runsTokens() bool {
	wl := c.scn.Workload
	return wl != nil && wl.Tokens != nil
}

// drawTokenKeys is called by bind when the scenario runs tokens.
func (c *cluster) drawTokenKeys(rand *env.Rand) {
	var seed [ed25519.SeedSize]byte
	rand.Fill(seed[:])
	c.tokens = &tokenKeys{mac: auth.MACKey{ID: TokenKeyID, Version: 1, Secret: auth.SecretFromRand(rand)},
		admin: ed25519.NewKeyFromSeed(seed[:])}
}

func (r *run) startTokens(wl *scenario.Workload) error {
	t := wl.Tokens
	tokens, err := workload.NewTokens(r.w, workload.TokensConfig{
		Count: t.Count, Expiring: t.Expiring, ExpireAt: t.ExpireAt, RevokeAt: t.RevokeAt,
		RatePerSecond: t.RatePerSecond, Start: wl.Start, Stop: wl.Stop, Timeout: wl.Timeout,
		Key: r.cluster.tokens.mac, Admin: r.cluster.tokens.admin,
	})
	if err != nil {
		return fmt.Errorf("token workload: %w", err)
	}
	r.tokens = tokens
	r.tokens.Start()
	return nil
}

// checkRevocation builds the bounds for check.CheckRevocation.
func (r *run) checkRevocation(within time.Duration) check.Result {
	if r.tokens == nil {
		return check.Result{Name: "revocation", Detail: "no token workload to check"}
	}
	call, commit, _ := r.tokens.Revoke()
	n := r.w.Nodes()
	in := check.Revocation{Checks: r.tokens.Checks(), Roles: r.tokens.Roles(), RevokeCall: call, RevokeCommit: commit,
		Within: within, ExpireAt: r.scn.Workload.Tokens.ExpireAt,
		BoundStart: make([]time.Duration, n), ExpiryDeadline: make([]time.Duration, n), Required: make([]bool, n)}
	for i := 0; i < n; i++ {
		lag := r.clockLag(i)
		if lag > auth.ClockSkewMax {
			return check.Result{Name: "revocation", Detail: fmt.Sprintf("n%d's clock lags up to %v in this scenario, beyond auth.ClockSkewMax %v: expiry cannot be owed", i+1, lag, auth.ClockSkewMax)}
		}
		in.ExpiryDeadline[i] = in.ExpireAt + auth.ClockSkewMax + lag
		in.BoundStart[i] = r.boundStart(i, commit, within)
		// A node must show its denial when it was up at the end and the
		// probers had time to reach it after its deadline.
		in.Required[i] = r.w.Up(i) && in.BoundStart[i]+within+within < r.scn.Workload.Stop
	}
	return check.CheckRevocation(in)
}

// clockLag is the most node i's clock falls behind true time under the
// scenario's clock faults (a negative offset, and a slow drift over its
// window).
func (r *run) clockLag(i int) time.Duration {
	var lag time.Duration
	for _, f := range r.scn.Faults {
		if f.Clock == nil || !r.names(f.Clock.Node, i) {
			continue
		}
		lag = max(lag, max(-f.Clock.Offset, 0)+max(time.Duration(-f.Clock.Drift*float64(f.For)), 0))
	}
	return lag
}

// boundStart is when node i's propagation bound starts: the commit, moved
// to the end of every fault that touches node i (names it, names a
// registry replica, or is network-wide or dynamic) and opens before the
// bound would have run out. With random faults it is after the last one.
func (r *run) boundStart(i int, commit, within time.Duration) time.Duration {
	start := commit
	if r.scn.RandomFaults != nil {
		return max(start, r.faults.lastEnd)
	}
	for changed := true; changed; {
		changed = false
		for k := range r.scn.Faults {
			f := &r.scn.Faults[k]
			end := f.End(r.scn.Duration)
			if f.Clock != nil {
				end = clockHealed(f, r.scn.Duration)
			}
			if f.At < start+within && end > start && r.touches(f, i) {
				start, changed = end, true
			}
		}
	}
	return start
}

// touches reports whether fault f can delay what node i learns.
func (r *run) touches(f *scenario.Fault, i int) bool {
	var targets []string
	switch {
	case f.Partition != nil:
		p := f.Partition
		targets = append(targets, p.Isolate)
		if p.OneWay != nil {
			targets = append(append(targets, p.OneWay.From...), p.OneWay.To...)
		}
		for _, g := range p.Groups {
			targets = append(targets, g...)
		}
		if p.Bridge != nil {
			targets = append(append(append(targets, p.Bridge.Left...), p.Bridge.Right...), p.Bridge.Via)
		}
	case f.Crash != nil:
		targets = []string{f.Crash.Target}
	case f.Pause != nil:
		targets = []string{f.Pause.Target}
	case f.Clock != nil:
		targets = []string{f.Clock.Node}
	case f.Disk != nil:
		targets = []string{f.Disk.Node}
	default:
		return true // network-wide
	}
	for _, t := range targets {
		if t != "" && (r.names(t, i) || t == scenario.TargetLeader || t == scenario.TargetRandom || t == scenario.TargetAll || r.scn.IsRegistryReplica(t)) {
			return true
		}
	}
	return false
}

// names reports whether target names node i.
func (r *run) names(target string, i int) bool {
	j, ok := scenario.NodeIndex(target)
	return ok && j == i
}

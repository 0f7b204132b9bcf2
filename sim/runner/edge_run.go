package runner

import (
	"crypto/ed25519"
	"errors"
	"time"

	"github.com/ron-network/ron/core/admission"
	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/sim"
	"github.com/ron-network/ron/sim/check"
	"github.com/ron-network/ron/sim/scenario"
	"github.com/ron-network/ron/sim/workload"
)

// EdgeDrainMax bounds how long the readiness check lets the world run
// after the load stopped for every node's edge to drain.
const EdgeDrainMax = 30 * time.Second

// Tenants of the registry and content workloads' clients when they enter
// through the edge.
const (
	EdgeRegistryTenant = "registry-clients"
	EdgeContentTenant  = "content-clients"
)

// edgePath is the path of a workload's clients: through the edge as
// tenant, with a valid token of ops, when the scenario has an edge; the
// zero path (straight to the service) otherwise.
func (r *run) edgePath(tenant string, ops ...auth.Op) workload.EdgePath {
	if r.edge == nil {
		return workload.EdgePath{}
	}
	var nonce [auth.NonceBytes]byte
	r.w.Rand("edge/workload-tokens").Fill(nonce[:])
	tok, err := auth.Mint(r.cluster.tokens.mac, tenant, auth.Ops(ops...), nonce)
	if err != nil {
		panic("runner: minting a workload token: " + err.Error())
	}
	return workload.EdgePath{Edge: r.edge, Tenant: tenant, Token: tok.Encode(), Refusals: &r.edge.workloadRefusals}
}

// runsEdge reports whether the scenario's clients enter through the edge.
func (c *cluster) runsEdge() bool {
	wl := c.scn.Workload
	return wl != nil && wl.Edge != nil
}

// runsEdgeClients reports whether the scenario has edge client groups
// (which put and get content, so the nodes run storage).
func (c *cluster) runsEdgeClients() bool {
	return c.runsEdge() && len(c.scn.Workload.Edge.Tenants) > 0
}

// startEdge builds the edge and the edge clients; it runs after the token
// keys are drawn (bind).
func (r *run) startEdge(wl *scenario.Workload) {
	r.edge = newSimEdge(r.w, r.cluster, wl.Edge.Limits)
	r.edge.sampleReadiness(wl.Start, wl.Stop)
	if !r.cluster.runsEdgeClients() {
		return
	}
	var groups []workload.EdgeGroup
	var revoked []string
	rand := r.w.Rand("edge/tokens")
	for _, t := range wl.Edge.Tenants {
		g := workload.EdgeGroup{Tenant: t.Name, Clients: t.Clients, RatePerSecond: t.RatePerSecond, Writes: t.Writes,
			SizeBytes: int(t.SizeBytes), UploadBytesPerSecond: t.UploadBytesPerSecond}
		var nonce [auth.NonceBytes]byte
		rand.Fill(nonce[:])
		var caveats []auth.Caveat
		if t.Token == scenario.EdgeTokenExpired {
			caveats = append(caveats, auth.Expiry(sim.Epoch-env.Time(time.Hour)))
		}
		if t.Token != scenario.EdgeTokenNone {
			tok, err := auth.Mint(r.cluster.tokens.mac, t.Name, auth.Ops(auth.OpRead, auth.OpWrite), nonce, caveats...)
			if err != nil {
				panic("runner: minting an edge token: " + err.Error())
			}
			g.Token = tok.Encode()
			if t.Token == scenario.EdgeTokenRevoked {
				revoked = append(revoked, g.Token)
			}
		}
		groups = append(groups, g)
	}
	r.edgeClients = workload.NewEdgeClients(r.w, r.edge, workload.EdgeConfig{Groups: groups, Start: wl.Start, Stop: wl.Stop, Timeout: wl.Timeout})
	r.edgeClients.Start()
	for _, text := range revoked {
		r.revokeEdgeToken(text)
	}
}

// revokeEdgeToken revokes text through the registry at time zero, retrying
// every workload.RevokeRetry until one attempt is answered ok.
func (r *run) revokeEdgeToken(text string) {
	tok, _ := auth.Decode(text)
	until := auth.Effective(tok).Expiry
	admin := r.cluster.tokens.admin
	body := registry.Revoke{ID: tok.ID(), Until: until, Admin: admin.Public().(ed25519.PublicKey),
		Sig: ed25519.Sign(admin, registry.RevokeSigningBytes(tok.ID(), until))}
	done := false
	var attempt func()
	attempt = func() {
		if done {
			return
		}
		target := r.w.Rand("edge/revoke").Intn(r.scn.Nodes.RegistryReplicas)
		if r.w.Up(target) {
			r.w.Request(target, registry.ServiceName, body, func(resp any) {
				if res, ok := resp.(registry.Result); ok && (res.Err == nil || !retryable(res.Err)) {
					done = true
				}
			})
		}
		r.w.After(workload.RevokeRetry, attempt)
	}
	r.w.At(0, attempt)
}

func retryable(err error) bool {
	return errors.Is(err, registry.ErrUnknownOutcome) || errors.Is(err, registry.ErrUnavailable) || errors.Is(err, registry.ErrFailed)
}

// checkEdge runs one of the edge checks.
func (r *run) checkEdge(name string) check.Result {
	if r.edge == nil {
		return check.Result{Name: name, Detail: "no edge in this run"}
	}
	var records []workload.EdgeRecord
	if r.edgeClients != nil {
		records = r.edgeClients.Records()
	}
	switch name {
	case scenario.CheckFairness:
		return check.CheckFairness(r.edge.events, r.edge.limits.WritesPerTenantMax)
	case scenario.CheckReadAvailability:
		return check.CheckReadAvailability(records)
	case scenario.CheckReadiness:
		return r.checkEdgeReadiness()
	}
	seen := append([]admission.Refusal(nil), r.edge.workloadRefusals...)
	for i := range records {
		if records[i].Refusal.Refused() {
			seen = append(seen, records[i].Refusal)
		}
	}
	if r.tokens != nil {
		for _, c := range r.tokens.Checks() {
			if c.Refusal.Refused() {
				seen = append(seen, c.Refusal)
			}
		}
	}
	counted := map[string]float64{}
	for _, reason := range admission.ShedReasons {
		counted[reason] = r.w.Metrics().Counter(admission.MetricShed, reason)
	}
	return check.CheckRefusals(seen, counted)
}

// checkEdgeReadiness lets the edge drain after the load (at most
// EdgeDrainMax) and judges the samples.
func (r *run) checkEdgeReadiness() check.Result {
	n := r.w.Nodes()
	endReady := make([]bool, n)
	ready := func() bool {
		all := true
		for i := 0; i < n; i++ {
			endReady[i] = !r.w.Up(i)
			if r.w.Up(i) {
				s := r.edge.readiness(i)
				endReady[i] = s.Ready
			}
			all = all && endReady[i]
		}
		return all
	}
	r.quiesce(EdgeDrainMax, ready)
	return check.CheckReadiness(check.Readiness{Samples: r.edge.samples, RefusedWhileReady: r.edge.refusedWhileReady,
		Capacity: r.edge.capacity, EndReady: endReady})
}

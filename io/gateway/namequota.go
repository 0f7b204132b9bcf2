package gateway

import (
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/registry"
)

// NamesPerTenantDefault is Config.NamesPerTenantMax's default: an eighth
// of the registry's NamesMax, so that no one tenant can fill the
// registry (eight could; a tenant is minted by an admin), while 128 names
// is far more than a tenant's sites need.
const NamesPerTenantDefault = registry.NamesMax / 8

// MetricNamesRefused counts name claims refused for want of room, by
// reason: the tenant's quota (403 NAME_QUOTA) or a full registry (507
// REGISTRY_FULL). Neither is load shed (omnigate_shed_total): waiting
// frees no room, so an operator watches these to raise names_per_tenant
// or see the registry fill.
const (
	MetricNamesRefused = "gateway_names_refused_total"
	NamesRefusedQuota  = "name_quota"
	NamesRefusedFull   = "registry_full"
)

var _ = env.Declare(env.MetricDef{Name: MetricNamesRefused, Kind: env.Counter,
	Help: "Name claims refused for want of room, by reason.", Label: "reason",
	LabelValues: []string{NamesRefusedQuota, NamesRefusedFull}})

// nameQuota bounds the names each tenant claims through this gateway
// (POST /names/{name}). It counts what this gateway saw since it
// started, so alone it lets a tenant claim NamesPerTenantMax names
// through each gateway and again after a restart (doc.go, "Name quota");
// the registry bounds them cluster-wide once its cluster version carries
// tenants (registryQuota, core/registry doc.go "Tenant quota"), and this
// stays as the pre-check that spends no log entry on a claim refused.
//
// What a tenant is counted for is decided per (tenant, name) from the
// claims it sent, never from one claim alone: two claims of one name may
// run at once (the same tenant, different owners), and the one refused
// must not uncount the name the other won. A name counts while a claim of
// it is in flight, or once one succeeded (the tenant holds it), or once
// one ended of unknown outcome (504: it may hold it). Names are never
// released in the registry, so an owner once seen is the name's for good:
// a claim refused as taken, or any answer naming the owner, settles the
// unknown claims made with other owners, which then stop counting.
type nameQuota struct {
	max    int
	exempt map[string]bool
	mu     sync.Mutex
	// names is, per name, the state of each counted tenant's claims of
	// it; count is, per tenant, how many names it is counted for.
	names map[string]map[string]*nameClaims
	count map[string]int
	// ghosts is how many unknown outcomes are recorded: observe, on the
	// resolve path, takes no lock while there are none.
	ghosts atomic.Int64
}

// nameClaims is one tenant's claims of one name.
type nameClaims struct {
	inflight int
	// won: a claim succeeded, the tenant holds the name.
	won bool
	// unknown holds the owners (key bytes) of claims that ended of
	// unknown outcome: any of them may hold the name.
	unknown map[string]bool
}

func (c *nameClaims) counts() bool { return c.inflight > 0 || c.won || len(c.unknown) > 0 }

// claimOutcome is how a counted claim ended.
type claimOutcome uint8

const (
	claimWon     claimOutcome = iota // the registry applied it
	claimUnknown                     // 504: it may yet hold the name
	claimTaken                       // another owner holds the name
	claimFailed                      // definitely not applied, nothing learnt
)

// nameClaim is a claim reserve counted; end must be called with how it
// ended. A nil *nameClaim is a claim not counted (exempt, or no quota).
type nameClaim struct {
	tenant, name string
}

func newNameQuota(max int, exempt []string) *nameQuota {
	if max == 0 {
		max = NamesPerTenantDefault
	}
	q := &nameQuota{max: max, exempt: map[string]bool{}, names: map[string]map[string]*nameClaims{}, count: map[string]int{}}
	for _, t := range exempt {
		q.exempt[t] = true
	}
	return q
}

// exemptToken reports whether tok (verified) is exempt from the quota: a
// tenant listed exempt holding a token with every op and no caveat, as
// rond's root token is. A token attenuated in any way, or issued with
// fewer ops (`ronctl token issue --tenant root --ops name`), is what an
// operator hands out, and is bounded like any tenant's.
func (q *nameQuota) exemptToken(tenant, tok string) bool {
	if !q.exempt[tenant] {
		return false
	}
	t, err := auth.Decode(tok)
	return err == nil && t.Tenant == tenant && t.Scope == auth.OpsAll && len(t.Caveats) == 0
}

// reserve admits tenant's claim of name, counting it from now on until
// end. A tenant at its quota may still claim a name it is counted for
// (claims are idempotent) but no other.
func (q *nameQuota) reserve(tenant, name string, exempt bool) (*nameClaim, *apiError) {
	if q.max < 0 || exempt {
		return nil, nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	c := q.names[name][tenant]
	if c == nil {
		if n := q.count[tenant]; n >= q.max {
			return nil, errorf(http.StatusForbidden, CodeNameQuota,
				"tenant %s holds %d names, its quota: name %q is not claimed", tenant, n, name)
		}
		c = &nameClaims{}
		if q.names[name] == nil {
			q.names[name] = map[string]*nameClaims{}
		}
		q.names[name][tenant] = c
		q.count[tenant]++
	}
	c.inflight++
	return &nameClaim{tenant: tenant, name: name}, nil
}

// end records how claim (made with owner) ended. The name stops counting
// when nothing holds it any more: no claim in flight, none won, none of
// unknown outcome.
func (q *nameQuota) end(claim *nameClaim, owner []byte, out claimOutcome) {
	if claim == nil {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	c := q.names[claim.name][claim.tenant]
	c.inflight--
	switch out {
	case claimWon:
		c.won = true
		q.settle(claim.name, string(owner))
	case claimUnknown:
		if c.unknown == nil {
			c.unknown = map[string]bool{}
		}
		if !c.unknown[string(owner)] {
			c.unknown[string(owner)] = true
			q.ghosts.Add(1)
		}
	case claimTaken:
		// The name's owner is not owner: a claim made with it that
		// ended unknown did not win either.
		if c.unknown[string(owner)] {
			delete(c.unknown, string(owner))
			q.ghosts.Add(-1)
		}
	}
	q.forget(claim.name, claim.tenant)
}

// observe learns from a definite answer (a resolve, a refusal naming the
// owner) that name is owner's: unknown claims made with owner won, those
// made with any other owner did not.
func (q *nameQuota) observe(name string, owner []byte) {
	if len(owner) == 0 || q.ghosts.Load() == 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.settle(name, string(owner))
}

// settle applies "name is owner's" to every tenant's unknown claims of
// name. Called with mu held.
func (q *nameQuota) settle(name, owner string) {
	for tenant, c := range q.names[name] {
		if len(c.unknown) == 0 {
			continue
		}
		if c.unknown[owner] {
			c.won = true
		}
		q.ghosts.Add(-int64(len(c.unknown)))
		c.unknown = nil
		q.forget(name, tenant)
	}
}

// forget stops counting tenant's name once nothing holds it. Called with
// mu held.
func (q *nameQuota) forget(name, tenant string) {
	c := q.names[name][tenant]
	if c == nil || c.counts() {
		return
	}
	delete(q.names[name], tenant)
	if len(q.names[name]) == 0 {
		delete(q.names, name)
	}
	if q.count[tenant]--; q.count[tenant] == 0 {
		delete(q.count, tenant)
	}
}

// registryQuota is the tenant and quota a Claim carries to the registry,
// which counts and bounds them cluster-wide once its cluster version is
// registry.VersionQuota (doc.go, "Name quota"): no tenant for an exempt
// token (its names count for no one, as here), and quota 0 (counted, not
// bounded) when the quota is off.
func (q *nameQuota) registryQuota(tenant string, exempt bool) (string, uint64) {
	if exempt {
		return "", 0
	}
	return tenant, uint64(max(q.max, 0))
}

// counted is how many names tenant is counted for (tests).
func (q *nameQuota) counted(tenant string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.count[tenant]
}

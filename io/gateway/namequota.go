package gateway

import (
	"net/http"
	"sync"

	"github.com/ron-network/ron/core/registry"
)

// NamesPerTenantDefault is Config.NamesPerTenantMax's default: an eighth
// of the registry's NamesMax, so that no one tenant can fill the
// registry (eight could; a tenant is minted by an admin), while 128 names
// is far more than a tenant's sites need.
const NamesPerTenantDefault = registry.NamesMax / 8

// nameQuota bounds the names each tenant claims through this gateway
// (POST /names/{name}). It lives at the edge, not in the registry: the
// registry's replicated state knows owners, not tenants, and a quota
// decided at apply would need the tenant in the log entry, which old
// replicas of a rolling upgrade cannot read (core/registry doc.go,
// "Cluster version"). An edge quota changes no entry and no apply
// decision, so replicas of any build cannot diverge over it; what it
// gives up is reach: it counts what this gateway saw since it started,
// so a tenant may claim NamesPerTenantMax names through each gateway and
// again after a restart (doc.go, "Name quota").
type nameQuota struct {
	max    int
	exempt map[string]bool
	mu     sync.Mutex
	// held is, per tenant, the names it claimed here or is claiming now
	// (a claim in flight counts, so concurrent claims cannot overshoot).
	held map[string]map[string]struct{}
}

func newNameQuota(max int, exempt []string) *nameQuota {
	if max == 0 {
		max = NamesPerTenantDefault
	}
	q := &nameQuota{max: max, exempt: map[string]bool{}, held: map[string]map[string]struct{}{}}
	for _, t := range exempt {
		q.exempt[t] = true
	}
	return q
}

// reserve admits tenant's claim of name, counting it from now on. fresh
// says the name was not counted before (release undoes only those). A
// tenant at its quota may still claim a name it holds (claims are
// idempotent) but no other.
func (q *nameQuota) reserve(tenant, name string) (fresh bool, e *apiError) {
	if q.max < 0 || q.exempt[tenant] {
		return false, nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	names := q.held[tenant]
	if _, ok := names[name]; ok {
		return false, nil
	}
	if len(names) >= q.max {
		return false, errorf(http.StatusForbidden, CodeNameQuota,
			"tenant %s holds %d names, its quota: name %q is not claimed", tenant, len(names), name)
	}
	if names == nil {
		names = map[string]struct{}{}
		q.held[tenant] = names
	}
	names[name] = struct{}{}
	return true, nil
}

// release stops counting a fresh reservation whose claim definitely
// failed. A claim of unknown outcome stays counted: it may hold the name.
func (q *nameQuota) release(tenant, name string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.held[tenant], name)
	if len(q.held[tenant]) == 0 {
		delete(q.held, tenant)
	}
}

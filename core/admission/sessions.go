package admission

import (
	"fmt"
	"sort"
	"time"

	"github.com/ron-network/ron/core/env"
)

// Session limits.
const (
	// SessionsMaxDefault bounds the upload sessions the edge holds open
	// at once; it equals core/storage's SessionsMax so the edge refuses
	// (typed and counted) before storage would.
	SessionsMaxDefault = 64
	// SessionsPerTenantMaxDefault bounds one tenant's open uploads, so a
	// tenant holding slow uploads cannot take every session.
	SessionsPerTenantMaxDefault = 8
	// SessionTTLDefault: a session without progress for this long is
	// expired by Expire (its caller aborts the upload).
	SessionTTLDefault = time.Minute
)

// SessionsConfig configures a Sessions table. Zero values take defaults.
type SessionsConfig struct {
	SessionsMax          int
	SessionsPerTenantMax int
	// SessionsReserved is how many of SessionsMax only a tenant holding
	// no session may take (see "Fair share" in doc.go). 0 takes a quarter
	// of SessionsMax; a negative value reserves none. It must be below
	// SessionsMax (Validate); WithDefaults clamps a larger one to
	// SessionsMax-1, the largest reserve that still means something (a
	// holder's second session needs the table empty of others), never
	// to the default, so a mistake cannot silently become a quarter.
	SessionsReserved int
	SessionTTL       time.Duration
}

// WithDefaults fills zero fields.
func (c SessionsConfig) WithDefaults() SessionsConfig {
	if c.SessionsMax <= 0 {
		c.SessionsMax = SessionsMaxDefault
	}
	if c.SessionsPerTenantMax <= 0 || c.SessionsPerTenantMax > c.SessionsMax {
		c.SessionsPerTenantMax = min(SessionsPerTenantMaxDefault, c.SessionsMax)
	}
	if c.SessionTTL <= 0 {
		c.SessionTTL = SessionTTLDefault
	}
	// A negative reserve stays negative (-1), so filling defaults twice
	// (the simulator does) cannot turn "none" into the default.
	switch {
	case c.SessionsReserved < 0:
		c.SessionsReserved = -1
	case c.SessionsReserved == 0:
		c.SessionsReserved = c.SessionsMax / 4
	case c.SessionsReserved >= c.SessionsMax:
		c.SessionsReserved = c.SessionsMax - 1
	}
	return c
}

// Validate reports a configuration WithDefaults would have to clamp: a
// reserve of every session (or more) leaves none for a tenant holding
// one. The simulator's scenario parser refuses the same values.
func (c SessionsConfig) Validate() error {
	limit := c.SessionsMax
	if limit <= 0 {
		limit = SessionsMaxDefault
	}
	if c.SessionsReserved >= limit {
		return fmt.Errorf("admission: SessionsReserved %d leaves no session for a tenant holding one of SessionsMax %d", c.SessionsReserved, limit)
	}
	return nil
}

// reserved is the number of sessions kept for tenants holding none.
func (c SessionsConfig) reserved() int { return max(0, c.SessionsReserved) }

// SessionID names an open session of the table (not storage's id).
type SessionID uint64

type sessionEntry struct {
	tenant  string
	touched env.Time
}

// Sessions is the edge's upload-session table: who holds an upload open,
// bounded per tenant and globally, with an idle TTL. Readiness turns false
// while the table is full (SessionsMax open), so balancers steer uploads
// away; a tenant at its own limit is refused (ShedSessionsTenant), one
// holding sessions when only the reserved ones are free is refused
// (ShedSessionsReserved), either without affecting readiness or any
// other tenant.
type Sessions struct {
	cfg       SessionsConfig
	open      map[SessionID]*sessionEntry
	perTenant map[string]int
	next      SessionID
}

// NewSessions returns an empty table.
func NewSessions(cfg SessionsConfig) *Sessions {
	return &Sessions{cfg: cfg.WithDefaults(), open: map[SessionID]*sessionEntry{}, perTenant: map[string]int{}}
}

// Config is the table's configuration, defaults filled.
func (s *Sessions) Config() SessionsConfig { return s.cfg }

// Open takes a session for tenant, or refuses: the tenant's limit first
// (its own doing), then the node's, then the fair share: a tenant that
// already holds a session may not take the last SessionsReserved free
// ones, which are kept for tenants holding none (doc.go, "Fair share").
func (s *Sessions) Open(now env.Time, tenant string) (SessionID, Refusal) {
	defer s.checkInvariants()
	held, free := s.perTenant[tenant], s.cfg.SessionsMax-len(s.open)
	switch {
	case held >= s.cfg.SessionsPerTenantMax:
		return 0, Refusal{Kind: KindOverQuota, Reason: ShedSessionsTenant, RetryAfter: time.Second,
			Detail: fmt.Sprintf("tenant %s holds %d upload sessions, its limit", tenant, held)}
	case free <= 0:
		return 0, Refusal{Kind: KindOverloaded, Reason: ShedSessionsFull, Detail: "every upload session is open", RetryAfter: time.Second}
	case held > 0 && free <= s.cfg.reserved():
		return 0, Refusal{Kind: KindOverQuota, Reason: ShedSessionsReserved, RetryAfter: time.Second,
			Detail: fmt.Sprintf("tenant %s holds %d upload sessions and the %d free are kept for tenants holding none", tenant, held, free)}
	}
	s.next++
	s.open[s.next] = &sessionEntry{tenant: tenant, touched: now}
	s.perTenant[tenant]++
	return s.next, Refusal{}
}

// Touch records progress on id; false when id is not open (expired).
func (s *Sessions) Touch(now env.Time, id SessionID) bool {
	e := s.open[id]
	if e == nil {
		return false
	}
	e.touched = max(e.touched, now)
	return true
}

// Close ends id (committed or aborted); closing an expired id is a no-op.
func (s *Sessions) Close(id SessionID) {
	defer s.checkInvariants()
	e := s.open[id]
	if e == nil {
		return
	}
	delete(s.open, id)
	if s.perTenant[e.tenant]--; s.perTenant[e.tenant] == 0 {
		delete(s.perTenant, e.tenant)
	}
}

// Expire closes every session idle for SessionTTL and returns them in id
// order; their holders must abort the uploads.
func (s *Sessions) Expire(now env.Time) []SessionID {
	var out []SessionID
	// map order ok: sorted below
	for id, e := range s.open {
		if time.Duration(now-e.touched) >= s.cfg.SessionTTL {
			out = append(out, id)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	for _, id := range out {
		s.Close(id)
	}
	return out
}

// Len is the number of open sessions; Exhausted reports the table full.
func (s *Sessions) Len() int        { return len(s.open) }
func (s *Sessions) Exhausted() bool { return len(s.open) >= s.cfg.SessionsMax }

// Tenant is the number of sessions tenant holds.
func (s *Sessions) Tenant(tenant string) int { return s.perTenant[tenant] }

func (s *Sessions) checkInvariants() {
	sum := 0
	// map order ok: a sum
	for t, n := range s.perTenant {
		if n <= 0 || n > s.cfg.SessionsPerTenantMax {
			panic("admission: tenant " + t + " holds a session count out of bounds")
		}
		sum += n
	}
	if sum != len(s.open) || len(s.open) > s.cfg.SessionsMax {
		panic("admission: session counts disagree or exceed SessionsMax")
	}
}

// Readiness reasons.
const (
	NotReadySaturated = "saturated"                 // writes would queue
	NotReadySessions  = "upload_sessions_exhausted" // every upload session is open
)

// Ready is the edge's share of readiness: false with a reason while the
// gate is saturated or the session table is full (either may be nil).
func Ready(g *Gate, s *Sessions) (bool, string) {
	switch {
	case g != nil && g.Saturated():
		return false, NotReadySaturated
	case s != nil && s.Exhausted():
		return false, NotReadySessions
	}
	return true, ""
}

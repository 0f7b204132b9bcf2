package admission

import (
	"fmt"
	"time"

	"github.com/ron-network/ron/core/env"
)

// MetricShed counts every refusal of the edge, by reason (ShedReasons).
const MetricShed = "omnigate_shed_total"

var _ = env.Declare(env.MetricDef{Name: MetricShed, Kind: env.Counter,
	Help: "Requests shed by admission or body caps, by reason.", Label: "reason", LabelValues: ShedReasons})

// Shed reasons: the labels of MetricShed.
const (
	ShedOverQuota       = "over_quota"        // the tenant's (or anonymous) bucket is empty
	ShedOverload        = "overload"          // the queue is full
	ShedQueueTimeout    = "queue_timeout"     // no slot within QueueWaitMax
	ShedBodyTooLarge    = "body_too_large"    // the body exceeds the object cap
	ShedSourceOverQuota = "source_over_quota" // the source's failure budget is spent
	ShedTokenDenied     = "token_denied"      // the token failed verification before the body
	ShedPolicyDenied    = "policy_denied"     // the policy refused the request
	ShedSessionsTenant  = "sessions_tenant"   // the tenant holds SessionsPerTenantMax uploads
	ShedSessionsFull    = "sessions_full"     // the node holds SessionsMax uploads
	// ShedSessionsReserved: the tenant already holds an upload and only
	// the SessionsReserved sessions kept for tenants holding none are
	// free (doc.go, "Fair share"). Its own reason, not sessions_tenant,
	// so an operator can tell the fair share biting from a tenant at its
	// own limit.
	ShedSessionsReserved = "sessions_reserved"
	// ShedTenantWrites: the tenant already queues
	// QueuedWritesPerTenantMax writes (doc.go, "Write slots per
	// tenant"). The tenant's own limit: 429, readiness unaffected.
	ShedTenantWrites = "tenant_writes"
	// ShedSessionExpired: an upload stopped because the session table
	// expired its slot (no body byte for SessionTTL); see SessionExpired.
	ShedSessionExpired = "session_expired"
)

// ShedReasons lists every reason, for metric pre-declaration and checks.
var ShedReasons = []string{ShedOverQuota, ShedOverload, ShedQueueTimeout, ShedBodyTooLarge, ShedSourceOverQuota,
	ShedTokenDenied, ShedPolicyDenied, ShedSessionsTenant, ShedSessionsFull, ShedSessionsReserved,
	ShedSessionExpired, ShedTenantWrites}

// Kind is the class of a refusal: what a client is told (the gateway maps
// it to an HTTP status and envelope code).
type Kind uint8

const (
	KindOverQuota    Kind = iota + 1 // 429: slow down, Retry-After
	KindOverloaded                   // 503: the node is busy, Retry-After
	KindUnauthorized                 // 401: the token is missing or not valid now
	KindForbidden                    // 403: valid token (or none) not allowed this
	KindTooLarge                     // 413: the body exceeds a cap
)

// Refusal is a typed answer of the edge. The zero Refusal is no refusal.
type Refusal struct {
	Kind       Kind
	Reason     string        // one of ShedReasons
	Detail     string        // for the message: a token's deny reason, a rule name
	RetryAfter time.Duration // for KindOverQuota and KindOverloaded
}

// SessionExpired is the refusal of an upload whose slot Expire dropped
// (or Touch found gone): the table may have given the slot away, so the
// upload must stop, or it would run beyond every limit the table counts.
// 503: the client did nothing wrong by the protocol; it may retry.
func SessionExpired(ttl time.Duration) Refusal {
	return Refusal{Kind: KindOverloaded, Reason: ShedSessionExpired, RetryAfter: time.Second,
		Detail: fmt.Sprintf("upload session expired: no body byte within %v", ttl)}
}

// Refused reports whether r is a refusal.
func (r Refusal) Refused() bool { return r.Kind != 0 }

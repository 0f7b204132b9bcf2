package admission

import (
	"time"

	"github.com/ron-network/ron/core/env"
)

// MetricShed counts every refusal of the edge, by reason (ShedReasons).
const MetricShed = "omnigate_shed_total"

var _ = env.Declare(env.MetricDef{Name: MetricShed, Kind: env.Counter,
	Help: "Requests shed by admission or body caps, by reason.", Label: "reason"})

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
)

// ShedReasons lists every reason, for metric pre-declaration and checks.
var ShedReasons = []string{ShedOverQuota, ShedOverload, ShedQueueTimeout, ShedBodyTooLarge, ShedSourceOverQuota,
	ShedTokenDenied, ShedPolicyDenied, ShedSessionsTenant, ShedSessionsFull}

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

// Refused reports whether r is a refusal.
func (r Refusal) Refused() bool { return r.Kind != 0 }

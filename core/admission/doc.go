// Package admission is the node's edge as pure machines: what decides
// whether a client request may enter the node, before any service sees it.
// The HTTP gateway (io/gateway, and through it the OAP/1 endpoint) and the
// simulator's clients (sim/runner's edge) call the same machines, so the
// admission rond runs is the admission the simulator checks.
//
// Three machines and two decisions:
//
//   - Gate: a token bucket per tenant and one shared by anonymous reads
//     (429 when empty), a global in-flight cap of which ReadHeadroom slots
//     only reads may take, and, when no slot is free, per-tenant FIFO
//     queues served by deficit round robin (DRR) so one tenant's burst
//     cannot starve another's requests. A full queue is shed (503). Writes
//     are shed before reads: a write never takes a headroom slot.
//   - Sources: a failure budget per client source (remote address). A
//     request whose token does not verify is charged here, never to the
//     tenant the token names, so a stolen-then-expired token cannot spend
//     its victim's quota.
//   - Sessions: the upload-session table, bounded per tenant and
//     globally, with an idle TTL; readiness turns false when it is full.
//   - CheckToken verifies a token completely (expiry, not-before, scope,
//     tenant, resource when known, max_bytes against the declared body
//     size) before a body is read or a budget is charged.
//   - Decide applies the policy bundle after the token.
//
// Every machine is driven by the time its caller passes in (env time in
// the simulator, a monotonic clock in rond). None blocks, starts a
// goroutine or takes a lock: the gateway holds one mutex around them and
// keeps the waiting (channels, timers) itself; the simulator schedules
// the same waits as events. Every refusal is a Refusal with a reason from
// ShedReasons, which callers count in omnigate_shed_total{reason}.
//
// Invariants (checked after every mutating call, cheap): the gate's
// counters agree with its queues, every tenant in the DRR ring has
// waiters, running never exceeds InflightMax and writes running never
// exceed InflightMax-ReadHeadroom; the session table's per-tenant counts
// sum to its size and respect both limits; every map is bounded by a
// named limit (TenantsMax, SourcesMax, SessionsMax).
//
// Rejected alternative: a weighted fair queue with virtual finish times
// gives finer fairness for mixed sizes, but needs a priority queue over
// every waiter; DRR over per-tenant FIFOs is O(1) per grant and its
// unfairness is bounded by one maximal cost per round, which the fairness
// check of sim/check states.
package admission

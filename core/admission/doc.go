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
//     only reads may take, and, when no slot is free, per-tenant queues
//     (a FIFO of reads and one of writes) served by deficit round robin
//     (DRR) so one tenant's burst cannot starve another's requests. A
//     full queue is shed (503). Writes are shed before reads: a write
//     never takes a headroom slot. No tenant runs more than
//     WritesPerTenantMax writes at once (below). The gate is work
//     conserving: after every call (Admit, Release, Cancel) no queued
//     request could take a free slot; Release and Cancel return the
//     tickets they grant, and the caller starts them.
//   - Sources: a failure budget per client source (remote address). A
//     request whose token does not verify is charged here, never to the
//     tenant the token names, so a stolen-then-expired token cannot spend
//     its victim's quota.
//   - Sessions: the upload-session table, bounded per tenant and
//     globally, with an idle TTL and a fair share (below); readiness
//     turns false when it is full.
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
// waiters, no queued request could run now (work conservation), each
// tenant's FIFOs are in ticket order, running never exceeds InflightMax
// and writes running never
// exceed InflightMax-ReadHeadroom, nor one tenant's WritesPerTenantMax
// (its per-tenant counts summing to the writes running); the session table's per-tenant counts
// sum to its size and respect both limits; every map is bounded by a
// named limit (TenantsMax, SourcesMax, SessionsMax).
//
// Write slots per tenant. DRR orders only the queue: a tenant whose
// writes found free slots kept them, so one tenant holding slow writes
// (bodies dripped just fast enough for the gateway's body limits, reopened
// as they are cut) held every write slot, and every other tenant's write
// queued until QueueWaitMax and was shed 503 while /readyz said not
// ready. The per-source failure budget does not help (the tokens are
// valid, and sources are free: a few loopback or IPv6 addresses). So a
// tenant runs at most WritesPerTenantMax writes at once, by default a
// quarter of the write slots (48 of 192); its further writes queue in
// its DRR queue until one of its own ends, and every other request
// passes them, so another tenant's write or read runs at once, and so
// does the tenant's own read: a read passes its tenant's queued writes
// that cannot run now (the tenant's reads and writes queue in two FIFOs;
// the older head goes first when it can run). The first version kept one
// FIFO per tenant: the tenant's reads waited behind its held-back writes
// until QueueWaitMax with read slots free, and when such a write was
// cancelled the read behind it could run but nobody granted it, so every
// newcomer queued and /readyz said not ready on an idle node until some
// request ended. A tenant queues at most QueuedWritesPerTenantMax
// writes (a quarter of QueueDepthMax by default, 256 of 1024), whatever
// it runs; its further writes are its own refusal, 429 ShedTenantWrites,
// readiness unaffected. (The first version counted them only when the
// write arrived with its tenant at WritesPerTenantMax: writes queued
// while the tenant's own reads filled the write slots escaped the bound
// and, once one of them ran, sat held back in the shared queue.) Without it the held-back
// writes, which do not saturate the gate, could fill the queue every
// tenant shares, and at the next real saturation every other tenant
// would be shed 503 at once. Writes held back only by their tenant's bound do
// not make the gate Saturated: the node stays ready, since a newcomer
// still gets in. Anonymous requests share one tenant (the gateway's
// empty tenant, the simulator's "public"), but only reads are anonymous,
// and reads are not bounded per tenant (the anonymous bucket bounds
// them). Why a fixed bound and not one that applies only while another
// tenant waits: a tenant that already holds every slot when another
// arrives gives one back only when a write ends, which a slow body makes
// as late as the body limits allow; a fixed bound keeps the free slots
// free for whoever comes. Why a quarter: a single tenant still gets
// enough concurrency to saturate a node's storage (48 writes in flight;
// the storage machine itself runs at most InflightPutsMax), and locking
// others out takes four tenants' tokens rather than one, the same price
// the session table's fair share sets (tokens are issued per tenant by
// the operator). The price: a node serving one tenant runs at most a
// quarter of its write slots for it (Config.WritesPerTenantMax -1 lifts
// the bound; rond has no flag for it yet, as for the other gate limits).
// The test that one tenant queuing in the gate makes another's admission
// wait is TestTenantCannotHoldEveryWriteSlot; the simulator's fairness
// check leaves a tenant at its bound out of the DRR comparison (it waits
// for its own writes, not for a slot).
//
// Fair share of upload sessions. The per-tenant bound alone does not
// keep the table open: SessionsMax/SessionsPerTenantMax tenants (8 of 8
// with the defaults) holding slow uploads fill it, and every other tenant
// is refused until they finish, which a body kept just above the
// gateway's minimum rate (16 KiB/s) can make hours; the idle TTL never
// fires because the uploads progress. So the last SessionsReserved free
// sessions (a quarter of SessionsMax by default: 16 of 64) are kept for
// tenants holding none: a tenant that already holds a session may open
// another only while more than SessionsReserved are free. The refusal is
// the tenant's, 429 ShedSessionsReserved (its own reason, so a dashboard
// tells the share biting from a tenant at SessionsPerTenantMax, 429
// ShedSessionsTenant), and readiness stays true, since
// a new tenant still gets in; only a full table is 503 ShedSessionsFull.
// Why this rule: it needs only the two counts Open already has (what the
// tenant holds, what is free), so it is O(1) and deterministic; it
// guarantees that the first session of a new tenant is refused only when
// the table is truly full; and the rule is one sentence an operator can
// check against omnigate_shed_total. What it still allows: with N tenant
// tokens an attacker holds at most min(N*SessionsPerTenantMax,
// SessionsMax-SessionsReserved) sessions by growing its tenants, plus
// one more per further token from the reserve. Locking every other
// tenant out takes (SessionsMax-SessionsReserved)/SessionsPerTenantMax +
// SessionsReserved tokens, 6+16 = 22 with the defaults (8 sufficed
// before), each holding a body at the gateway's minimum rate; tokens are
// issued per tenant, so that is 22 tenants' worth of credentials. The
// price: once three quarters are held, a tenant already uploading waits
// (429, Retry-After) for a second session while newcomers get theirs.
// Rejected: a share proportional to the free room divided by the tenants
// holding sessions converges to the same kind of headroom but moves with
// every open and close, so a refusal is hard to explain, and N tokens
// holding one session each still fill it. Rejected too: reclaiming the
// most idle session of the largest holder when a tenant holding none
// finds the table full. The gateway now stops an upload as soon as
// Expire drops its slot, but the most idle holder is not idle: a body
// the gateway's rate limit accepts is progressing, so reclaiming means
// killing an honest upload, and an attacker with fresh tokens could
// evict honest slow uploads at will, turning a lockout into a kill
// switch.
//
// Expiry. The gateway touches a slot whenever body bytes arrive (at most
// once a second), so SessionTTL measures a silent body, not a slow one;
// when Expire returns a slot's id the gateway stops that upload at once
// and answers it 503 ShedSessionExpired (SessionExpired).
//
// Rejected alternative: a weighted fair queue with virtual finish times
// gives finer fairness for mixed sizes, but needs a priority queue over
// every waiter; DRR over per-tenant FIFOs is O(1) per grant and its
// unfairness is bounded by one maximal cost per round, which the fairness
// check of sim/check states.
package admission

package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ron-network/ron/core/audit"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/policy"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/io/keyfile"
	"github.com/ron-network/ron/io/runtime"
	"lukechampine.com/blake3"
)

// Who may do what on this node is set by three reloadable inputs: the cap
// keys (which tokens verify), the policy bundle (what a token may do) and
// the membership (which nodes the peer protocol serves). Each is audited
// in the node's hash-chained log: what the node started with, every
// reload that changed it, and every reload refused. The records use the
// kinds the log already has, so that a node downgraded to a build that
// predates these records still reads its log (an unknown kind is a break
// in the chain to a build before the audit kind rule, core/audit/doc.go
// "Kinds", which would discard the records after it as a crash tail):
//
//	kind           subject             detail
//	key_rotate     cap_keys            versions with fingerprints, added, retired, current
//	policy_change  <bundle name>       digest and rule count, before and after
//	policy_change  cluster:members     node ids added and removed, count and digest;
//	                                   a membership that reached only some services
//	key_rotate     refused:cap_keys    the error, and what stays in force
//	policy_change  refused:policy      the error, and what stays in force
//	policy_change  refused:members     the error, and what is in force (and being applied)
//
// Every policy_change subject other than a bundle's name holds a ':',
// which a bundle name ([a-z0-9._-]) cannot: a bundle named "members" is
// not mistaken for the membership. (The flag records' "flag:<name>"
// follow the same rule; cap_keys needs no ':', as no bundle is recorded
// as key_rotate.)
//
// Nothing secret goes in: cap keys are named by version and fingerprint
// (keyfile.CapKey.Fingerprints, a one-way derivation), and errors name
// the file, line and field, never key material (keyfile's contract).
//
// A reload storm does not flood the log: a reload is recorded only when
// it changed something, and a refusal only when it differs from the last
// refusal of the same input (the same bad file refused at every SIGHUP
// is recorded once, until the file changes or a reload succeeds).
const (
	subjectCapKeys        = "cap_keys"
	subjectMembers        = "cluster:members"
	subjectRefusedCapKeys = "refused:cap_keys"
	subjectRefusedPolicy  = "refused:policy"
	subjectRefusedMembers = "refused:members"
	// auditActor is the actor of every record rond makes itself.
	auditActor = "rond"
)

// auditQueueDepthMax bounds the records waiting in an auditQueue, the one
// being appended included. A reload records at most a few, and repeats
// are not recorded, so the bound is reached only when the node stays
// unready (or its log refuses appends) while the operator edits its
// files; the records beyond it are dropped, counted
// (metricAuditRecordsDropped{reason="queue_full"}) and logged whole.
const auditQueueDepthMax = 64

// auditRetryBackoffMax bounds the wait before a failed append is tried
// again: the first retry comes auditReadyPoll after the failure, the wait
// doubling from there.
const auditRetryBackoffMax = 10 * time.Second

// metricAuditRecordsDropped counts rond's own audit records (auditQueue)
// that never reached the log, by reason.
const metricAuditRecordsDropped = "audit_records_dropped_total"

// Reasons of metricAuditRecordsDropped.
const (
	dropQueueFull = "queue_full" // auditQueueDepthMax records were waiting
	dropShutdown  = "shutdown"   // still waiting when rond stopped
	dropRefused   = "refused"    // the append failed with an error a retry cannot cure
)

var _ = env.Declare(env.MetricDef{Name: metricAuditRecordsDropped, Kind: env.Counter, Label: "reason",
	LabelValues: []string{dropQueueFull, dropShutdown, dropRefused},
	Help: "rond's own audit records (start-up, reloads, root token issues) that never reached the audit log, by reason (queue_full: " +
		"64 waiting for the node; shutdown: still waiting when rond stopped; refused: an append error no retry cures). Each is logged with its kind, subject and detail."})

// auditQueue appends rond's own records (the start-up records, reloads,
// root token issues) in the order they were made, once the node serves:
// runtime.Call answers ErrNotReady before, and a reload noticed while the
// node recovers must neither be lost nor land before the start-up records
// that it changes. record never blocks a reload.
//
// A record leaves the queue only once appended: an append that fails for
// a reason that passes (the node restarting after a panic, overloaded, a
// call timing out, the log refusing appends after a full disk or an I/O
// error until the node recovers it: retryableAppend) is tried again at
// the head of the queue, after a wait that starts at auditReadyPoll and
// doubles up to auditRetryBackoffMax, and after the node is ready again.
// The records behind it wait, so the order holds. An append that timed
// out or was cut by a restart may have reached the log all the same: the
// retry may then record it twice (at least once, never lost, was chosen
// over at most once).
type auditQueue struct {
	mu      sync.Mutex
	waiting []audit.Event // the head is the one being appended
	closed  bool          // run returned: record drops and logs
	wake    chan struct{} // capacity 1: a record is waiting
	log     *slog.Logger
	metrics env.Metrics
}

func newAuditQueue(log *slog.Logger, metrics env.Metrics) *auditQueue {
	return &auditQueue{wake: make(chan struct{}, 1), log: log, metrics: metrics}
}

// record queues e; a full queue, or one that stopped, drops it, counted
// and logged with its kind, subject and detail.
func (q *auditQueue) record(e audit.Event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.closed:
		q.dropped(e, dropShutdown, nil)
		return
	case len(q.waiting) >= auditQueueDepthMax:
		q.dropped(e, dropQueueFull, nil)
		return
	}
	q.waiting = append(q.waiting, e)
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// dropped counts and logs e, which never reaches the log.
func (q *auditQueue) dropped(e audit.Event, reason string, err error) {
	q.metrics.Add(metricAuditRecordsDropped, reason, 1)
	args := []any{"kind", e.Kind.String(), "subject", e.Subject, "detail", e.Detail, "reason", reason}
	if err != nil {
		args = append(args, "err", err)
	}
	switch reason {
	case dropShutdown:
		q.log.Warn("rond: audit record dropped: still waiting when rond stopped", args...)
	case dropRefused:
		q.log.Error("rond: audit record dropped: the node refused it", args...)
	default:
		q.log.Error("rond: audit record dropped: too many waiting for the node to take them", args...)
	}
}

// head is the record to append next.
func (q *auditQueue) head() (audit.Event, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.waiting) == 0 {
		return audit.Event{}, false
	}
	return q.waiting[0], true
}

// pop removes the head, appended (or dropped).
func (q *auditQueue) pop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.waiting[0] = audit.Event{}
	q.waiting = q.waiting[1:]
}

// close stops the queue: the records still waiting are dropped, each
// logged, and so is every record made from now on.
func (q *auditQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	for _, e := range q.waiting {
		q.dropped(e, dropShutdown, nil)
	}
	q.waiting = nil
}

// run appends the queued records in order with appendTo (each once ready
// reports true, polled every auditReadyPoll), until ctx ends; then the
// records still waiting are dropped and logged (close).
func (q *auditQueue) run(ctx context.Context, ready func() bool, appendTo func(context.Context, audit.Event) error) {
	defer q.close()
	for {
		e, ok := q.head()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-q.wake:
			}
			continue
		}
		if !q.deliver(ctx, e, ready, appendTo) {
			return // ctx ended: e is still the head, which close logs
		}
		q.pop()
	}
}

// deliver appends e once the node is ready, again after a failure a
// retry may cure (retryableAppend), backing off. It reports false when
// ctx ended first; an error no retry cures drops e (true).
func (q *auditQueue) deliver(ctx context.Context, e audit.Event, ready func() bool, appendTo func(context.Context, audit.Event) error) bool {
	var backoff time.Duration
	for failures := 0; ; failures++ {
		if !waitUntil(ctx, ready) {
			return false
		}
		err := appendTo(ctx, e)
		switch {
		case err == nil:
			return true
		case ctx.Err() != nil:
			return false
		case !retryableAppend(err):
			q.dropped(e, dropRefused, err)
			return true
		}
		backoff = min(max(2*backoff, auditReadyPoll), auditRetryBackoffMax)
		if failures == 0 {
			q.log.Warn("rond: audit record not appended; kept to append again", "kind", e.Kind.String(), "subject", e.Subject,
				"err", err, "retry_in", backoff)
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
	}
}

// waitUntil polls ready every auditReadyPoll until it reports true (true)
// or ctx ends (false).
func waitUntil(ctx context.Context, ready func() bool) bool {
	for !ready() {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(auditReadyPoll):
		}
	}
	return true
}

// retryableAppend reports whether an append that failed with err may
// succeed later: the node was not ready, restarted before replying or
// was overloaded, the call timed out (gateway.AuditCallTimeout), or the
// log did not take the record (audit.ErrUnavailable: its backlog was full,
// or it stopped appending after a full disk or an I/O error, until the
// node recovers it).
func retryableAppend(err error) bool {
	for _, transient := range []error{runtime.ErrNotReady, runtime.ErrRestarted, runtime.ErrOverloaded,
		context.DeadlineExceeded, audit.ErrUnavailable, env.ErrDiskFull, env.ErrDiskIO} {
		if errors.Is(err, transient) {
			return true
		}
	}
	return false
}

// clipDetail cuts s to fit audit.DetailBytesMax on a rune boundary,
// ending it with "…" when cut (the log would cut it silently).
func clipDetail(s string) string {
	const ellipsis = "…"
	if len(s) <= audit.DetailBytesMax {
		return s
	}
	n := audit.DetailBytesMax - len(ellipsis)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + ellipsis
}

// capKeysStart is the record of the cap keys the node started with.
func capKeysStart(path string, file *keyfile.CapKey) audit.Event {
	how := "loaded at start from " + path
	if path == "" {
		how = "made in memory at start (a micronode: a fresh key each start)"
	}
	return audit.Event{Kind: audit.KindKeyRotate, Actor: auditActor, Subject: subjectCapKeys,
		Detail: clipDetail(fmt.Sprintf("%s: key %s current v%d; versions %s", how, keyfile.CapKeyID, file.Current(),
			strings.Join(file.Fingerprints(), ",")))}
}

// capKeysChange is the record of a reload that replaced old by now. It
// compares fingerprints, so a version whose seed changed shows as removed
// and added.
func capKeysChange(path string, old, now *keyfile.CapKey) audit.Event {
	before, after := old.Fingerprints(), now.Fingerprints()
	return audit.Event{Kind: audit.KindKeyRotate, Actor: auditActor, Subject: subjectCapKeys,
		Detail: clipDetail(fmt.Sprintf("reloaded from %s: added %s; removed %s; current v%d -> v%d; versions %s",
			path, listOrNone(missingFrom(after, before)), listOrNone(missingFrom(before, after)),
			old.Current(), now.Current(), strings.Join(after, ",")))}
}

// capKeysRefused is the record of a refused cap key reload: err (which
// names the file, line and field, never key material) and what stays.
func capKeysRefused(path string, err error, inForce *keyfile.CapKey) audit.Event {
	return audit.Event{Kind: audit.KindKeyRotate, Actor: auditActor, Subject: subjectRefusedCapKeys,
		Detail: clipDetail(fmt.Sprintf("reload of %s refused: %v; the keys in force stay: current v%d; versions %s",
			path, err, inForce.Current(), strings.Join(inForce.Fingerprints(), ",")))}
}

// policyStart is the record of the bundle the node started with.
func policyStart(path string, b *policy.Bundle) audit.Event {
	how := "default at start"
	if path != "" {
		how = "loaded at start from " + path
	}
	return audit.Event{Kind: audit.KindPolicyChange, Actor: auditActor, Subject: b.Name,
		Detail: clipDetail(fmt.Sprintf("%s digest=%s rules=%d", how, bundleDigest(b), len(b.Rules)))}
}

// policyChange is the record of a reload that replaced old by now.
func policyChange(path string, old, now *policy.Bundle) audit.Event {
	return audit.Event{Kind: audit.KindPolicyChange, Actor: auditActor, Subject: now.Name,
		Detail: clipDetail(fmt.Sprintf("reloaded from %s digest=%s rules=%d; before: bundle %q digest=%s rules=%d",
			path, bundleDigest(now), len(now.Rules), old.Name, bundleDigest(old), len(old.Rules)))}
}

// policyRefused is the record of a refused policy reload.
func policyRefused(path string, err error, inForce *policy.Bundle) audit.Event {
	return audit.Event{Kind: audit.KindPolicyChange, Actor: auditActor, Subject: subjectRefusedPolicy,
		Detail: clipDetail(fmt.Sprintf("reload of %s refused: %v; the bundle in force stays: %q digest=%s rules=%d",
			path, err, inForce.Name, bundleDigest(inForce), len(inForce.Rules)))}
}

func bundleDigest(b *policy.Bundle) string { return hex.EncodeToString(b.Digest[:]) }

// membersStart is the record of the membership the node started with.
func membersStart(ids []proto.NodeID) audit.Event {
	return audit.Event{Kind: audit.KindPolicyChange, Actor: auditActor, Subject: subjectMembers,
		Detail: clipDetail(fmt.Sprintf("at start: %s; ids %s", membershipSummary(ids), listOrNone(idStrings(ids))))}
}

// membersChange is the record of a reload that took the membership from
// before to after (both sorted, as runtime.NodeSpec.Membership gives
// them) in every service. failures is the applies that failed before this
// one took (0: it took at once), partial the membership the last of them
// left with only some services (nil when none did): a membership
// recorded by membersPartial that this one completes or replaces.
func membersChange(path string, before, after []proto.NodeID, failures int, partial []proto.NodeID) audit.Event {
	detail := fmt.Sprintf("reloaded from %s: %s (before: %s); added %s; removed %s", path,
		membershipSummary(after), membershipSummary(before),
		listOrNone(idStrings(diffIDs(after, before))), listOrNone(idStrings(diffIDs(before, after))))
	switch {
	case partial != nil && !slices.Equal(partial, after):
		detail += fmt.Sprintf("; every service took it after %d failed applies; it replaces %s, which had reached only some services",
			failures, membershipSummary(partial))
	case failures > 0:
		detail += fmt.Sprintf("; every service took it after %d failed applies", failures)
	}
	return audit.Event{Kind: audit.KindPolicyChange, Actor: auditActor, Subject: subjectMembers, Detail: clipDetail(detail)}
}

// membersPartial is the record of a reload whose membership wanted
// reached only some services (err from the first that failed): the
// transport enforces it (it takes the membership first), every service
// still had applied before it, and it is handed again at the polls of
// the config file until membersChange records that it took.
func membersPartial(path string, err error, applied, wanted []proto.NodeID) audit.Event {
	return audit.Event{Kind: audit.KindPolicyChange, Actor: auditActor, Subject: subjectMembers,
		Detail: clipDetail(fmt.Sprintf("reloaded from %s: %s being applied: reached only some services (%v); the transport enforces it; "+
			"every service took %s before; added %s; removed %s; handed again at the polls of the config file",
			path, membershipSummary(wanted), err, membershipSummary(applied),
			listOrNone(idStrings(diffIDs(wanted, applied))), listOrNone(idStrings(diffIDs(applied, wanted)))))}
}

// membersRefused is the record of a refused reload of the config file:
// the membership every service took (applied) stays, and pending, when
// not nil, is the one a previous reload left with only some services,
// still being applied.
func membersRefused(path string, err error, applied, pending []proto.NodeID) audit.Event {
	inForce := "the membership stays: " + membershipSummary(applied)
	if pending != nil {
		inForce = fmt.Sprintf("in force: %s, taken by every service (being applied: %s, which the transport enforces and only some services took; handed again at the polls)",
			membershipSummary(applied), membershipSummary(pending))
	}
	return audit.Event{Kind: audit.KindPolicyChange, Actor: auditActor, Subject: subjectRefusedMembers,
		Detail: clipDetail(fmt.Sprintf("reload of %s refused: %v; %s", path, err, inForce))}
}

// membershipSummary is the count and a digest of ids (BLAKE3 of the ids
// in order): the digest pins a membership too large for the detail to
// list.
func membershipSummary(ids []proto.NodeID) string {
	if len(ids) == 0 {
		return "no membership (any node is served)"
	}
	h := blake3.New(32, nil)
	for _, id := range ids {
		_, _ = h.Write(id[:])
	}
	return fmt.Sprintf("%d members digest=%s", len(ids), hex.EncodeToString(h.Sum(nil)))
}

func idStrings(ids []proto.NodeID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}

// missingFrom is the strings of a that b lacks, in a's order.
func missingFrom(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ",")
}

package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ron-network/ron/core/audit"
	"github.com/ron-network/ron/core/policy"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/io/keyfile"
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
//	policy_change  members             node ids added and removed, count and digest
//	key_rotate     refused:cap_keys    the error, and what stays in force
//	policy_change  refused:policy      the error, and what stays in force
//	policy_change  refused:members     the error, and what stays in force
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
	subjectMembers        = "members"
	subjectRefusedCapKeys = "refused:cap_keys"
	subjectRefusedPolicy  = "refused:policy"
	subjectRefusedMembers = "refused:members"
	// auditActor is the actor of every record rond makes itself.
	auditActor = "rond"
)

// auditQueueDepthMax bounds the records waiting in an auditQueue. A
// reload records at most a few, and repeats are not recorded, so the
// bound is reached only when the node stays unready while the operator
// edits its files; the records beyond it are dropped and logged.
const auditQueueDepthMax = 64

// auditQueue appends rond's own records (the start-up records, reloads,
// root token issues) in the order they were made, once the node serves:
// runtime.Call answers ErrNotReady before, and a reload noticed while the
// node recovers must neither be lost nor land before the start-up records
// that it changes. record never blocks a reload.
type auditQueue struct {
	events chan audit.Event
	log    *slog.Logger
}

func newAuditQueue(log *slog.Logger) *auditQueue {
	return &auditQueue{events: make(chan audit.Event, auditQueueDepthMax), log: log}
}

// record queues e; a full queue drops it, logged with its kind and
// subject.
func (q *auditQueue) record(e audit.Event) {
	select {
	case q.events <- e:
	default:
		q.log.Error("rond: audit record dropped: too many waiting for the node to be ready",
			"kind", e.Kind.String(), "subject", e.Subject)
	}
}

// run appends the queued records with appendTo once ready reports true
// (polled every auditReadyPoll), until ctx ends. An append that fails is
// logged by appendTo (the gateway counts it) and not retried.
func (q *auditQueue) run(ctx context.Context, ready func() bool, appendTo func(context.Context, audit.Event) error) {
	for !ready() {
		select {
		case <-ctx.Done():
			return
		case <-time.After(auditReadyPoll):
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-q.events:
			_ = appendTo(ctx, e)
		}
	}
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
		Detail: fmt.Sprintf("%s digest=%s rules=%d", how, bundleDigest(b), len(b.Rules))}
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
// them).
func membersChange(path string, before, after []proto.NodeID) audit.Event {
	return audit.Event{Kind: audit.KindPolicyChange, Actor: auditActor, Subject: subjectMembers,
		Detail: clipDetail(fmt.Sprintf("reloaded from %s: %s (before: %s); added %s; removed %s", path,
			membershipSummary(after), membershipSummary(before),
			listOrNone(idStrings(diffIDs(after, before))), listOrNone(idStrings(diffIDs(before, after)))))}
}

// membersRefused is the record of a refused reload of the config file.
func membersRefused(path string, err error, inForce []proto.NodeID) audit.Event {
	return audit.Event{Kind: audit.KindPolicyChange, Actor: auditActor, Subject: subjectRefusedMembers,
		Detail: clipDetail(fmt.Sprintf("reload of %s refused: %v; the membership stays: %s", path, err, membershipSummary(inForce)))}
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

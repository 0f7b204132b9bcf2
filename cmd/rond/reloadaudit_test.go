package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ron-network/ron/core/audit"
	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/policy"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/io/keyfile"
	"github.com/ron-network/ron/io/runtime"
)

// recorded collects the events an audit hook was given.
type recorded struct{ events []audit.Event }

func (r *recorded) record(e audit.Event) { r.events = append(r.events, e) }

func (r *recorded) last(t *testing.T) audit.Event {
	t.Helper()
	if len(r.events) == 0 {
		t.Fatal("nothing recorded")
	}
	return r.events[len(r.events)-1]
}

// seedsOf is the hex seeds of the cap key file at path (what must never
// reach the audit log).
func seedsOf(t *testing.T, path string) []string {
	t.Helper()
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var seeds []string
	for _, line := range strings.Split(string(text), "\n") {
		if _, seed, ok := strings.Cut(line, " "); ok && len(seed) == 2*auth.KeyBytes {
			seeds = append(seeds, seed)
		}
	}
	if len(seeds) == 0 {
		t.Fatalf("no seed in %s", path)
	}
	return seeds
}

// TestCapKeysReloadAudited: a rotation is recorded (key_rotate, subject
// cap_keys) with the added version's fingerprint, the current version
// before and after; a retire with the removed fingerprint; an unchanged
// file records nothing; an invalid file is recorded once (refused:
// cap_keys, the error and the keys that stay) however often it is
// reloaded again, and once more when it changes to another bad file; no
// record holds a seed. The old code recorded none of it.
func TestCapKeysReloadAudited(t *testing.T) {
	f := newReloadFixture(t)
	var rec recorded
	f.keys.audit = rec.record
	v1 := f.keys.file.Fingerprints()[0]
	seeds := seedsOf(t, f.path)
	if start := capKeysStart(f.path, f.keys.file); start.Kind != audit.KindKeyRotate || start.Subject != subjectCapKeys ||
		!strings.Contains(start.Detail, "loaded at start from "+f.path) || !strings.Contains(start.Detail, "versions "+v1) {
		t.Fatalf("start record %+v", start)
	}

	f.edit(t, rotate)
	f.keys.poll()
	seeds = append(seeds, seedsOf(t, f.path)...)
	v2 := f.keys.file.Fingerprints()[1]
	if !strings.HasPrefix(v1, "v1:") || !strings.HasPrefix(v2, "v2:") || len(v2) != len("v2:")+2*keyfile.FingerprintBytes {
		t.Fatalf("fingerprints %s %s", v1, v2)
	}
	if len(rec.events) != 1 {
		t.Fatalf("a rotation recorded %d events, want 1: %+v", len(rec.events), rec.events)
	}
	if e := rec.last(t); e.Kind != audit.KindKeyRotate || e.Subject != subjectCapKeys || e.Actor != auditActor ||
		!strings.Contains(e.Detail, "added "+v2+";") || !strings.Contains(e.Detail, "removed none;") ||
		!strings.Contains(e.Detail, "current v1 -> v2") || !strings.Contains(e.Detail, "versions "+v1+","+v2) {
		t.Fatalf("rotation record %+v", e)
	}
	if err := f.keys.reload(); err != nil || len(rec.events) != 1 {
		t.Fatalf("reload of an unchanged file: %v, %d events", err, len(rec.events))
	}
	f.edit(t, func(k *keyfile.CapKey) error { return k.Retire(1) })
	f.keys.poll()
	if e := rec.last(t); len(rec.events) != 2 || !strings.Contains(e.Detail, "added none;") ||
		!strings.Contains(e.Detail, "removed "+v1+";") || !strings.Contains(e.Detail, "current v2 -> v2") {
		t.Fatalf("retire record (%d events) %+v", len(rec.events), e)
	}

	good, err := os.ReadFile(f.path)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.TrimSuffix(string(good), lastLine(t, f.path)+"\n") + "2 zz\n"
	if err := os.WriteFile(f.path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 4 { // a poll, then SIGHUPs of the same file
		if err := f.keys.reload(); err == nil {
			t.Fatal("an invalid cap key file reloaded")
		}
	}
	if e := rec.last(t); len(rec.events) != 3 || e.Kind != audit.KindKeyRotate || e.Subject != subjectRefusedCapKeys ||
		!strings.Contains(e.Detail, "refused") || !strings.Contains(e.Detail, "line") || !strings.Contains(e.Detail, "the keys in force stay: current v2; versions "+v2) {
		t.Fatalf("refusal recorded %d times (want once), last %+v", len(rec.events)-2, e)
	}
	if err := os.WriteFile(f.path, append([]byte(bad), "garbage\n"...), 0o600); err != nil { // another bad file
		t.Fatal(err)
	}
	_ = f.keys.reload()
	_ = f.keys.reload()
	if len(rec.events) != 4 || rec.last(t).Subject != subjectRefusedCapKeys {
		t.Fatalf("another invalid file: %d events, want 4", len(rec.events))
	}
	for _, e := range rec.events {
		for _, s := range seeds {
			if strings.Contains(e.Detail, s) || strings.Contains(e.Detail, s[:16]) {
				t.Fatalf("a record holds key material: %+v", e)
			}
		}
	}
}

// membersFixture is a membership whose reload reads "rond.yaml" and
// finds the members in want (refused with refuse when it is not nil); it
// applies them to the node given, on a fake clock, and records to rec.
type membersFixture struct {
	m      *membership
	clock  *fakeClock
	rec    recorded
	want   []string
	refuse error
}

func newMembersFixture(t *testing.T, node *fakeNode) *membersFixture {
	t.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &membersFixture{clock: &fakeClock{t: time.Unix(1e9, 0)}}
	cfg := defaults()
	cfg.ConfigFile = "rond.yaml"
	cfg.reload = func() (Config, error) {
		c := defaults()
		c.Members = f.want
		return c, f.refuse
	}
	log := slog.New(slog.DiscardHandler)
	f.m = newMembership(cfg, runtime.NodeSpec{Key: key})
	f.m.attach(node, nil, runtime.NewPromMetrics(log), log)
	f.m.now = f.clock.now
	f.m.setAudit(f.rec.record)
	return f
}

// TestMembersReloadAudited: a reload that changes the membership records
// (policy_change, subject cluster:members) the ids added and removed and
// the count and digest before and after; a reload that changes nothing
// records nothing; a refused reload is recorded once (refused:members)
// however often it is refused again, and again after a valid reload. The
// old code recorded none of it.
func TestMembersReloadAudited(t *testing.T) {
	f := newMembersFixture(t, &fakeNode{})
	m, rec := f.m, &f.rec
	x, y := proto.NodeID{0x11, 1}, proto.NodeID{0x22, 2}
	ctx := context.Background()
	start := membersStart(m.current())
	if start.Subject != subjectMembers || !strings.Contains(start.Detail, "at start: no membership") {
		t.Fatalf("start record of an open node: %+v", start)
	}

	f.want = []string{x.String(), y.String()}
	m.reload(ctx)
	m.reload(ctx) // the same members again: nothing changed
	if len(rec.events) != 1 {
		t.Fatalf("%d records for one change, want 1: %+v", len(rec.events), rec.events)
	}
	e := rec.last(t)
	if e.Kind != audit.KindPolicyChange || e.Subject != subjectMembers || !strings.Contains(e.Detail, "reloaded from rond.yaml: 3 members digest=") ||
		!strings.Contains(e.Detail, "(before: no membership") || !strings.Contains(e.Detail, x.String()) ||
		!strings.Contains(e.Detail, y.String()) || !strings.Contains(e.Detail, "removed none") {
		t.Fatalf("change record %+v", e)
	}
	f.want = []string{x.String()}
	m.reload(ctx)
	if e := rec.last(t); len(rec.events) != 2 || !strings.Contains(e.Detail, "2 members digest=") ||
		!strings.Contains(e.Detail, "added none; removed "+y.String()) {
		t.Fatalf("removal record (%d events) %+v", len(rec.events), e)
	}

	f.refuse = errors.New(`setting members: "nope" is not a node id`)
	for range 3 {
		m.reload(ctx)
	}
	if e := rec.last(t); len(rec.events) != 3 || e.Subject != subjectRefusedMembers ||
		!strings.Contains(e.Detail, "reload of rond.yaml refused: setting members") || !strings.Contains(e.Detail, "the membership stays: 2 members") {
		t.Fatalf("refusal recorded %d times (want once), last %+v", len(rec.events)-2, e)
	}
	f.refuse = nil
	m.reload(ctx) // valid and unchanged: nothing recorded, the refusal forgotten
	f.refuse = errors.New(`setting members: "nope" is not a node id`)
	m.reload(ctx)
	if len(rec.events) != 4 || rec.last(t).Subject != subjectRefusedMembers {
		t.Fatalf("a refusal after a valid reload: %d events, want 4", len(rec.events))
	}
}

// TestClipDetail: a detail past audit.DetailBytesMax is cut on a rune
// boundary and ends with an ellipsis; a shorter one is kept.
func TestClipDetail(t *testing.T) {
	if s := clipDetail("short"); s != "short" {
		t.Fatalf("short detail changed: %q", s)
	}
	long := strings.Repeat("é", audit.DetailBytesMax)
	s := clipDetail(long)
	if len(s) > audit.DetailBytesMax || !strings.HasSuffix(s, "…") || !strings.HasPrefix(long, strings.TrimSuffix(s, "…")) {
		t.Fatalf("clipped to %d bytes, suffix %q", len(s), s[len(s)-8:])
	}
	ids := make([]proto.NodeID, 100)
	for i := range ids {
		ids[i][0], ids[i][1] = byte(i), 7
	}
	e := membersStart(ids)
	if len(e.Detail) > audit.DetailBytesMax || !strings.Contains(e.Detail, "100 members digest=") {
		t.Fatalf("start record of 100 members: %d bytes, %q", len(e.Detail), e.Detail[:60])
	}
}

// TestMembersPartialReloadAudited: a reloaded membership that reached
// only some services (storage refused it; the transport already enforces
// it) is recorded once as being applied, however often its retries fail;
// a refused reload meanwhile records what every service took and the one
// being applied, not that the membership "stays"; the retry that takes
// records the change with its failed applies; a reload back to the
// membership in force while another was half applied records that it
// replaces the half-applied one. The old code recorded none of the half
// applied state and said the membership stays.
func TestMembersPartialReloadAudited(t *testing.T) {
	fake := &fakeNode{failStorage: 2}
	f := newMembersFixture(t, fake)
	m, rec, clock := f.m, &f.rec, f.clock
	x, y := proto.NodeID{0x11, 1}, proto.NodeID{0x22, 2}
	ctx := context.Background()

	f.want = []string{x.String(), y.String()}
	m.reload(ctx) // storage refuses: half applied
	if e := rec.last(t); len(rec.events) != 1 || e.Subject != subjectMembers ||
		!strings.Contains(e.Detail, "reloaded from rond.yaml: 3 members digest=") || !strings.Contains(e.Detail, "being applied: reached only some services (fake: storage busy)") ||
		!strings.Contains(e.Detail, "the transport enforces it") || !strings.Contains(e.Detail, "every service took no membership") {
		t.Fatalf("half-applied reload: %d records, last %+v", len(rec.events), e)
	}
	f.refuse = errors.New(`setting members: "nope" is not a node id`)
	m.reload(ctx)
	if e := rec.last(t); len(rec.events) != 2 || e.Subject != subjectRefusedMembers || strings.Contains(e.Detail, "stays") ||
		!strings.Contains(e.Detail, "in force: no membership (any node is served), taken by every service (being applied: 3 members digest=") {
		t.Fatalf("refusal while half applied: %d records, last %+v", len(rec.events), e)
	}
	f.refuse = nil
	clock.advance(membersRetryBackoffMax)
	m.retry(ctx) // fails again: not recorded again
	if len(rec.events) != 2 || fake.tries() != 2 {
		t.Fatalf("a failed retry: %d records (want 2), %d tries (want 2)", len(rec.events), fake.tries())
	}
	clock.advance(membersRetryBackoffMax)
	m.retry(ctx)
	if e := rec.last(t); len(rec.events) != 3 || e.Subject != subjectMembers || !strings.Contains(e.Detail, "(before: no membership") ||
		!strings.Contains(e.Detail, "every service took it after 2 failed applies") || strings.Contains(e.Detail, "replaces") {
		t.Fatalf("the retry that took: %d records, last %+v", len(rec.events), e)
	}
	f.refuse = errors.New(`setting members: "nope2" is not a node id`)
	m.reload(ctx)
	if e := rec.last(t); len(rec.events) != 4 || !strings.Contains(e.Detail, "the membership stays: 3 members") || strings.Contains(e.Detail, "being applied") {
		t.Fatalf("refusal with every service in step: %d records, last %+v", len(rec.events), e)
	}

	f.refuse = nil
	fake.mu.Lock()
	fake.failStorage = 1
	fake.mu.Unlock()
	f.want = []string{x.String()}
	m.reload(ctx) // half applied: 2 members
	f.want = []string{x.String(), y.String()}
	clock.advance(membersRetryBackoffMax)
	m.reload(ctx) // back to the 3 every service took, handed again
	if e := rec.last(t); len(rec.events) != 6 || !strings.Contains(rec.events[4].Detail, "2 members digest=") ||
		!strings.Contains(rec.events[4].Detail, "being applied") || !strings.Contains(e.Detail, "added none; removed none") ||
		!strings.Contains(e.Detail, "it replaces 2 members digest=") || !strings.Contains(e.Detail, "which had reached only some services") {
		t.Fatalf("back to the membership in force: %d records, last %+v", len(rec.events), e)
	}
}

// TestAuditSubjectsAreNotBundleNames: every subject rond records other
// than a bundle's name is one no policy bundle can be named, so a bundle
// named like the membership's old subject ("members") cannot be read as
// the membership. The old subject "members" was a valid bundle name.
func TestAuditSubjectsAreNotBundleNames(t *testing.T) {
	for _, subject := range []string{subjectMembers, subjectRefusedCapKeys, subjectRefusedPolicy, subjectRefusedMembers} {
		bundle := strings.Replace(publicReads, "name: public", `name: "`+subject+`"`, 1)
		if _, err := policy.Parse([]byte(bundle)); err == nil {
			t.Errorf("a policy bundle may be named %q, the subject of other records", subject)
		}
	}
	if _, err := policy.Parse([]byte(strings.Replace(publicReads, "name: public", `name: "members"`, 1))); err != nil {
		t.Fatalf("the control bundle does not parse (the check above proves nothing): %v", err)
	}
}

// TestPolicyStartClipped: the start record of a bundle loaded from a
// path too long for the detail is clipped on a rune boundary, as every
// other record is. The old code left it to the log, which cut it
// mid-rune without an ellipsis.
func TestPolicyStartClipped(t *testing.T) {
	b, err := policy.Parse([]byte(publicReads))
	if err != nil {
		t.Fatal(err)
	}
	e := policyStart("/"+strings.Repeat("é", audit.DetailBytesMax), b)
	if len(e.Detail) > audit.DetailBytesMax || !utf8.ValidString(e.Detail) || !strings.HasSuffix(e.Detail, "…") {
		t.Fatalf("start record of a long path: %d bytes, valid UTF-8 %t, ends %q", len(e.Detail), utf8.ValidString(e.Detail), e.Detail[len(e.Detail)-6:])
	}
}

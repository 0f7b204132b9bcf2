package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ron-network/ron/core/policy"
	"github.com/ron-network/ron/io/gateway"
)

// TestProcessReloadsAudited drives a real rond with a cap key file, a
// policy file and a config file listing members. The audit log holds
// what the node started with (cap key fingerprints, the policy's digest
// and rules, the membership), first and in that order, then a record for each reload that changed
// who may do what: the rotated cap key, the new policy with its digest
// before and after, the member added. Invalid files refused on several
// SIGHUPs are recorded once each (refused:cap_keys, refused:policy,
// refused:members), no record holds key material, and `ronctl audit
// verify` accepts the chain. The old code recorded only the policy (and
// nothing refused, nothing of the keys or members).
func TestProcessReloadsAudited(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	dir := t.TempDir()
	capKey := filepath.Join(dir, "cap.key")
	policyFile := filepath.Join(dir, "policy.yaml")
	configFile := filepath.Join(dir, "rond.yaml")
	writeAtomically(t, policyFile, padPolicy(t, publicReads))
	writeAtomically(t, configFile, []byte("members: []\n"))
	ronctl := buildRonctl(t)
	n := startRond(t, "--quic-addr", "127.0.0.1:0", "--cap-key-file", capKey, "--policy", policyFile, "--config", configFile)
	records := func() []gateway.AuditRecord {
		t.Helper()
		a := call(t, "GET", n.url+"/audit", n.token, nil)
		if a.status != 200 {
			return nil
		}
		var out []gateway.AuditRecord
		sc := bufio.NewScanner(bytes.NewReader(a.body))
		for sc.Scan() {
			var r gateway.AuditRecord
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("audit line %q: %v", sc.Text(), err)
			}
			out = append(out, r)
		}
		return out
	}
	// find returns the records of kind and subject whose detail holds
	// every part.
	find := func(kind, subject string, parts ...string) []gateway.AuditRecord {
		var out []gateway.AuditRecord
		for _, r := range records() {
			ok := r.Kind == kind && r.Subject == subject
			for _, p := range parts {
				ok = ok && strings.Contains(r.Detail, p)
			}
			if ok {
				out = append(out, r)
			}
		}
		return out
	}
	recorded := func(what, kind, subject string, parts ...string) {
		t.Helper()
		waitFor(t, keyReloadWait, what, func() bool { return len(find(kind, subject, parts...)) > 0 })
	}
	hup := func() {
		t.Helper()
		if err := n.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	seeds := map[string]bool{}
	keepSeeds := func() {
		text, err := os.ReadFile(capKey)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(text), "\n") {
			if _, seed, ok := strings.Cut(line, " "); ok && len(seed) == 64 {
				seeds[seed] = true
			}
		}
	}
	keepSeeds()

	// What the node started with.
	recorded("the cap keys at start", "key_rotate", subjectCapKeys, "loaded at start from "+capKey, "current v1; versions v1:")
	recorded("the policy at start", "policy_change", "public", "loaded at start from "+policyFile, "rules=2")
	recorded("the membership at start", "policy_change", subjectMembers, "at start: 1 members digest=", n.id)
	// They come first, in the order rond made them.
	start := records()
	if len(start) < 4 {
		t.Fatalf("%d audit records at start, want at least 4: %+v", len(start), start)
	}
	wantStart := []string{"token_issue " + start[0].Subject, "key_rotate " + subjectCapKeys, "policy_change public", "policy_change " + subjectMembers}
	for i, want := range wantStart {
		if got := start[i].Kind + " " + start[i].Subject; got != want || start[i].Seq != uint64(i+1) || start[i].Actor != auditActor {
			t.Fatalf("audit record %d is %s (seq %d, actor %s), want %s: the start-up records come first", i, got, start[i].Seq, start[i].Actor, want)
		}
	}

	// Changes.
	if _, errOut, code := ctl(t, ronctl, "key", "rotate", "--cap-key-file", capKey); code != 0 {
		t.Fatalf("ronctl key rotate: %d %s", code, errOut)
	}
	keepSeeds()
	writeAtomically(t, policyFile, padPolicy(t, privateReads))
	stranger := strings.Repeat("42", 32)
	writeAtomically(t, configFile, []byte("members: ["+stranger+"]\n"))
	hup()
	recorded("the rotation", "key_rotate", subjectCapKeys, "added v2:", "removed none", "current v1 -> v2")
	recorded("the new policy", "policy_change", "private", "reloaded from "+policyFile, "rules=2; before: bundle \"public\" digest=")
	recorded("the member added", "policy_change", subjectMembers, "reloaded from "+configFile, "2 members", "added "+stranger, "removed none")

	// Refusals, each recorded once however often it is refused again.
	good, err := os.ReadFile(capKey)
	if err != nil {
		t.Fatal(err)
	}
	writeAtomically(t, capKey, []byte("ron-cap-key v1\n1 zz\n"))
	writeAtomically(t, policyFile, []byte(brokenPolicy))
	writeAtomically(t, configFile, []byte("members: [nope]\n"))
	rejected := policy.MetricReloads + `{result="` + policy.ReloadRejected + `"}`
	for range 3 {
		// Each SIGHUP waits for the policy watcher to have refused again.
		before := metricValue(t, n.url, rejected)
		hup()
		waitFor(t, keyReloadWait, "a SIGHUP to refuse the broken policy", func() bool { return metricValue(t, n.url, rejected) > before })
	}
	recorded("the refused cap key file", "key_rotate", subjectRefusedCapKeys, "reload of "+capKey+" refused", "the keys in force stay: current v2")
	recorded("the refused policy", "policy_change", subjectRefusedPolicy, "reload of "+policyFile+" refused", "effect", "the bundle in force stays: \"private\"")
	recorded("the refused members", "policy_change", subjectRefusedMembers, "reload of "+configFile+" refused", "nope", "the membership stays: 2 members")
	// Fix each file with a change (a barrier: each watcher handled every
	// signal before it), then count the refusals.
	writeAtomically(t, capKey, good)
	if _, errOut, code := ctl(t, ronctl, "key", "rotate", "--cap-key-file", capKey); code != 0 {
		t.Fatalf("ronctl key rotate: %d %s", code, errOut)
	}
	keepSeeds()
	writeAtomically(t, policyFile, padPolicy(t, publicReads))
	writeAtomically(t, configFile, []byte("members: []\n"))
	hup()
	recorded("the second rotation", "key_rotate", subjectCapKeys, "added v3:", "current v2 -> v3")
	recorded("the public policy again", "policy_change", "public", "reloaded from "+policyFile, "before: bundle \"private\"")
	recorded("the member removed", "policy_change", subjectMembers, "1 members", "added none; removed "+stranger)
	for _, subject := range []string{subjectRefusedCapKeys, subjectRefusedPolicy, subjectRefusedMembers} {
		kind := "policy_change"
		if subject == subjectRefusedCapKeys {
			kind = "key_rotate"
		}
		if got := find(kind, subject); len(got) != 1 {
			t.Fatalf("%d %s records after 3 SIGHUPs of the same bad file, want 1: %+v", len(got), subject, got)
		}
	}

	// Secrets stay out; the chain verifies.
	all := records()
	for _, r := range all {
		for seed := range seeds {
			if strings.Contains(r.Detail, seed) || strings.Contains(r.Detail, seed[:16]) {
				t.Fatalf("audit record %d holds key material: %+v", r.Seq, r)
			}
		}
	}
	out, errOut, code := ctl(t, ronctl, "audit", "verify", "--node", n.url, "--token", n.token)
	if code != 0 {
		t.Fatalf("ronctl audit verify: %d %s %s", code, out, errOut)
	}
	listed, errOut, code := ctl(t, ronctl, "audit", "list", "--node", n.url, "--token", n.token)
	if code != 0 || !strings.Contains(listed, " key_rotate refused:cap_keys (actor rond): reload of "+capKey+" refused") ||
		!strings.Contains(listed, " policy_change cluster:members (actor rond): reloaded from "+configFile) {
		t.Fatalf("ronctl audit list: %d %s\n%s", code, errOut, listed)
	}
	t.Logf("ronctl audit list:\n%s", listed)
}

package gateway_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ron-network/ron/core/audit"
	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/io/gateway"
	"github.com/ron-network/ron/io/pebbledisk"
	"github.com/ron-network/ron/io/runtime"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// failingAudits fails the first n audit appends and passes every other
// call to the node.
type failingAudits struct {
	*runtime.Runtime
	n *atomic.Int32
}

func (b failingAudits) Call(ctx context.Context, service string, body any) (any, error) {
	if _, ok := body.(audit.Append); ok && b.n.Add(-1) >= 0 {
		return nil, errors.New("audit log unreachable")
	}
	return b.Runtime.Call(ctx, service, body)
}

// A claim whose record the audit log did not take is not remembered as
// audited: the next claim of the same (name, owner) is recorded, not
// counted as unchanged.
func TestClaimAuditRetriedAfterAFailedAppend(t *testing.T) {
	rt := startNode(t, pebbledisk.Options{Dir: "db", FS: vfs.NewMem()},
		runtime.NodeSpec{Key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))}, 11)
	keys, key := rootKeyring(t)
	fails := new(atomic.Int32)
	fails.Store(1)
	g := gateway.New(gateway.Config{Backend: failingAudits{rt, fails}, Verifier: auth.NewVerifier(keys, nil), Metrics: rt.Prom(),
		Gatherer: rt.Prom().Registry(), Logger: slog.New(slog.DiscardHandler), Version: "test"})
	f := &fixture{t: t, srv: httptest.NewServer(g), rt: rt, key: key}
	f.root = f.mint(auth.OpsAll)
	t.Cleanup(f.srv.Close)
	f.waitReady()

	owner := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32)).Public().(ed25519.PublicKey)
	claim, _ := json.Marshal(gateway.ClaimBody{Owner: hex.EncodeToString(owner)})
	for i := range 3 {
		if r := f.do("POST", "/names/retry.example", claim, f.bearer()); r.StatusCode != 201 {
			t.Fatalf("claim %d: %d %s", i, r.StatusCode, r.body)
		}
	}
	if got := -fails.Load(); got != 1 {
		t.Fatalf("%d appends tried after the failed one, want 1 (the second claim recorded, the third counted)", got)
	}
	var n int
	for _, r := range readAudit(t, f) {
		if r.Kind == audit.KindNameWrite && r.Subject == "retry.example" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d name_write records for the claim, want 1 (the first append failed, the second claim is recorded, the third counted)", n)
	}
}

// A tenant claiming a name with the key that already holds it (an
// owner's public key is public) changes nothing; its record says so
// instead of reading as if that tenant took the name. The first claim
// went through another gateway of the node (or this one before a
// restart), so this gateway's claimAudits has not seen the pair.
func TestClaimOfAHeldNameIsAuditedAsNoChange(t *testing.T) {
	rt := startNode(t, pebbledisk.Options{Dir: "db", FS: vfs.NewMem()},
		runtime.NodeSpec{Key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))}, 11)
	keys, key := rootKeyring(t)
	gateways := make([]*fixture, 2)
	for i := range gateways {
		g := gateway.New(gateway.Config{Backend: rt, Verifier: auth.NewVerifier(keys, nil), Metrics: rt.Prom(),
			Gatherer: rt.Prom().Registry(), Logger: slog.New(slog.DiscardHandler), Version: "test", RegistryReplica: true})
		gateways[i] = &fixture{t: t, srv: httptest.NewServer(g), rt: rt, key: key}
		gateways[i].root = gateways[i].mint(auth.OpsAll)
		t.Cleanup(gateways[i].srv.Close)
		gateways[i].waitReady()
	}
	first, second := gateways[0], gateways[1]
	bob := map[string]string{"Authorization": "Bearer " + first.mintFor("bob", 1, auth.OpsAll)}
	carol := map[string]string{"Authorization": "Bearer " + second.mintFor("carol", 2, auth.OpsAll)}
	bobKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{6}, 32)).Public().(ed25519.PublicKey)
	claim, _ := json.Marshal(gateway.ClaimBody{Owner: hex.EncodeToString(bobKey)})
	if r := first.do("POST", "/names/bobs.example", claim, bob); r.StatusCode != 201 {
		t.Fatalf("bob's claim: %d %s", r.StatusCode, r.body)
	}
	if r := second.do("POST", "/names/bobs.example", claim, carol); r.StatusCode != 201 {
		t.Fatalf("carol's claim with bob's key: %d %s", r.StatusCode, r.body)
	}
	carolKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32)).Public().(ed25519.PublicKey)
	own, _ := json.Marshal(gateway.ClaimBody{Owner: hex.EncodeToString(carolKey)})
	if r := second.do("POST", "/names/carols.example", own, carol); r.StatusCode != 201 {
		t.Fatalf("carol's own claim: %d %s", r.StatusCode, r.body)
	}
	details := map[string]string{}
	for _, r := range readAudit(t, second) {
		if r.Kind == audit.KindNameWrite {
			details[r.Tenant+" "+r.Subject] = r.Detail
		}
	}
	if d := details["bob bobs.example"]; d == "" || strings.Contains(d, gateway.ClaimUnchangedDetail) {
		t.Fatalf("bob's claim recorded as %q, want a plain claim", d)
	}
	if d := details["carol bobs.example"]; !strings.HasSuffix(d, gateway.ClaimUnchangedDetail) {
		t.Fatalf("carol's claim of bob's name recorded as %q, want it to end %q (all: %v)", d, gateway.ClaimUnchangedDetail, details)
	}
	if d := details["carol carols.example"]; d == "" || strings.Contains(d, gateway.ClaimUnchangedDetail) {
		t.Fatalf("carol's new claim recorded as %q, want a plain claim", d)
	}
}

// Every committed PUT /o is audited with its tenant, token, address, size
// and whether the node already stored the bytes; the PUT's answer does
// not say which. Before, object writes left no record, and objects have
// no owner, so an operator could not find what a tenant stored.
func TestObjectWritesAudited(t *testing.T) {
	f := newFixture(t, gateway.AdmissionConfig{}, 0)
	data := []byte("a tenant's object, stored twice")
	first := f.do("PUT", "/o", data, f.bearer())
	second := f.do("PUT", "/o", data, f.bearer())
	if first.StatusCode != 201 || second.StatusCode != 201 || !bytes.Equal(first.body, second.body) {
		t.Fatalf("PUTs: %d %s, %d %s: want the same 201 answer", first.StatusCode, first.body, second.StatusCode, second.body)
	}
	var got []string
	for _, r := range readAudit(t, f) {
		if r.Kind == audit.KindObjectWrite {
			if r.Tenant != "alice" || !strings.HasPrefix(r.Actor, "token:") {
				t.Fatalf("object write record %+v: want tenant alice and a token actor", r)
			}
			got = append(got, r.Subject+" "+r.Detail)
		}
	}
	addr := proto.AddrOf(data).String()
	want := []string{addr + " size=31 " + gateway.ObjectWriteNew, addr + " size=31 " + gateway.ObjectWriteStored}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("object write records %q, want %q", got, want)
	}
}

// lostClaimReplies passes every call to the node, but answers the first
// n claims, which the registry commits, with a timeout: a reply lost
// after the commit (CallTimeout). It counts the StaleResolve reads.
type lostClaimReplies struct {
	*runtime.Runtime
	n     *atomic.Int32
	reads *atomic.Int32
}

func (b lostClaimReplies) Call(ctx context.Context, service string, body any) (any, error) {
	switch body.(type) {
	case registry.StaleResolve:
		b.reads.Add(1)
	case registry.Claim:
		if b.n.Add(-1) >= 0 {
			if _, err := b.Runtime.Call(ctx, service, body); err != nil {
				return nil, err
			}
			return nil, context.DeadlineExceeded
		}
	}
	return b.Runtime.Call(ctx, service, body)
}

func newLostClaimFixture(t *testing.T, lost int32, replica bool) (*fixture, lostClaimReplies) {
	t.Helper()
	rt := startNode(t, pebbledisk.Options{Dir: "db", FS: vfs.NewMem()},
		runtime.NodeSpec{Key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))}, 11)
	keys, key := rootKeyring(t)
	b := lostClaimReplies{Runtime: rt, n: new(atomic.Int32), reads: new(atomic.Int32)}
	b.n.Store(lost)
	g := gateway.New(gateway.Config{Backend: b, Verifier: auth.NewVerifier(keys, nil), Metrics: rt.Prom(),
		Gatherer: rt.Prom().Registry(), Logger: slog.New(slog.DiscardHandler), Version: "test", RegistryReplica: replica})
	f := &fixture{t: t, srv: httptest.NewServer(g), rt: rt, key: key}
	f.root = f.mint(auth.OpsAll)
	t.Cleanup(f.srv.Close)
	f.waitReady()
	return f, b
}

// A claim the registry committed but whose answer the gateway lost (504,
// no record) is retried by its client; the retry finds the name already
// its owner's, by that first attempt. Its record must show the take, not
// "already held by this owner, no change": before, the log never showed
// the tenant taking the name.
func TestClaimRetriedAfterAnUnknownOutcomeIsAuditedAsTheTake(t *testing.T) {
	f, b := newLostClaimFixture(t, 1, true)
	owner := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, 32)).Public().(ed25519.PublicKey)
	claim, _ := json.Marshal(gateway.ClaimBody{Owner: hex.EncodeToString(owner)})
	if r := f.do("POST", "/names/lost.example", claim, f.bearer()); r.StatusCode != 504 {
		t.Fatalf("claim whose reply was lost: %d %s, want 504", r.StatusCode, r.body)
	}
	rec, err := runtime.Call(context.Background(), f.rt, registry.Resolve{Name: "lost.example"})
	if err != nil || !rec.Record.Found || !bytes.Equal(rec.Record.Owner, owner) {
		t.Fatalf("after the lost reply the name resolves to %+v, %v: want it committed to the owner", rec.Record, err)
	}
	if r := f.do("POST", "/names/lost.example", claim, f.bearer()); r.StatusCode != 201 {
		t.Fatalf("retried claim: %d %s", r.StatusCode, r.body)
	}
	var details []string
	for _, r := range readAudit(t, f) {
		if r.Kind == audit.KindNameWrite && r.Subject == "lost.example" {
			details = append(details, r.Detail)
		}
	}
	if len(details) != 1 || strings.Contains(details[0], "no change") || !strings.Contains(details[0], "outcome was unknown") {
		t.Fatalf("records of the claim %q: want one saying an earlier attempt's outcome was unknown, not a no-op", details)
	}
	if b.reads.Load() != 2 {
		t.Fatalf("%d local reads before 2 claims on a replica, want 2", b.reads.Load())
	}
	// The pair is settled once recorded: a third claim is counted, and a
	// claim of another held name still reads as the no-op it is.
	if r := f.do("POST", "/names/lost.example", claim, f.bearer()); r.StatusCode != 201 {
		t.Fatalf("third claim: %d %s", r.StatusCode, r.body)
	}
	if _, err := runtime.Call(context.Background(), f.rt, registry.Claim{Name: "held.example", Owner: owner}); err != nil {
		t.Fatal(err)
	}
	held, _ := json.Marshal(gateway.ClaimBody{Owner: hex.EncodeToString(owner)})
	if r := f.do("POST", "/names/held.example", held, f.bearer()); r.StatusCode != 201 {
		t.Fatalf("claim of a held name: %d %s", r.StatusCode, r.body)
	}
	details = details[:0]
	for _, r := range readAudit(t, f) {
		if r.Kind == audit.KindNameWrite {
			details = append(details, r.Subject+" "+r.Detail)
		}
	}
	if len(details) != 2 || !strings.HasSuffix(details[1], gateway.ClaimUnchangedDetail) {
		t.Fatalf("records %q: want the retried take and the no-op claim of held.example", details)
	}
}

// A node that is not a registry replica does not read the name before a
// claim: the read would be forwarded to a replica, a round trip more per
// claim and up to a CallTimeout more before a claim fails when the
// registry is unreachable. Its claim is recorded plainly.
func TestClaimOnANonReplicaReadsNothingFirst(t *testing.T) {
	f, b := newLostClaimFixture(t, 0, false)
	owner := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32)).Public().(ed25519.PublicKey)
	claim, _ := json.Marshal(gateway.ClaimBody{Owner: hex.EncodeToString(owner)})
	if r := f.do("POST", "/names/plain.example", claim, f.bearer()); r.StatusCode != 201 {
		t.Fatalf("claim: %d %s", r.StatusCode, r.body)
	}
	if n := b.reads.Load(); n != 0 {
		t.Fatalf("%d reads of the name before the claim on a non-replica, want 0", n)
	}
	var details []string
	for _, r := range readAudit(t, f) {
		if r.Kind == audit.KindNameWrite {
			details = append(details, r.Detail)
		}
	}
	if want := "claim owner=" + hex.EncodeToString(owner); len(details) != 1 || details[0] != want {
		t.Fatalf("records %q, want [%q]", details, want)
	}
}

// Re-PUTting a stored object writes its already_stored record once per
// (tenant, address); later repeats are counted, not recorded. Before,
// every repeat appended a record (200 a second at the tenant rate), and
// retention dropped token, revocation and name records early. Another
// tenant writing the same bytes is recorded once too; new objects are
// recorded each.
func TestObjectRewritesAuditedOncePerTenant(t *testing.T) {
	f := newFixture(t, gateway.AdmissionConfig{}, 0)
	data := []byte("x")
	bob := map[string]string{"Authorization": "Bearer " + f.mintFor("bob", 1, auth.OpsAll)}
	for i := range 20 {
		if r := f.do("PUT", "/o", data, f.bearer()); r.StatusCode != 201 {
			t.Fatalf("PUT %d: %d %s", i, r.StatusCode, r.body)
		}
	}
	for i := range 3 {
		if r := f.do("PUT", "/o", data, bob); r.StatusCode != 201 {
			t.Fatalf("bob's PUT %d: %d %s", i, r.StatusCode, r.body)
		}
	}
	if r := f.do("PUT", "/o", []byte("y"), bob); r.StatusCode != 201 {
		t.Fatalf("bob's new object: %d %s", r.StatusCode, r.body)
	}
	var got []string
	for _, r := range readAudit(t, f) {
		if r.Kind == audit.KindObjectWrite {
			got = append(got, r.Tenant+" "+r.Subject+" "+r.Detail)
		}
	}
	x, y := proto.AddrOf(data).String(), proto.AddrOf([]byte("y")).String()
	want := []string{"alice " + x + " size=1 " + gateway.ObjectWriteNew, "alice " + x + " size=1 " + gateway.ObjectWriteStored,
		"bob " + x + " size=1 " + gateway.ObjectWriteStored, "bob " + y + " size=1 " + gateway.ObjectWriteNew}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("object write records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// With ObjectWriteAuditOff (rond's audit_object_writes: false) a PUT /o
// is answered as before and writes no object_write record: the log keeps
// only kinds that a build before audit kind tolerance reads, so a rollback
// to one does not break it (core/audit doc.go, "Kinds"). Other records
// (a name claim here) are still written.
func TestObjectWritesNotAuditedWhenOff(t *testing.T) {
	f := newServerFixtureWith(t, func(c *gateway.Config) { c.ObjectWriteAuditOff = true })
	data := []byte("an object a rollback-safe node stores")
	if r := f.do("PUT", "/o", data, f.bearer()); r.StatusCode != 201 {
		t.Fatalf("PUT: %d %s, want 201", r.StatusCode, r.body)
	}
	owner := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{6}, 32)).Public().(ed25519.PublicKey)
	claim, _ := json.Marshal(gateway.ClaimBody{Owner: hex.EncodeToString(owner)})
	if r := f.do("POST", "/names/rollback.example", claim, f.bearer()); r.StatusCode != 201 {
		t.Fatalf("claim: %d %s, want 201", r.StatusCode, r.body)
	}
	kinds := map[audit.Kind]int{}
	for _, r := range readAudit(t, f) {
		kinds[r.Kind]++
	}
	if kinds[audit.KindObjectWrite] != 0 || kinds[audit.KindNameWrite] != 1 {
		t.Fatalf("audit kinds %v: want no object_write and one name_write", kinds)
	}
}

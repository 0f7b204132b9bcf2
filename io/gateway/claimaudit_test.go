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
			Gatherer: rt.Prom().Registry(), Logger: slog.New(slog.DiscardHandler), Version: "test"})
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

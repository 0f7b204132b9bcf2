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
	"sync/atomic"
	"testing"

	"github.com/ron-network/ron/core/audit"
	"github.com/ron-network/ron/core/auth"
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

package gateway_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"log/slog"
	"math"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ron-network/ron/core/audit"
	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/io/gateway"
	"github.com/ron-network/ron/io/pebbledisk"
	"github.com/ron-network/ron/io/runtime"
)

// revokeFixture is one real single-replica node whose registry accepts
// revocations signed by admin, behind a gateway that verifies through a
// RevocationCache and signs with gwAdmin.
type revokeFixture struct {
	*fixture
	admin ed25519.PrivateKey
	keys  *auth.Keyring
}

func newRevokeFixture(t *testing.T) *revokeFixture {
	t.Helper()
	admin := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{4}, 32))
	rt := startNode(t, pebbledisk.Options{Dir: "db", FS: vfs.NewMem()}, runtime.NodeSpec{
		Key:       ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32)),
		AdminKeys: []ed25519.PublicKey{admin.Public().(ed25519.PublicKey)}, RevocationPullInterval: time.Second}, 12)
	keys, key := rootKeyring(t)
	f := &revokeFixture{fixture: &fixture{t: t, rt: rt, key: key}, admin: admin, keys: keys}
	f.serve(rt, admin)
	f.root = f.mintNonce(auth.OpsAll, 1)
	f.waitReady()
	return f
}

// serve switches f.srv to a fresh gateway (with its own, empty cache)
// over backend, signing revocations with admin.
func (f *revokeFixture) serve(backend gateway.Backend, admin ed25519.PrivateKey) *gateway.RevocationCache {
	revs := gateway.NewRevocationCache(backend, f.rt.Prom(), nil)
	g := gateway.New(gateway.Config{Backend: backend, Verifier: auth.NewVerifier(f.keys, revs), Metrics: f.rt.Prom(),
		Logger: slog.New(slog.DiscardHandler), AdminKey: admin, Revocations: revs})
	srv := httptest.NewServer(g)
	f.t.Cleanup(srv.Close)
	f.srv = srv
	return revs
}

func (f *revokeFixture) mintNonce(scope auth.OpSet, nonce byte, caveats ...auth.Caveat) string {
	f.t.Helper()
	tok, err := auth.Mint(f.key, "alice", scope, [auth.NonceBytes]byte{nonce}, caveats...)
	if err != nil {
		f.t.Fatal(err)
	}
	return tok.Encode()
}

func (f *revokeFixture) revoke(body gateway.RevokeBody, token string) resp {
	data, _ := json.Marshal(body)
	return f.do("POST", "/tokens/revoke", data, withBearer(token))
}

// TestRevokeDeniesTheTokenAndAudits: a committed revoke answers 200 with
// the token's id and no expiry; the token (and a narrowed copy) is then
// refused with 401 revoked, also by a gateway with a cold cache (so the
// registry holds it, not just the revoking gateway's cache), while other
// tokens keep working; the revoke is audited.
func TestRevokeDeniesTheTokenAndAudits(t *testing.T) {
	f := newRevokeFixture(t)
	expiry := env.Time(time.Now().Add(time.Hour).Truncate(time.Second).UnixNano())
	victim := f.mintNonce(auth.Ops(auth.OpWrite), 2, auth.Expiry(expiry))
	if r := f.do("PUT", "/o", []byte("before"), withBearer(victim)); r.StatusCode != 201 {
		t.Fatalf("victim PUT before the revoke: %d %s", r.StatusCode, r.body)
	}
	r := f.revoke(gateway.RevokeBody{Token: victim}, f.root)
	if r.StatusCode != 200 {
		t.Fatalf("revoke: %d %s", r.StatusCode, r.body)
	}
	tok, _ := auth.Decode(victim)
	var ans gateway.RevokeAnswer
	if err := json.Unmarshal(r.body, &ans); err != nil || ans.ID != tok.ID().String() || ans.UntilNs != math.MaxInt64 || ans.Until != "" {
		t.Fatalf("revoke answer %+v (%v), want id %s until never", ans, err, tok.ID())
	}
	narrowed, _ := tok.Attenuate(auth.MaxBytes(100))
	for _, text := range []string{victim, narrowed.Encode()} {
		wantReason(t, f.do("PUT", "/o", []byte("after"), withBearer(text)), 401, gateway.CodeUnauthorized, string(auth.ReasonRevoked), "")
	}
	f.serve(f.rt, f.admin) // a cold cache asks the registry
	wantReason(t, f.do("PUT", "/o", []byte("after"), withBearer(victim)), 401, gateway.CodeUnauthorized, string(auth.ReasonRevoked), "")
	f.put([]byte("the root token still writes"))

	recs := readAudit(t, f.fixture)
	last := recs[len(recs)-1]
	for i := len(recs) - 1; i >= 0 && last.Kind == audit.KindObjectWrite; i-- {
		last = recs[i] // the last record that is not the root token's PUT
	}
	if last.Kind != audit.KindTokenRevoke || last.Subject != tok.ID().String() || !strings.HasPrefix(last.Actor, "token:") {
		t.Fatalf("last audit record %+v, want token_revoke of %s", last, tok.ID())
	}
}

// TestRevokeOfAShortLivedCopyKeepsTheParentRevoked: attenuated copies
// share the minted token's id, so revoking a copy that expires in 5 s
// revokes its 1 h parent too; the entry used to carry the copy's expiry,
// and the registry prunes an entry RevocationRetainAfterExpiry after it,
// so the parent came back 95 s later. The entry must not expire.
func TestRevokeOfAShortLivedCopyKeepsTheParentRevoked(t *testing.T) {
	f := newRevokeFixture(t)
	parent := f.mintNonce(auth.Ops(auth.OpWrite), 5, auth.Expiry(env.Time(time.Now().Add(time.Hour).UnixNano())))
	tok, _ := auth.Decode(parent)
	child, err := tok.Attenuate(auth.Expiry(env.Time(time.Now().Add(5 * time.Second).UnixNano())))
	if err != nil {
		t.Fatal(err)
	}
	r := f.revoke(gateway.RevokeBody{Token: child.Encode()}, f.root)
	var ans gateway.RevokeAnswer
	if err := json.Unmarshal(r.body, &ans); r.StatusCode != 200 || err != nil || ans.ID != tok.ID().String() {
		t.Fatalf("revoke of the child: %d %s (%v)", r.StatusCode, r.body, err)
	}
	if ans.UntilNs != math.MaxInt64 || ans.Until != "" {
		t.Fatalf("revoke of a 5 s child kept the entry until %d (%s): the 1 h parent would be accepted again once it is pruned", ans.UntilNs, ans.Until)
	}
	f.serve(f.rt, f.admin) // a cold cache asks the registry
	wantReason(t, f.do("PUT", "/o", []byte("after"), withBearer(parent)), 401, gateway.CodeUnauthorized, string(auth.ReasonRevoked), "")
}

// TestRevokeByIDAndRequestErrors: an id alone is revoked for good; the
// route needs an admin token, exactly one of token and id, and a node
// with an admin key.
func TestRevokeByIDAndRequestErrors(t *testing.T) {
	f := newRevokeFixture(t)
	victim := f.mintNonce(auth.OpsAll, 3)
	tok, _ := auth.Decode(victim)
	r := f.revoke(gateway.RevokeBody{ID: tok.ID().String()}, f.root)
	var ans gateway.RevokeAnswer
	if err := json.Unmarshal(r.body, &ans); r.StatusCode != 200 || err != nil || ans.Until != "" || ans.UntilNs != int64(^uint64(0)>>1) {
		t.Fatalf("revoke by id: %d %s", r.StatusCode, r.body)
	}
	wantReason(t, f.do("PUT", "/o", []byte("x"), withBearer(victim)), 401, gateway.CodeUnauthorized, string(auth.ReasonRevoked), "")

	writer := f.mintNonce(auth.Ops(auth.OpWrite), 4)
	wantReason(t, f.revoke(gateway.RevokeBody{Token: writer}, writer), 403, gateway.CodeForbidden, string(auth.ReasonOpNotAllowed), "")
	wantReason(t, f.revoke(gateway.RevokeBody{Token: writer}, ""), 401, gateway.CodeUnauthorized, gateway.ReasonMissingToken, "")
	wantError(t, f.revoke(gateway.RevokeBody{}, f.root), 400, gateway.CodeBadRequest)
	wantError(t, f.revoke(gateway.RevokeBody{Token: writer, ID: tok.ID().String()}, f.root), 400, gateway.CodeBadRequest)
	wantError(t, f.revoke(gateway.RevokeBody{ID: "abc"}, f.root), 400, gateway.CodeBadRequest)
	wantError(t, f.revoke(gateway.RevokeBody{Token: "not-a-token"}, f.root), 400, gateway.CodeBadRequest)
	if r := f.do("PUT", "/o", []byte("x"), withBearer(writer)); r.StatusCode != 201 {
		t.Fatalf("refused revokes must not revoke: %d %s", r.StatusCode, r.body)
	}

	f.serve(f.rt, nil)
	wantError(t, f.revoke(gateway.RevokeBody{Token: writer}, f.root), 501, gateway.CodeUnavailable)
	stranger := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, 32))
	f.serve(f.rt, stranger)
	wantError(t, f.revoke(gateway.RevokeBody{Token: writer}, f.root), 403, gateway.CodeForbidden)
	if r := f.do("PUT", "/o", []byte("x"), withBearer(writer)); r.StatusCode != 201 {
		t.Fatalf("a revoke signed by a key the registry does not list took effect: %d", r.StatusCode)
	}
}

// unknownOutcome passes every call to the node except a registry Revoke,
// which it answers with ErrUnknownOutcome.
type unknownOutcome struct{ *runtime.Runtime }

func (u unknownOutcome) Call(ctx context.Context, service string, body any) (any, error) {
	if _, ok := body.(registry.Revoke); ok {
		return registry.Result{Err: registry.ErrUnknownOutcome}, nil
	}
	return u.Runtime.Call(ctx, service, body)
}

// TestRevokeUnknownOutcomeIs503: the client learns it may retry, and the
// gateway does not claim the revocation (its cache is not told).
func TestRevokeUnknownOutcomeIs503(t *testing.T) {
	f := newRevokeFixture(t)
	revs := f.serve(unknownOutcome{f.rt}, f.admin)
	victim := f.mintNonce(auth.OpsAll, 5)
	env := wantError(t, f.revoke(gateway.RevokeBody{Token: victim}, f.root), 503, gateway.CodeUnknownOutcome)
	if !env.Retryable {
		t.Fatalf("an unknown revoke outcome must be retryable: %+v", env)
	}
	tok, _ := auth.Decode(victim)
	if revs.Revoked(tok.ID()) {
		t.Fatal("the cache learnt a revocation whose outcome is unknown")
	}
}

func withBearer(token string) map[string]string {
	if token == "" {
		return nil
	}
	return map[string]string{"Authorization": "Bearer " + token}
}

package gateway_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/core/storage"
	"github.com/ron-network/ron/io/gateway"
	"github.com/ron-network/ron/io/pebbledisk"
	"github.com/ron-network/ron/io/runtime"
)

// outcomeLost passes every call to the node except those fail matches
// while armed, which it answers with err without passing them on.
type outcomeLost struct {
	*runtime.Runtime
	armed atomic.Bool
	fail  atomic.Pointer[func(body any) bool]
	err   atomic.Pointer[error]
}

func (b *outcomeLost) Call(ctx context.Context, service string, body any) (any, error) {
	if f := b.fail.Load(); b.armed.Load() && f != nil && (*f)(body) {
		return nil, *b.err.Load()
	}
	return b.Runtime.Call(ctx, service, body)
}

// A write whose backend call ends with an unknown outcome (the registry's
// or storage's) is 504 UNKNOWN_OUTCOME on every write route, never the
// 503 UNAVAILABLE retryable that a timed-out read now is: the write may
// have been applied. An object PUT's 504 at its commit is retryable (the
// address is the hash of the bytes); the other writes' are not. A revoke is the one
// write mapped on purpose to 503 retryable (commitRevoke: a revoke is
// idempotent), and this pins that too.
func TestWriteRoutesKeepUnknownOutcome(t *testing.T) {
	rt := startNode(t, pebbledisk.Options{Dir: "db", FS: vfs.NewMem()},
		runtime.NodeSpec{Key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))}, 11)
	keys, key := rootKeyring(t)
	b := &outcomeLost{Runtime: rt}
	admin := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	g := gateway.New(gateway.Config{Backend: b, Verifier: auth.NewVerifier(keys, nil), Metrics: rt.Prom(),
		Gatherer: rt.Prom().Registry(), Logger: slog.New(slog.DiscardHandler), Version: "test", AdminKey: admin})
	f := &fixture{t: t, srv: httptest.NewServer(g), rt: rt, key: key}
	f.root = f.mint(auth.OpsAll)
	t.Cleanup(f.srv.Close)
	f.waitReady()

	small, large := []byte("unknown outcome object"), bytes.Repeat([]byte("0123456789abcdef"), 3<<20/16)
	addr := f.put(small)
	owner := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32))
	ownerHex := hex.EncodeToString(owner.Public().(ed25519.PublicKey))
	claim := []byte(fmt.Sprintf(`{"owner":%q}`, ownerHex))
	if r := f.do("POST", "/names/held.example", claim, f.bearer()); r.StatusCode != 201 {
		t.Fatalf("claim: %d %s", r.StatusCode, r.body)
	}
	target, _ := proto.ParseAddr(addr)
	sig := ed25519.Sign(owner, registry.SetSigningBytes("held.example", target, 1))
	set := []byte(fmt.Sprintf(`{"target":%q,"seq":1,"owner":%q,"sig":%q}`, addr, ownerHex, hex.EncodeToString(sig)))
	revoke, _ := json.Marshal(gateway.RevokeBody{Token: f.mint(auth.Ops(auth.OpRead))})

	is := func(want any) func(any) bool {
		return func(body any) bool { return fmt.Sprintf("%T", body) == fmt.Sprintf("%T", want) }
	}
	for _, c := range []struct {
		name         string
		method, path string
		body         []byte
		fail         func(any) bool
		status       int
		retryable    bool
	}{
		// Before the commit the 504 is not marked retryable (mapError's
		// plain write mapping; only the commit goes through retryablePut).
		{"object PUT begin", "PUT", "/o", small, is(storage.PutBegin{}), 504, false},
		{"object PUT chunk", "PUT", "/o", large, is(storage.PutChunk{}), 504, false},
		{"object PUT commit", "PUT", "/o", large, is(storage.PutCommit{}), 504, true},
		{"object DELETE", "DELETE", "/o/" + addr, nil, is(storage.Delete{}), 504, false},
		{"name claim", "POST", "/names/new.example", claim, is(registry.Claim{}), 504, false},
		{"name set", "PUT", "/names/held.example", set, is(registry.Set{}), 504, false},
		{"token revoke (idempotent)", "POST", "/tokens/revoke", revoke, is(registry.Revoke{}), 503, true},
	} {
		for _, err := range []error{
			fmt.Errorf("registry: op: %w", registry.ErrUnknownOutcome),
			fmt.Errorf("storage: put: %w: 1 of 3 replicas stored it", storage.ErrUnknownOutcome),
		} {
			b.fail.Store(&c.fail)
			b.err.Store(&err)
			b.armed.Store(true)
			r := f.do(c.method, c.path, c.body, f.bearer())
			b.armed.Store(false)
			var env gateway.Envelope
			_ = json.Unmarshal(r.body, &env)
			if r.StatusCode != c.status || env.Retryable != c.retryable {
				t.Errorf("%s, backend %v: %d %s retryable %v; want %d retryable %v (%s)",
					c.name, err, r.StatusCode, env.Code, env.Retryable, c.status, c.retryable, r.body)
			}
			if c.status == 504 && env.Code != gateway.CodeUnknownOutcome {
				t.Errorf("%s, backend %v: code %s, want %s", c.name, err, env.Code, gateway.CodeUnknownOutcome)
			}
		}
	}
}

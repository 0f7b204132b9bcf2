package gateway_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/io/gateway"
	"github.com/ron-network/ron/io/pebbledisk"
	"github.com/ron-network/ron/io/runtime"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// BenchmarkPutSmall is a tenant's 1 KiB PUT /o of a new object through
// the whole handler (token, admission, upload session, storage commit,
// audit) on a one-node pebble-in-memory node, without a connection: the
// cost an object write's audit record adds shows here.
func BenchmarkPutSmall(b *testing.B) {
	rt := startNode(b, pebbledisk.Options{Dir: "db", FS: vfs.NewMem()},
		runtime.NodeSpec{Key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))}, 11)
	keys, key := rootKeyring(b)
	g := gateway.New(gateway.Config{Backend: rt, Verifier: auth.NewVerifier(keys, nil), Metrics: rt.Prom(),
		Logger: slog.New(slog.DiscardHandler), Version: "test",
		Admission: gateway.AdmissionConfig{TenantRate: 1e12, TenantBurst: 1e12}})
	tok, err := auth.Mint(key, "alice", auth.OpsAll, [auth.NonceBytes]byte{1})
	if err != nil {
		b.Fatal(err)
	}
	bearer := "Bearer " + tok.Encode()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		w := httptest.NewRecorder()
		g.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		if w.Code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("node not ready")
		}
	}
	body := make([]byte, 1<<10)
	n := uint64(0)
	b.ReportAllocs()
	for b.Loop() {
		n++
		binary.LittleEndian.PutUint64(body, n) // a new object each time
		r := httptest.NewRequest(http.MethodPut, "/o", bytes.NewReader(body))
		r.Header.Set("Authorization", bearer)
		w := httptest.NewRecorder()
		g.ServeHTTP(w, r)
		if w.Code != http.StatusCreated {
			b.Fatal(w.Code, w.Body.String())
		}
	}
}

package gateway_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/io/gateway"
)

// doChunked sends body without a Content-Length (Transfer-Encoding:
// chunked): an io.MultiReader hides the length from net/http.
func (f *fixture) doChunked(method, path string, body []byte, token string) resp {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, io.MultiReader(bytes.NewReader(body)))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	if req.ContentLength != 0 { // 0 with a body: net/http sends it chunked
		f.t.Fatalf("request declared a length: %d", req.ContentLength)
	}
	return resp{r, b}
}

// TestChunkedNameBodiesUseTheirLength: a chunked claim or set was
// authorized with uint64(ContentLength = -1), so any token with a
// max_bytes caveat refused it 403 too_large; it is now authorized with
// the length read, and a caveat smaller than the body still refuses it.
func TestChunkedNameBodiesUseTheirLength(t *testing.T) {
	f := newFixture(t, gateway.AdmissionConfig{}, 0)
	addr := f.put([]byte("chunked names"))
	owner := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32))
	ownerHex := hex.EncodeToString(owner.Public().(ed25519.PublicKey))
	claim := []byte(fmt.Sprintf(`{"owner":%q}`, ownerHex))
	target, _ := proto.ParseAddr(addr)
	sig := ed25519.Sign(owner, registry.SetSigningBytes("chunk.example", target, 1))
	set := []byte(fmt.Sprintf(`{"target":%q,"seq":1,"owner":%q,"sig":%q}`, addr, ownerHex, hex.EncodeToString(sig)))

	small := f.mint(auth.Ops(auth.OpName), auth.MaxBytes(uint64(len(claim)-1)))
	if r := f.doChunked("POST", "/names/chunk.example", claim, small); r.StatusCode != 403 || !strings.Contains(string(r.body), string(auth.ReasonTooLarge)) {
		t.Fatalf("chunked claim over the token's max_bytes: %d %s, want 403 too_large", r.StatusCode, r.body)
	}
	fits := f.mint(auth.Ops(auth.OpName), auth.MaxBytes(1024))
	if r := f.doChunked("POST", "/names/chunk.example", claim, fits); r.StatusCode != 201 {
		t.Fatalf("chunked claim within the token's max_bytes: %d %s, want 201", r.StatusCode, r.body)
	}
	if r := f.doChunked("PUT", "/names/chunk.example", set, fits); r.StatusCode != 200 {
		t.Fatalf("chunked set within the token's max_bytes: %d %s, want 200", r.StatusCode, r.body)
	}
}

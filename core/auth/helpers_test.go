package auth

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"pgregory.net/rapid"
)

// t0 is the reference instant of the tests: 2026-01-01T00:00:00Z.
var t0 = env.Time(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())

// testKeys is a KeySource backed by a map, independent of Keyring.
type testKeys map[string]MACKey

func (k testKeys) MACKey(id string, version uint32) (MACKey, bool) {
	key, ok := k[id]
	return key, ok && key.Version == version
}

func fixedSecret(fill byte) Secret {
	b := make([]byte, KeyBytes)
	for i := range b {
		b[i] = fill + byte(i)
	}
	s, err := NewSecret(b)
	if err != nil {
		panic(err)
	}
	return s
}

func testKey() MACKey { return MACKey{ID: "cap", Version: 1, Secret: fixedSecret(0x40)} }

func testVerifier(revoked RevocationSet) *Verifier {
	return NewVerifier(testKeys{"cap": testKey()}, revoked, "n1", "c1")
}

func mustMint(t testing.TB, scope OpSet, caveats ...Caveat) *Token {
	t.Helper()
	tok, err := Mint(testKey(), "acme", scope, [NonceBytes]byte{1, 2, 3}, caveats...)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	return tok
}

// Generators with small domains, so that random requests often land on the
// boundaries of random caveats.
var (
	genTenant   = rapid.SampledFrom([]string{"acme", "globex"})
	genAudience = rapid.SampledFrom([]string{"n1", "c1", "n2"})
	genPrefix   = rapid.SampledFrom([]string{"", "b3:", "b3:a", "b3:ab", "app", "app.x"})
	genResource = rapid.SampledFrom([]string{"", "b3:", "b3:ab12", "b3:a0", "b3:ff", "app.x.y", "apple", "app"})
	genOffset   = rapid.Int64Range(-int64(3*time.Minute), int64(3*time.Minute))
)

func genCaveat() *rapid.Generator[Caveat] {
	return rapid.Custom(func(t *rapid.T) Caveat {
		switch CaveatKind(rapid.IntRange(1, int(caveatKindLast)).Draw(t, "kind")) {
		case CaveatExpiry:
			return Expiry(t0 + env.Time(genOffset.Draw(t, "expiry")))
		case CaveatNotBefore:
			return NotBefore(t0 + env.Time(genOffset.Draw(t, "nb")))
		case CaveatOps:
			return Caveat{Kind: CaveatOps, Ops: OpSet(rapid.Uint8Range(0, uint8(OpsAll)).Draw(t, "ops"))}
		case CaveatPrefix:
			return Prefix(genPrefix.Draw(t, "prefix"))
		case CaveatTenant:
			return Tenant(genTenant.Draw(t, "tenant"))
		case CaveatMaxBytes:
			return MaxBytes(rapid.Uint64Range(0, 2000).Draw(t, "max"))
		default:
			return Audience(genAudience.Draw(t, "aud"))
		}
	})
}

func genRequest() *rapid.Generator[Request] {
	return rapid.Custom(func(t *rapid.T) Request {
		return Request{
			Op:       Op(rapid.IntRange(0, int(opLast)+1).Draw(t, "op")),
			Resource: genResource.Draw(t, "resource"),
			Tenant:   genTenant.Draw(t, "reqTenant"),
			Bytes:    rapid.Uint64Range(0, 2500).Draw(t, "bytes"),
			Now:      t0 + env.Time(genOffset.Draw(t, "now")),
		}
	})
}

func genToken(t *rapid.T, maxCaveats int) *Token {
	scope := OpSet(rapid.Uint8Range(1, uint8(OpsAll)).Draw(t, "scope"))
	var nonce [NonceBytes]byte
	copy(nonce[:], rapid.SliceOfN(rapid.Byte(), NonceBytes, NonceBytes).Draw(t, "nonce"))
	caveats := rapid.SliceOfN(genCaveat(), 0, maxCaveats).Draw(t, "caveats")
	tok, err := Mint(testKey(), genTenant.Draw(t, "tenant"), scope, nonce, caveats...)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	return tok
}

func encodeRaw(raw []byte) string { return base64.RawURLEncoding.EncodeToString(raw) }

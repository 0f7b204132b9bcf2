package auth

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/env/envtest"
)

func TestKeyringRotationKeepsOldVersionsVerifying(t *testing.T) {
	m := envtest.NewMetrics()
	kr := NewKeyring(m)
	r := env.NewRand(7)
	if err := kr.Create("cap", KindMAC, SecretFromRand(r)); err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(kr, nil)
	req := Request{Op: OpRead, Tenant: "acme", Now: t0}
	mint := func() *Token {
		key, err := kr.CurrentMACKey("cap")
		if err != nil {
			t.Fatal(err)
		}
		tok, err := Mint(key, "acme", OpsAll, [NonceBytes]byte{byte(key.Version)})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	old := mint()
	version, err := kr.Rotate("cap", SecretFromRand(r))
	if err != nil || version != 2 {
		t.Fatalf("Rotate = %d, %v", version, err)
	}
	fresh := mint()
	if fresh.KeyVersion != 2 || old.KeyVersion != 1 {
		t.Fatalf("new tokens must use the newest version: old v%d, fresh v%d", old.KeyVersion, fresh.KeyVersion)
	}
	for _, tok := range []*Token{old, fresh} {
		if got := v.Verify(tok.Encode(), req); !got.Allowed() {
			t.Fatalf("v%d token after rotation: %q", tok.KeyVersion, got.Reason)
		}
	}
	if got := m.Values[envtest.Key(MetricKMSRotations, "cap")]; got != 1 {
		t.Fatalf("rotation events = %v, want 1", got)
	}
	if err := kr.Retire("cap", 2); !errors.Is(err, ErrInvalid) {
		t.Fatalf("retiring the current version: %v", err)
	}
	if err := kr.Retire("cap", 1); err != nil {
		t.Fatal(err)
	}
	if got := v.Verify(old.Encode(), req); got.Reason != ReasonUnknownKey {
		t.Fatalf("retired version: %q, want unknown_key", got.Reason)
	}
}

func TestKeyringVersionsBounded(t *testing.T) {
	kr := NewKeyring(nil)
	r := env.NewRand(1)
	if err := kr.Create("node", KindEd25519, SecretFromRand(r)); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < KeyVersionsMax; i++ {
		if _, err := kr.Rotate("node", SecretFromRand(r)); err != nil {
			t.Fatalf("rotation %d: %v", i, err)
		}
	}
	if _, err := kr.Rotate("node", SecretFromRand(r)); !errors.Is(err, ErrKeyringFull) {
		t.Fatalf("rotation past KeyVersionsMax: %v", err)
	}
	for i := 0; i < KeysMax-1; i++ {
		if err := kr.Create(fmt.Sprintf("k%02d", i), KindMAC, SecretFromRand(r)); err != nil {
			t.Fatal(err)
		}
	}
	if err := kr.Create("one-too-many", KindMAC, SecretFromRand(r)); !errors.Is(err, ErrKeyringFull) {
		t.Fatalf("key past KeysMax: %v", err)
	}
}

// TestKeyringRestoreKeepsVersionNumbers: a keyring restored from stored
// versions {2, 3} verifies what a rotated keyring minted with those
// versions, mints with 3, does not know the retired 1, and counts no
// rotation; malformed version lists are refused.
func TestKeyringRestoreKeepsVersionNumbers(t *testing.T) {
	rotated := NewKeyring(nil)
	seeds := []Secret{fixedSecret(1), fixedSecret(2), fixedSecret(3)}
	_ = rotated.Create("cap", KindMAC, seeds[0])
	_, _ = rotated.Rotate("cap", seeds[1])
	old, _ := rotated.CurrentMACKey("cap")
	_, _ = rotated.Rotate("cap", seeds[2])
	m := envtest.NewMetrics()
	restored := NewKeyring(m)
	if err := restored.Restore("cap", KindMAC, []StoredVersion{{2, seeds[1]}, {3, seeds[2]}}); err != nil {
		t.Fatal(err)
	}
	current, err := restored.CurrentMACKey("cap")
	if err != nil || current.Version != 3 {
		t.Fatalf("current after restore: v%d %v", current.Version, err)
	}
	req := Request{Op: OpRead, Tenant: "acme", Now: t0}
	for _, key := range []MACKey{old, current} {
		tok, err := Mint(key, "acme", OpsAll, [NonceBytes]byte{byte(key.Version)})
		if err != nil {
			t.Fatal(err)
		}
		for name, kr := range map[string]*Keyring{"rotated": rotated, "restored": restored} {
			if v := NewVerifier(kr, nil).Verify(tok.Encode(), req); !v.Allowed() {
				t.Fatalf("v%d token on the %s keyring: %q", key.Version, name, v.Reason)
			}
		}
	}
	if _, ok := restored.MACKey("cap", 1); ok {
		t.Fatal("a version that was not restored is live")
	}
	if len(m.Values) != 0 {
		t.Fatalf("restoring counted metrics: %v", m.Values)
	}
	bad := map[string][]StoredVersion{
		"none":          nil,
		"zero version":  {{0, seeds[0]}},
		"not ascending": {{2, seeds[0]}, {2, seeds[1]}},
		"descending":    {{3, seeds[0]}, {1, seeds[1]}},
		"zero seed":     {{1, Secret{}}},
		"too many":      make([]StoredVersion, KeyVersionsMax+1),
	}
	for name, versions := range bad {
		if err := NewKeyring(nil).Restore("cap", KindMAC, versions); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if err := restored.Restore("cap", KindMAC, []StoredVersion{{1, seeds[0]}}); !errors.Is(err, ErrKeyExists) {
		t.Fatalf("restoring a key twice: %v", err)
	}
}

func TestKeyringSigning(t *testing.T) {
	kr := NewKeyring(nil)
	r := env.NewRand(3)
	if err := kr.Create("names", KindEd25519, SecretFromRand(r)); err != nil {
		t.Fatal(err)
	}
	v1, sig1, err := kr.Sign("names", []byte("msg"))
	if err != nil || v1 != 1 {
		t.Fatalf("Sign = %d, %v", v1, err)
	}
	if _, err := kr.Rotate("names", SecretFromRand(r)); err != nil {
		t.Fatal(err)
	}
	v2, sig2, _ := kr.Sign("names", []byte("msg"))
	if v2 != 2 || bytes.Equal(sig1, sig2) {
		t.Fatalf("signature after rotation: version %d, same signature %v", v2, bytes.Equal(sig1, sig2))
	}
	if !kr.VerifySignature("names", 1, []byte("msg"), sig1) || !kr.VerifySignature("names", 2, []byte("msg"), sig2) {
		t.Fatalf("old or new signature does not verify")
	}
	if kr.VerifySignature("names", 2, []byte("msg"), sig1) || kr.VerifySignature("names", 1, []byte("other"), sig1) {
		t.Fatalf("a signature verified under the wrong version or message")
	}
	if _, _, err := kr.Sign("nope", nil); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("unknown key: %v", err)
	}
	_ = kr.Create("cap", KindMAC, SecretFromRand(r))
	if _, _, err := kr.Sign("cap", nil); !errors.Is(err, ErrWrongKind) {
		t.Fatalf("signing with a MAC key: %v", err)
	}
	if _, ok := kr.MACKey("names", 1); ok {
		t.Fatalf("an Ed25519 key served as a MAC key")
	}
}

// One seed used for two purposes must give unrelated keys.
func TestKeyDerivationSeparatesPurposes(t *testing.T) {
	kr := NewKeyring(nil)
	seed := fixedSecret(1)
	_ = kr.Create("cap", KindMAC, seed)
	_ = kr.Create("cap2", KindMAC, seed)
	a, _ := kr.MACKey("cap", 1)
	b, _ := kr.MACKey("cap2", 1)
	if a.Secret.Equal(b.Secret) || a.Secret.Equal(seed) {
		t.Fatalf("derived keys are not separated by purpose")
	}
}

func TestKeyringMarshalRoundTrip(t *testing.T) {
	kr := NewKeyring(nil)
	r := env.NewRand(11)
	_ = kr.Create("cap", KindMAC, SecretFromRand(r))
	_, _ = kr.Rotate("cap", SecretFromRand(r))
	_ = kr.Create("node", KindEd25519, SecretFromRand(r))
	data := kr.Marshal()
	back, err := UnmarshalKeyring(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Marshal(), data) {
		t.Fatalf("round trip changed the encoding")
	}
	tok, _ := Mint(mustCurrent(t, kr), "acme", OpsAll, [NonceBytes]byte{})
	if got := NewVerifier(back, nil).Verify(tok.Encode(), Request{Op: OpRead, Tenant: "acme"}); !got.Allowed() {
		t.Fatalf("token from the original keyring under the restored one: %q", got.Reason)
	}
	_, sig, _ := kr.Sign("node", []byte("x"))
	if !back.VerifySignature("node", 1, []byte("x"), sig) {
		t.Fatalf("signature under the restored keyring")
	}
	for cut := 0; cut < len(data); cut++ {
		_, err := UnmarshalKeyring(data[:cut], nil)
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("truncated at %d: %v", cut, err)
		}
		if strings.Contains(fmt.Sprint(err), hex.EncodeToString(data[len(data)-32:])) {
			t.Fatalf("error quotes key material")
		}
	}
}

func mustCurrent(t *testing.T, kr *Keyring) MACKey {
	key, err := kr.CurrentMACKey("cap")
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// Key material must not appear through any fmt verb, encoder or slog
// handler, directly or nested in other values.
func TestSecretRedaction(t *testing.T) {
	seed := fixedSecret(0xa0)
	kr := NewKeyring(nil)
	_ = kr.Create("cap", KindMAC, seed)
	key, _ := kr.MACKey("cap", 1)
	leaks := []string{hex.EncodeToString(seed.Reveal()), hex.EncodeToString(key.Secret.Reveal())}

	type exported struct{ S Secret }
	type unexported struct{ s Secret }
	type holdsKey struct{ k MACKey }
	values := []any{seed, &seed, key, &key, kr, exported{seed}, unexported{seed}, holdsKey{key}, []Secret{seed},
		map[string]Secret{"k": seed}, fmt.Errorf("wrapped: %v", seed)}
	var out bytes.Buffer
	for _, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
			fmt.Fprintf(&out, verb+"\n", v)
		}
		if js, err := json.Marshal(v); err == nil {
			out.Write(js)
		}
	}
	for _, h := range []slog.Handler{slog.NewTextHandler(&out, nil), slog.NewJSONHandler(&out, nil)} {
		slog.New(h).Info("keys", "seed", seed, "key", key, "ring", kr, "nested", exported{seed}, slog.Any("any", seed))
	}
	text := strings.ToLower(out.String())
	for _, leak := range leaks {
		if strings.Contains(text, leak) || strings.Contains(text, leak[:16]) {
			t.Fatalf("key material leaked:\n%s", out.String())
		}
	}
	// The byte values printed in decimal would also be a leak.
	if strings.Contains(text, "160 161 162") || strings.Contains(text, "160, 161") {
		t.Fatalf("key bytes leaked in decimal:\n%s", out.String())
	}
	if !strings.Contains(out.String(), Redacted) {
		t.Fatalf("no redaction marker in output")
	}
}

func TestSecretFromRandIsSeeded(t *testing.T) {
	a, b := SecretFromRand(env.NewRand(5)), SecretFromRand(env.NewRand(5))
	if !a.Equal(b) || a.Equal(SecretFromRand(env.NewRand(6))) {
		t.Fatalf("SecretFromRand is not a function of the seed")
	}
	if _, err := NewSecret(make([]byte, 31)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("short secret: %v", err)
	}
}

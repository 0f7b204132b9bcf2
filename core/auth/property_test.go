package auth

import (
	"bytes"
	"lukechampine.com/blake3"
	"testing"

	"pgregory.net/rapid"
)

// Any request an attenuated token allows, the original allows too.
func TestPropertyAttenuationNeverWidens(t *testing.T) {
	v := testVerifier(nil)
	rapid.Check(t, func(t *rapid.T) {
		parent := genToken(t, 6)
		child, err := parent.Attenuate(rapid.SliceOfN(genCaveat(), 1, 6).Draw(t, "more")...)
		if err != nil {
			t.Fatalf("Attenuate: %v", err)
		}
		childText, parentText := child.Encode(), parent.Encode()
		for i := 0; i < 8; i++ {
			req := genRequest().Draw(t, "req")
			if v.Verify(childText, req).Allowed() && !v.Verify(parentText, req).Allowed() {
				t.Fatalf("child allows %+v, parent denies it", req)
			}
		}
	})
}

// Any single changed character of the text, and any single flipped bit of
// the binary encoding, is refused as malformed or bad_mac, or as
// unknown_key when the change landed in the key id or version.
func TestPropertyTamperingIsDetected(t *testing.T) {
	v := testVerifier(nil)
	req := Request{Op: OpRead, Resource: "b3:ab12", Tenant: "acme", Now: t0}
	rapid.Check(t, func(t *rapid.T) {
		tok := genToken(t, 4)
		text := tok.Encode()

		i := rapid.IntRange(0, len(text)-1).Draw(t, "pos")
		c := rapid.SampledFrom([]byte(base64Alphabet)).Filter(func(c byte) bool { return c != text[i] }).Draw(t, "char")
		checkTampered(t, v, tok, text[:i]+string(c)+text[i+1:], req)

		raw := tok.Marshal()
		bit := rapid.IntRange(0, 8*len(raw)-1).Draw(t, "bit")
		raw[bit/8] ^= 1 << (bit % 8)
		checkTampered(t, v, tok, encodeRaw(raw), req)
	})
}

const base64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func checkTampered(t *rapid.T, v *Verifier, orig *Token, text string, req Request) {
	got := v.Verify(text, req)
	switch got.Reason {
	case ReasonMalformed, ReasonBadMAC:
	case ReasonUnknownKey:
		if got.Token.KeyID == orig.KeyID && got.Token.KeyVersion == orig.KeyVersion {
			t.Fatalf("unknown_key for an unchanged key id and version")
		}
	default:
		t.Fatalf("tampered token %q: reason %q", text, got.Reason)
	}
}

// Removing or reordering caveats in the encoding breaks the MAC.
func TestPropertyCaveatsNotRemovable(t *testing.T) {
	v := testVerifier(nil)
	req := Request{Op: OpRead, Resource: "b3:ab12", Tenant: "acme", Now: t0}
	rapid.Check(t, func(t *rapid.T) {
		tok := genToken(t, 6)
		if len(tok.Caveats) == 0 {
			tok, _ = tok.Attenuate(genCaveat().Draw(t, "one"))
		}
		i := rapid.IntRange(0, len(tok.Caveats)-1).Draw(t, "drop")
		dropped := *tok
		dropped.Caveats = append(append([]Caveat(nil), tok.Caveats[:i]...), tok.Caveats[i+1:]...)
		if got := v.Verify(dropped.Encode(), req); got.Reason != ReasonBadMAC {
			t.Fatalf("dropping caveat %d: %q, want bad_mac", i, got.Reason)
		}
		j := rapid.IntRange(0, len(tok.Caveats)-1).Draw(t, "swap")
		if tok.Caveats[i] != tok.Caveats[j] {
			swapped := *tok
			swapped.Caveats = append([]Caveat(nil), tok.Caveats...)
			swapped.Caveats[i], swapped.Caveats[j] = swapped.Caveats[j], swapped.Caveats[i]
			if got := v.Verify(swapped.Encode(), req); got.Reason != ReasonBadMAC {
				t.Fatalf("swapping caveats %d and %d: %q, want bad_mac", i, j, got.Reason)
			}
		}
	})
}

// The same token, request, keys and revocations give the same verdict, and
// decoding and re-encoding is the identity.
func TestPropertyDeterministicAndCanonical(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tok := genToken(t, 8)
		text := tok.Encode()
		back, err := Decode(text)
		if err != nil || back.Encode() != text {
			t.Fatalf("round trip: %v", err)
		}
		req := genRequest().Draw(t, "req")
		a := testVerifier(nil).Verify(text, req)
		b := testVerifier(NewMemRevocations()).Verify(text, req)
		if a.Reason != b.Reason || a.Reason != testVerifier(nil).Verify(text, req).Reason {
			t.Fatalf("verdicts differ: %q, %q", a.Reason, b.Reason)
		}
	})
}

// keyedHash's single-chunk fast path computes what blake3.New(32, key)
// computes, on both sides of the chunk boundary.
func TestKeyedHashMatchesBlake3(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		key := rapid.SliceOfN(rapid.Byte(), KeyBytes, KeyBytes).Draw(t, "key")
		msg := rapid.SliceOfN(rapid.Byte(), 0, 2200).Draw(t, "msg")
		h := blake3.New(32, key)
		h.Write(msg)
		got := keyedHash(key, msg)
		if !bytes.Equal(got[:], h.Sum(nil)) {
			t.Fatalf("keyedHash differs from blake3 for a %d-byte message", len(msg))
		}
	})
}

package auth

import (
	"encoding/base64"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
)

func TestLimitsAreConsistent(t *testing.T) {
	// The binary limit is the largest size whose unpadded base64url text
	// still fits the text limit.
	if got := base64.RawURLEncoding.EncodedLen(TokenBytesMax); got > TokenTextBytesMax {
		t.Fatalf("TokenBytesMax encodes to %d text bytes > %d", got, TokenTextBytesMax)
	}
	if got := base64.RawURLEncoding.EncodedLen(TokenBytesMax + 1); got <= TokenTextBytesMax {
		t.Fatalf("TokenBytesMax is not the largest fitting size")
	}
	// The longest text caveat is a prefix; its body must fit CaveatBytesMax.
	if PrefixBytesMax < max(TenantBytesMax, AudienceBytesMax) {
		t.Fatalf("PrefixBytesMax is not the longest caveat text")
	}
	if got := len(appendCaveat(nil, Prefix(strings.Repeat("p", PrefixBytesMax)))); got > CaveatBytesMax {
		t.Fatalf("longest prefix caveat is %d bytes > CaveatBytesMax %d", got, CaveatBytesMax)
	}
	if OpsAll != 0x1f {
		t.Fatalf("OpsAll = %#x, want the five ops 0x1f", OpsAll)
	}
}

func TestRoundTrip(t *testing.T) {
	tok := mustMint(t, Ops(OpRead, OpWrite), Expiry(t0.Add(time.Hour)), Prefix("b3:ab"), MaxBytes(10))
	text := tok.Encode()
	got, err := Decode(text)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if got.Encode() != text {
		t.Fatalf("re-encoding differs")
	}
	if got.ID() != tok.ID() || got.MAC != tok.MAC || len(got.Caveats) != 3 || got.Caveats[1] != Prefix("b3:ab") {
		t.Fatalf("decoded token differs: %+v", got)
	}
}

func TestVerifyReasons(t *testing.T) {
	base := Request{Op: OpWrite, Resource: "b3:ab12", Tenant: "acme", Bytes: 100, Now: t0}
	skew := ClockSkewMax
	cases := []struct {
		name    string
		caveats []Caveat
		mutate  func(*Request)
		want    Reason
	}{
		{"allowed", nil, nil, ""},
		{"expired beyond skew", []Caveat{Expiry(t0)}, func(r *Request) { r.Now = t0.Add(skew) }, ReasonExpired},
		{"expiry within skew", []Caveat{Expiry(t0)}, func(r *Request) { r.Now = t0.Add(skew - 1) }, ""},
		{"not yet valid beyond skew", []Caveat{NotBefore(t0.Add(skew + 1))}, nil, ReasonNotYetValid},
		{"not before within skew", []Caveat{NotBefore(t0.Add(skew))}, nil, ""},
		{"op outside scope", nil, func(r *Request) { r.Op = OpAdmin }, ReasonOpNotAllowed},
		{"op outside caveat", []Caveat{AllowOps(OpRead)}, nil, ReasonOpNotAllowed},
		{"invalid op", nil, func(r *Request) { r.Op = 0 }, ReasonOpNotAllowed},
		{"prefix", []Caveat{Prefix("b3:cd")}, nil, ReasonPrefixNotAllowed},
		{"prefix ok", []Caveat{Prefix("b3:ab")}, nil, ""},
		{"no resource", []Caveat{Prefix("b3:")}, func(r *Request) { r.Resource = "" }, ReasonPrefixNotAllowed},
		{"tenant base", nil, func(r *Request) { r.Tenant = "globex" }, ReasonTenantMismatch},
		{"tenant caveat", []Caveat{Tenant("globex")}, nil, ReasonTenantMismatch},
		{"too large", []Caveat{MaxBytes(99)}, nil, ReasonTooLarge},
		{"size at limit", []Caveat{MaxBytes(100)}, nil, ""},
		{"audience", []Caveat{Audience("n2")}, nil, ReasonBadAudience},
		{"audience node and cluster", []Caveat{Audience("n1"), Audience("c1")}, nil, ""},
		// Several caveats of one kind intersect.
		{"two op caveats", []Caveat{AllowOps(OpRead, OpWrite), AllowOps(OpWrite, OpDelete)}, nil, ""},
		{"disjoint op caveats", []Caveat{AllowOps(OpRead, OpWrite), AllowOps(OpDelete)}, nil, ReasonOpNotAllowed},
		{"two prefixes", []Caveat{Prefix("b3:a"), Prefix("b3:ab1")}, nil, ""},
		{"conflicting prefixes", []Caveat{Prefix("b3:a"), Prefix("b3:b")}, nil, ReasonPrefixNotAllowed},
		{"earliest expiry wins", []Caveat{Expiry(t0.Add(time.Hour)), Expiry(t0.Add(-time.Hour))}, nil, ReasonExpired},
		{"smallest size wins", []Caveat{MaxBytes(1000), MaxBytes(50)}, nil, ReasonTooLarge},
		// Fixed order: time comes before everything else.
		{"expired and wrong op", []Caveat{AllowOps(OpRead), Expiry(t0.Add(-time.Hour))}, nil, ReasonExpired},
	}
	v := testVerifier(nil)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok := mustMint(t, Ops(OpRead, OpWrite, OpDelete), c.caveats...)
			req := base
			if c.mutate != nil {
				c.mutate(&req)
			}
			got := v.Verify(tok.Encode(), req)
			if got.Reason != c.want {
				t.Fatalf("reason %q, want %q", got.Reason, c.want)
			}
			if c.want != "" && !errors.Is(got.Err(), ErrDenied) {
				t.Fatalf("Err() = %v, want ErrDenied", got.Err())
			}
		})
	}
}

func TestVerifyAuthenticity(t *testing.T) {
	tok := mustMint(t, OpsAll, Expiry(t0.Add(time.Hour)))
	req := Request{Op: OpRead, Tenant: "acme", Now: t0}

	other := MACKey{ID: "cap", Version: 1, Secret: fixedSecret(0x99)}
	if got := NewVerifier(testKeys{"cap": other}, nil).Verify(tok.Encode(), req); got.Reason != ReasonBadMAC {
		t.Fatalf("wrong root key: %q, want bad_mac", got.Reason)
	}
	if got := NewVerifier(testKeys{}, nil).Verify(tok.Encode(), req); got.Reason != ReasonUnknownKey {
		t.Fatalf("no key: %q, want unknown_key", got.Reason)
	}
	rotated := testKey()
	rotated.Version = 2
	if got := NewVerifier(testKeys{"cap": rotated}, nil).Verify(tok.Encode(), req); got.Reason != ReasonUnknownKey {
		t.Fatalf("unknown version: %q, want unknown_key", got.Reason)
	}
	if got := testVerifier(nil).Verify("not a token!", req); got.Reason != ReasonMalformed {
		t.Fatalf("garbage: %q, want malformed", got.Reason)
	}
	// Forging: widen the expiry in place, keep the MAC.
	forged := *tok
	forged.Caveats = []Caveat{Expiry(t0.Add(100 * time.Hour))}
	if got := testVerifier(nil).Verify(forged.Encode(), req); got.Reason != ReasonBadMAC {
		t.Fatalf("widened caveat: %q, want bad_mac", got.Reason)
	}
}

func TestRevocation(t *testing.T) {
	tok := mustMint(t, OpsAll, Expiry(t0.Add(time.Hour)))
	child, err := tok.Attenuate(AllowOps(OpRead))
	if err != nil {
		t.Fatal(err)
	}
	if child.ID() != tok.ID() {
		t.Fatalf("attenuation changed the token id")
	}
	rev := NewMemRevocations()
	if err := rev.Revoke(tok.ID(), Effective(tok).Expiry); err != nil {
		t.Fatal(err)
	}
	req := Request{Op: OpRead, Tenant: "acme", Now: t0}
	for _, x := range []*Token{tok, child} {
		if got := testVerifier(rev).Verify(x.Encode(), req); got.Reason != ReasonRevoked {
			t.Fatalf("revoked token: %q, want revoked", got.Reason)
		}
	}
	other, _ := Mint(testKey(), "acme", OpsAll, [NonceBytes]byte{9})
	if got := testVerifier(rev).Verify(other.Encode(), req); !got.Allowed() {
		t.Fatalf("a token with another nonce was caught by the revocation: %q", got.Reason)
	}
	if n := rev.Prune(t0.Add(time.Hour + ClockSkewMax - 1)); n != 0 {
		t.Fatalf("pruned %d entries before the token expired", n)
	}
	if n := rev.Prune(t0.Add(time.Hour + ClockSkewMax)); n != 1 || rev.Len() != 0 {
		t.Fatalf("prune after expiry dropped %d, left %d", n, rev.Len())
	}
}

func TestRevocationsBounded(t *testing.T) {
	rev := NewMemRevocations()
	for i := 0; i < RevocationsMax; i++ {
		var id TokenID
		id[0], id[1], id[2] = byte(i), byte(i>>8), byte(i>>16)
		if err := rev.Revoke(id, math.MaxInt64); err != nil {
			t.Fatalf("revoke %d: %v", i, err)
		}
	}
	if err := rev.Revoke(TokenID{0xff, 0xff, 0xff}, 0); !errors.Is(err, ErrRevocationsFull) {
		t.Fatalf("revoke past the limit: %v, want ErrRevocationsFull", err)
	}
	if err := rev.Revoke(TokenID{}, 5); err != nil {
		t.Fatalf("re-revoking a present id must succeed at the limit: %v", err)
	}
}

func TestLimits(t *testing.T) {
	caveats := make([]Caveat, CaveatsMax)
	for i := range caveats {
		caveats[i] = MaxBytes(uint64(i))
	}
	tok := mustMint(t, OpsAll, caveats...)
	if _, err := tok.Attenuate(MaxBytes(1)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("caveat %d: %v, want ErrInvalid", CaveatsMax+1, err)
	}
	// Eight maximal prefixes exceed the byte limit before the count limit.
	big := strings.Repeat("x", PrefixBytesMax)
	tok = mustMint(t, OpsAll)
	var err error
	for i := 0; i < CaveatsMax && err == nil; i++ {
		var next *Token
		if next, err = tok.Attenuate(Prefix(big)); err == nil {
			tok = next
		}
	}
	if !errors.Is(err, ErrInvalid) || len(tok.Encode()) > TokenTextBytesMax {
		t.Fatalf("oversized token: err %v, text %d bytes", err, len(tok.Encode()))
	}
	// A hand-built oversized text is malformed.
	if _, err := Decode(strings.Repeat("A", TokenTextBytesMax+4)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("oversized text: %v", err)
	}
	if _, err := Mint(testKey(), "", OpsAll, [NonceBytes]byte{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty tenant: %v", err)
	}
	if _, err := Mint(testKey(), "acme", 0, [NonceBytes]byte{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty scope: %v", err)
	}
	if _, err := Mint(MACKey{ID: "cap", Version: 1}, "acme", OpsAll, [NonceBytes]byte{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("zero key: %v", err)
	}
	if _, err := tok.Attenuate(Expiry(-1)); err == nil {
		t.Fatalf("negative expiry accepted")
	}
}

func TestDecodeIsCanonical(t *testing.T) {
	text := mustMint(t, OpsAll, Expiry(t0)).Encode()
	for name, bad := range map[string]string{
		"padding":  text + "=",
		"newline":  text[:10] + "\n" + text[10:],
		"std b64":  strings.NewReplacer("-", "+", "_", "/").Replace(text) + "+",
		"trailing": text + "AA",
		"empty":    "",
	} {
		if _, err := Decode(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	// Non-zero trailing bits: change the last character to one that
	// decodes to the same bytes under a lenient decoder.
	raw := mustMint(t, OpsAll).Marshal()
	for len(raw)%3 == 0 {
		raw = append(raw, 0) // force a partial final group
	}
	lenient := base64.RawURLEncoding.EncodeToString(raw)
	last := lenient[len(lenient)-1]
	tweaked := lenient[:len(lenient)-1] + string(last+1)
	if _, err := Decode(tweaked); !errors.Is(err, ErrMalformed) {
		t.Errorf("non-zero trailing bits: %v", err)
	}
	// Non-minimal varint for the version.
	nonMinimal := append([]byte{0x81, 0x00}, mustMint(t, OpsAll).Marshal()[1:]...)
	if _, err := Unmarshal(nonMinimal); !errors.Is(err, ErrMalformed) {
		t.Errorf("non-minimal varint: %v", err)
	}
}

func TestEffectiveUnrestricted(t *testing.T) {
	g := Effective(mustMint(t, Ops(OpRead)))
	if g.Expiry != env.Time(math.MaxInt64) || g.NotBefore != env.Time(math.MinInt64) || g.MaxBytes != math.MaxUint64 || g.Ops != Ops(OpRead) {
		t.Fatalf("unexpected grant %+v", g)
	}
	// An expiry at the end of time must not wrap when skew is added.
	v := testVerifier(nil)
	tok := mustMint(t, OpsAll, Expiry(math.MaxInt64-1))
	if got := v.Verify(tok.Encode(), Request{Op: OpRead, Tenant: "acme", Now: t0}); !got.Allowed() {
		t.Fatalf("far expiry: %q", got.Reason)
	}
}

func TestOps(t *testing.T) {
	for o := OpRead; o <= opLast; o++ {
		got, err := ParseOp(o.String())
		if err != nil || got != o {
			t.Fatalf("ParseOp(%q) = %v, %v", o.String(), got, err)
		}
	}
	if _, err := ParseOp("READ"); err == nil {
		t.Fatalf("ParseOp is case-sensitive")
	}
	if s := Ops(OpRead, OpAdmin).String(); s != "read,admin" {
		t.Fatalf("OpSet.String = %q", s)
	}
}

package auth

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/ron-network/ron/core/proto/wire"
	"lukechampine.com/blake3"
	"lukechampine.com/blake3/guts"
)

// Token format and limits (specs/capability-token.md).
const (
	// TokenVersion is the only encoding version this package reads.
	TokenVersion = 1
	// TokenTextBytesMax bounds the base64url text of a token (ARCHITECTURE 5.6).
	TokenTextBytesMax = 4 << 10
	// TokenBytesMax bounds the binary encoding: the most bytes whose
	// unpadded base64url text fits TokenTextBytesMax.
	TokenBytesMax = TokenTextBytesMax / 4 * 3
	// CaveatsMax bounds the caveats of one token (ARCHITECTURE 5.6).
	CaveatsMax = 64
	// CaveatBytesMax bounds the body of one caveat.
	CaveatBytesMax = 1 + 2 + PrefixBytesMax
	// TenantBytesMax bounds a tenant name (base field and tenant caveat).
	TenantBytesMax = 128
	// KeyIDBytesMax bounds a key id.
	KeyIDBytesMax = 64
	// PrefixBytesMax bounds a prefix caveat.
	PrefixBytesMax = 512
	// AudienceBytesMax bounds an audience caveat.
	AudienceBytesMax = 128
	// NonceBytes is the size of the per-token nonce.
	NonceBytes = 16
	// MACBytes is the size of a MAC-chain tag.
	MACBytes = 32
	// KeyBytes is the size of a MAC root key and of every Secret.
	KeyBytes = 32
	// ClockSkewMax is the clock disagreement tolerated between the minter
	// and the verifier on expiry and not_before caveats.
	ClockSkewMax = 30 * time.Second
)

// idContext domain-separates token ids from every other BLAKE3 digest of
// the same bytes (a content address of the base, for example).
const idContext = "ron-cap-v1/id\x00"

// Errors. Decoding failures wrap ErrMalformed; invalid arguments to Mint
// and Attenuate wrap ErrInvalid.
var (
	ErrMalformed = errors.New("auth: malformed token")
	ErrInvalid   = errors.New("auth: invalid argument")
)

// TokenID names a token and every token attenuated from it: the BLAKE3-256
// of the base. It is what a revocation names. It is computable by anyone
// who holds the token, and reveals nothing about the MAC chain.
type TokenID [32]byte

// String is the lowercase hex of the id.
func (id TokenID) String() string { return fmt.Sprintf("%x", id[:]) }

// Token is a decoded capability. A Token is a value: Attenuate returns a
// new one and never changes its receiver.
//
// Invariant: MAC is the last tag of the chain over the base (Version,
// Tenant, KeyID, KeyVersion, Scope, Nonce) and Caveats, in order. Mint and
// Attenuate keep it; Decode does not check it (only a Verifier holding the
// root key can).
type Token struct {
	Version    uint8
	Tenant     string
	KeyID      string
	KeyVersion uint32
	Scope      OpSet
	Nonce      [NonceBytes]byte
	Caveats    []Caveat
	MAC        [MACBytes]byte
}

// MACKey is one version of a capability root key.
type MACKey struct {
	ID      string
	Version uint32
	Secret  Secret
}

// Mint creates a token for tenant with the given scope, MACed with key.
// nonce must come from the caller's random source (env.Rand or config);
// it makes two otherwise identical tokens distinct and individually
// revocable.
func Mint(key MACKey, tenant string, scope OpSet, nonce [NonceBytes]byte, caveats ...Caveat) (*Token, error) {
	if key.Secret.IsZero() {
		return nil, fmt.Errorf("%w: zero root key", ErrInvalid)
	}
	t := &Token{Version: TokenVersion, Tenant: tenant, KeyID: key.ID, KeyVersion: key.Version, Scope: scope, Nonce: nonce}
	if err := t.checkBase(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	t.MAC = keyedHash(key.Secret.bytes(), t.appendBase(nil))
	return t.Attenuate(caveats...)
}

// Attenuate returns a copy of t with caveats appended and the MAC chain
// extended. It needs no key: any holder may narrow a token offline, and no
// holder can remove or widen a caveat without the root key.
func (t *Token) Attenuate(caveats ...Caveat) (*Token, error) {
	if len(t.Caveats)+len(caveats) > CaveatsMax {
		return nil, fmt.Errorf("%w: %d caveats exceed %d", ErrInvalid, len(t.Caveats)+len(caveats), CaveatsMax)
	}
	out := *t
	out.Caveats = append(make([]Caveat, 0, len(t.Caveats)+len(caveats)), t.Caveats...)
	var body []byte
	for i, c := range caveats {
		if err := c.validate(); err != nil {
			return nil, fmt.Errorf("%w: caveat %d: %v", ErrInvalid, i, err)
		}
		body = appendCaveat(body[:0], c)
		out.MAC = keyedHash(out.MAC[:], body)
		out.Caveats = append(out.Caveats, c)
	}
	if n := out.encodedBytes(); n > TokenBytesMax {
		return nil, fmt.Errorf("%w: token of %d bytes exceeds %d", ErrInvalid, n, TokenBytesMax)
	}
	return &out, nil
}

// ID is the token's revocation id.
func (t *Token) ID() TokenID {
	return TokenID(blake3.Sum256(t.appendBase([]byte(idContext))))
}

// keyedHash is one link of the MAC chain: BLAKE3-256 keyed by key over msg.
// Every message of a token fits one BLAKE3 chunk, so the common path runs
// the chunk compression directly instead of allocating a ~3 KiB
// blake3.Hasher per link; it computes exactly what blake3.New(32, key)
// does (TestKeyedHashMatchesBlake3 compares the two).
func keyedHash(key, msg []byte) [MACBytes]byte {
	var out [MACBytes]byte
	if len(key) != KeyBytes {
		panic("auth: keyedHash with a key that is not KeyBytes long")
	}
	if len(msg) > guts.ChunkSize {
		h := blake3.New(MACBytes, key)
		h.Write(msg)
		h.Sum(out[:0])
		return out
	}
	var words [8]uint32
	for i := range words {
		words[i] = binary.LittleEndian.Uint32(key[4*i:])
	}
	n := guts.CompressChunk(msg, &words, 0, guts.FlagKeyedHash)
	n.Flags |= guts.FlagRoot
	block := guts.WordsToBytes(guts.CompressNode(n))
	copy(out[:], block[:MACBytes])
	return out
}

// computeMAC recomputes the whole chain from root. It runs in time that
// depends only on the token's public shape, never on the key.
func (t *Token) computeMAC(root []byte) [MACBytes]byte {
	buf := make([]byte, 0, 128)
	tag := keyedHash(root, t.appendBase(buf))
	for _, c := range t.Caveats {
		buf = appendCaveat(buf[:0], c)
		tag = keyedHash(tag[:], buf)
	}
	return tag
}

func (t *Token) checkBase() error {
	switch {
	case t.Version != TokenVersion:
		return fmt.Errorf("version %d, want %d", t.Version, TokenVersion)
	case t.Tenant == "" || len(t.Tenant) > TenantBytesMax:
		return fmt.Errorf("tenant of %d bytes outside 1..%d", len(t.Tenant), TenantBytesMax)
	case t.KeyID == "" || len(t.KeyID) > KeyIDBytesMax:
		return fmt.Errorf("key id of %d bytes outside 1..%d", len(t.KeyID), KeyIDBytesMax)
	case t.KeyVersion == 0:
		return errors.New("key version 0")
	case t.Scope == 0 || !t.Scope.Valid():
		return fmt.Errorf("scope %#x is empty or has undefined bits", uint8(t.Scope))
	}
	return nil
}

// appendBase appends the base encoding: the first link's message and the
// token id's preimage.
func (t *Token) appendBase(b []byte) []byte {
	b = wire.AppendUvarint(b, uint64(t.Version))
	b = wire.AppendString(b, t.Tenant)
	b = wire.AppendString(b, t.KeyID)
	b = wire.AppendUvarint(b, uint64(t.KeyVersion))
	b = wire.AppendUvarint(b, uint64(t.Scope))
	return append(b, t.Nonce[:]...)
}

// Marshal returns the binary encoding (the bytes an OAP/1 START frame
// carries as its capability).
func (t *Token) Marshal() []byte {
	b := t.appendBase(make([]byte, 0, 256))
	b = wire.AppendUvarint(b, uint64(len(t.Caveats)))
	var body []byte
	for _, c := range t.Caveats {
		body = appendCaveat(body[:0], c)
		b = wire.AppendBytes(b, body)
	}
	return append(b, t.MAC[:]...)
}

func (t *Token) encodedBytes() int { return len(t.Marshal()) }

// Encode returns the token's text: unpadded base64url of Marshal.
func (t *Token) Encode() string {
	return base64.RawURLEncoding.EncodeToString(t.Marshal())
}

// Decode parses a token's text. Only the canonical text is accepted: the
// base64url alphabet without padding, line breaks or non-zero trailing
// bits, at most TokenTextBytesMax bytes.
func Decode(text string) (*Token, error) {
	if len(text) > TokenTextBytesMax {
		return nil, fmt.Errorf("%w: text of %d bytes exceeds %d", ErrMalformed, len(text), TokenTextBytesMax)
	}
	for i := 0; i < len(text); i++ {
		if !isBase64URL(text[i]) {
			return nil, fmt.Errorf("%w: byte %#x at offset %d is not base64url", ErrMalformed, text[i], i)
		}
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(text)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return Unmarshal(raw)
}

func isBase64URL(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// Unmarshal parses the binary encoding. Every field is checked, so the
// encoding is canonical: Unmarshal(b) succeeds only if Marshal of the
// result gives b back.
func Unmarshal(raw []byte) (*Token, error) {
	if len(raw) > TokenBytesMax {
		return nil, fmt.Errorf("%w: %d bytes exceed %d", ErrMalformed, len(raw), TokenBytesMax)
	}
	r := wire.NewReader(raw)
	t := &Token{Version: uint8(r.Uint(math.MaxUint8))}
	t.Tenant = r.String(TenantBytesMax)
	t.KeyID = r.String(KeyIDBytesMax)
	t.KeyVersion = uint32(r.Uint(math.MaxUint32))
	t.Scope = OpSet(r.Uint(math.MaxUint8))
	r.Fixed(t.Nonce[:])
	n := r.Count(CaveatsMax)
	if r.Err() == nil && n > 0 {
		t.Caveats = make([]Caveat, 0, n)
	}
	for i := 0; i < n && r.Err() == nil; i++ {
		c, err := decodeCaveat(r.Bytes(CaveatBytesMax))
		if r.Err() == nil && err != nil {
			return nil, fmt.Errorf("%w: caveat %d: %v", ErrMalformed, i, err)
		}
		t.Caveats = append(t.Caveats, c)
	}
	r.Fixed(t.MAC[:])
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := t.checkBase(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return t, nil
}

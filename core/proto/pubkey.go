package proto

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/big"
)

// ErrWeakPublicKey is a public key refused where a key is first accepted
// (a name claim, a node descriptor, a DHT provider record, a HELLO, a peer
// certificate, a configured admin key): a small-order point or a
// non-canonical encoding.
var ErrWeakPublicKey = errors.New("weak ed25519 public key")

// CheckPublicKey refuses an Ed25519 public key that is a point of small
// order or is not canonically encoded. crypto/ed25519.Verify checks
// [S]B = R + [k]A without the cofactor, so under a small-order A the
// signature R = identity, S = 0 verifies whenever [k]A is the identity:
// for every message under the identity point (01 00..00), for one message
// in 2, 4 or 8 under the others. Anyone can then sign for such an owner.
//
// An encoding is the 255-bit little-endian y with x's sign in the top bit.
// Small order (the 8-torsion subgroup) means y is 1 (identity), p-1 (order
// 2), 0 (order 4, x = +-sqrt(-1)) or +-y8 (order 8; smallOrderY derives it).
// crypto/ed25519 also decodes y >= p (reduced mod p) and the sign bit set
// with x = 0 (y = +-1): y >= p is refused as non-canonical, which covers
// the non-canonical encodings of small-order points (y = p, p+1), and
// y = +-1 with the sign bit set is refused as small order (the sign bit
// is not looked at, below).
// The sign bit is not looked at: x = 0 only for y = +-1, refused either
// way, and every other small-order y is refused with both signs.
func CheckPublicKey(pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: %d bytes, want %d", ErrWeakPublicKey, len(pub), ed25519.PublicKeySize)
	}
	var y [32]byte
	copy(y[:], pub)
	y[31] &= 0x7f
	if !lessThanP(y) {
		return fmt.Errorf("%w: y is not reduced mod 2^255-19 (non-canonical encoding)", ErrWeakPublicKey)
	}
	for _, s := range smallOrderY {
		if y == s {
			return fmt.Errorf("%w: a point of small order (anyone can forge its signatures)", ErrWeakPublicKey)
		}
	}
	return nil
}

// lessThanP reports whether the little-endian y (top bit clear) is below
// p = 2^255-19, whose encoding is ed ff .. ff 7f.
func lessThanP(y [32]byte) bool {
	for i := 31; i > 0; i-- {
		want := byte(0xff)
		if i == 31 {
			want = 0x7f
		}
		if y[i] != want {
			return true // y[i] < want: bytes above index 0 of p are maximal
		}
	}
	return y[0] < 0xed
}

// smallOrderY is the canonical y of every point of order 1, 2, 4 and 8.
var smallOrderY = deriveSmallOrderY()

// deriveSmallOrderY computes the y coordinates of the 8-torsion points of
// -x^2 + y^2 = 1 + d x^2 y^2 (d = -121665/121666) over p = 2^255-19.
// Doubling gives y(2P) = (x^2 + y^2) / (2 + x^2 - y^2), and 2P has order 4
// (y = 0) exactly when x^2 = -y^2; on the curve that is
// d y^4 + 2 y^2 - 1 = 0, so y^2 = (-1 +- sqrt(1 + d)) / d, of which one
// root is a square: its two square roots are the order-8 y values.
func deriveSmallOrderY() [][32]byte {
	p := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	mod := func(v *big.Int) *big.Int { return v.Mod(v, p) }
	d := mod(new(big.Int).Mul(big.NewInt(-121665), new(big.Int).ModInverse(big.NewInt(121666), p)))
	dInv := new(big.Int).ModInverse(d, p)
	s := new(big.Int).ModSqrt(mod(new(big.Int).Add(big.NewInt(1), d)), p)
	if s == nil {
		panic("proto: 1 + d has no square root mod p")
	}
	ys := []*big.Int{big.NewInt(0), big.NewInt(1), new(big.Int).Sub(p, big.NewInt(1))}
	for _, root := range []*big.Int{s, new(big.Int).Neg(s)} {
		y2 := mod(new(big.Int).Mul(mod(new(big.Int).Sub(root, big.NewInt(1))), dInv))
		if y := new(big.Int).ModSqrt(y2, p); y != nil {
			ys = append(ys, y, new(big.Int).Sub(p, y))
		}
	}
	if len(ys) != 5 {
		panic(fmt.Sprintf("proto: derived %d small-order y values, want 5", len(ys)))
	}
	out := make([][32]byte, len(ys))
	for i, y := range ys {
		be := y.FillBytes(make([]byte, 32))
		for j := range be {
			out[i][j] = be[31-j]
		}
	}
	return out
}

package env

import (
	"math"
	"math/bits"
	"time"
)

// Rand is a small, fast, seedable pseudo-random generator (xoshiro256**,
// seeded through splitmix64). It is the only source of randomness a machine
// may use. It is not safe for concurrent use; each node owns its own.
//
// It is deliberately not math/rand: the determinism lint forbids that package
// in core/ so that no global source can slip in, and this type makes the
// stream derivation (Derive) explicit.
type Rand struct {
	s [4]uint64
}

// NewRand returns a generator seeded from seed.
func NewRand(seed uint64) *Rand {
	r := &Rand{}
	r.Seed(seed)
	return r
}

// Seed resets the generator's state from seed.
func (r *Rand) Seed(seed uint64) {
	x := seed
	for i := range r.s {
		x, r.s[i] = splitmix64(x)
	}
}

func splitmix64(x uint64) (next, out uint64) {
	x += 0x9e3779b97f4a7c15
	z := x
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return x, z ^ (z >> 31)
}

// Uint64 returns a uniformly distributed 64-bit value.
func (r *Rand) Uint64() uint64 {
	s := &r.s
	result := bits.RotateLeft64(s[1]*5, 7) * 9
	t := s[1] << 17
	s[2] ^= s[0]
	s[3] ^= s[1]
	s[1] ^= s[2]
	s[0] ^= s[3]
	s[2] ^= t
	s[3] = bits.RotateLeft64(s[3], 45)
	return result
}

// Uint64n returns a uniform value in [0, n). n must be > 0.
func (r *Rand) Uint64n(n uint64) uint64 {
	if n == 0 {
		panic("env: Uint64n with n == 0")
	}
	// Lemire's multiply-shift with rejection: unbiased.
	hi, lo := bits.Mul64(r.Uint64(), n)
	if lo < n {
		threshold := -n % n
		for lo < threshold {
			hi, lo = bits.Mul64(r.Uint64(), n)
		}
	}
	return hi
}

// Intn returns a uniform value in [0, n). n must be > 0.
func (r *Rand) Intn(n int) int {
	if n <= 0 {
		panic("env: Intn with n <= 0")
	}
	return int(r.Uint64n(uint64(n)))
}

// Float64 returns a uniform value in [0, 1).
func (r *Rand) Float64() float64 {
	return float64(r.Uint64()>>11) / (1 << 53)
}

// Bool returns true with probability p (p <= 0 never, p >= 1 always).
func (r *Rand) Bool(p float64) bool {
	if p <= 0 {
		return false
	}
	if p >= 1 {
		return true
	}
	return r.Float64() < p
}

// Fill fills b with random bytes.
func (r *Rand) Fill(b []byte) {
	for len(b) >= 8 {
		v := r.Uint64()
		for i := 0; i < 8; i++ {
			b[i] = byte(v >> (8 * i))
		}
		b = b[8:]
	}
	if len(b) > 0 {
		v := r.Uint64()
		for i := range b {
			b[i] = byte(v >> (8 * i))
		}
	}
}

// Read implements io.Reader; it never fails. The simulator installs a Rand
// as crypto/rand.Reader for raft's election jitter.
func (r *Rand) Read(b []byte) (int, error) {
	r.Fill(b)
	return len(b), nil
}

// Jitter returns d scaled by a uniform factor in [1-frac, 1+frac].
func (r *Rand) Jitter(d time.Duration, frac float64) time.Duration {
	if frac <= 0 || d <= 0 {
		return d
	}
	f := 1 + frac*(2*r.Float64()-1)
	return time.Duration(float64(d) * f)
}

// ExpFloat64 returns an exponentially distributed value with mean 1.
func (r *Rand) ExpFloat64() float64 {
	return -math.Log(1 - r.Float64())
}

// Derive returns an independent generator for purpose, seeded from this
// generator's seed material without advancing it. Streams derived for
// different purposes do not overlap in practice, so adding a consumer of
// one stream never changes what another stream yields.
func (r *Rand) Derive(purpose string) *Rand {
	h := uint64(0xcbf29ce484222325) // FNV-1a over the purpose
	for i := 0; i < len(purpose); i++ {
		h ^= uint64(purpose[i])
		h *= 0x100000001b3
	}
	seed := r.s[0] ^ bits.RotateLeft64(r.s[1], 17) ^ bits.RotateLeft64(r.s[2], 31) ^ bits.RotateLeft64(r.s[3], 47)
	return NewRand(seed ^ h)
}

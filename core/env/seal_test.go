package env_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"pgregory.net/rapid"

	"github.com/ron-network/ron/core/env"
)

func TestSealRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		value := rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, "value")
		sealed := env.Seal(value)
		if len(sealed) != len(value)+env.SealBytes {
			t.Fatalf("sealed %d bytes into %d, want +%d", len(value), len(sealed), env.SealBytes)
		}
		got, err := env.Unseal(sealed)
		if err != nil {
			t.Fatalf("Unseal(Seal(v)): %v", err)
		}
		if !bytes.Equal(got, value) {
			t.Fatalf("Unseal(Seal(%x)) = %x", value, got)
		}
	})
}

// The CRC-32C check value of "123456789" is 0xE3069283 (RFC 3720, B.4 and
// every CRC catalogue): Seal must use Castagnoli, big-endian, at the end.
func TestSealUsesCRC32C(t *testing.T) {
	sealed := env.Seal([]byte("123456789"))
	if got := binary.BigEndian.Uint32(sealed[9:]); got != 0xE3069283 {
		t.Fatalf("checksum %08x, want e3069283", got)
	}
}

func TestSealDoesNotAliasInput(t *testing.T) {
	value := []byte("hello")
	sealed := env.Seal(value)
	value[0] = 'j'
	if got, err := env.Unseal(sealed); err != nil || string(got) != "hello" {
		t.Fatalf("after changing the input: %q, %v", got, err)
	}
}

func TestUnsealDetectsEverySingleBitFlip(t *testing.T) {
	for _, value := range [][]byte{nil, {0}, []byte("registry hard state"), bytes.Repeat([]byte{0xa5}, 100)} {
		sealed := env.Seal(value)
		for bit := 0; bit < len(sealed)*8; bit++ {
			flipped := bytes.Clone(sealed)
			flipped[bit/8] ^= 1 << (bit % 8)
			if _, err := env.Unseal(flipped); !errors.Is(err, env.ErrCorruption) {
				t.Fatalf("value %q: flipping bit %d gave %v, want ErrCorruption", value, bit, err)
			}
		}
	}
}

func TestUnsealShortInput(t *testing.T) {
	for n := 0; n < env.SealBytes; n++ {
		if _, err := env.Unseal(make([]byte, n)); !errors.Is(err, env.ErrCorruption) {
			t.Fatalf("Unseal of %d bytes: %v, want ErrCorruption", n, err)
		}
	}
}

func TestCorruptionIsItsOwnClass(t *testing.T) {
	_, err := env.Unseal([]byte{1, 2, 3, 4, 5})
	if !errors.Is(err, env.ErrCorruption) {
		t.Fatalf("%v is not corruption", err)
	}
	for _, other := range []error{env.ErrDiskIO, env.ErrDiskFull, env.ErrDiskInvalid} {
		if errors.Is(err, other) {
			t.Fatalf("corruption %v also matches %v", err, other)
		}
	}
}

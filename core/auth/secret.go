package auth

import (
	"crypto/subtle"
	"fmt"
	"log/slog"

	"github.com/ron-network/ron/core/env"
)

// Redacted is what every printing, logging or marshalling path shows in
// place of key material.
const Redacted = "[redacted]"

// Secret holds KeyBytes of key material (a seed or a MAC root key).
//
// The bytes are captured by a closure on purpose: reflection cannot look
// inside a func value, so fmt prints it as an address whatever the verb and
// however deeply the Secret is nested (an unexported field of some other
// struct, where fmt cannot call Secret's own methods). An array field, or
// even a pointer to one, is printed byte by byte under verbs such as %s
// (fmt's bad-verb path dereferences it); a test pins this. The zero Secret
// holds no key.
type Secret struct {
	load func() *[KeyBytes]byte
}

func secretOf(k *[KeyBytes]byte) Secret {
	return Secret{load: func() *[KeyBytes]byte { return k }}
}

// NewSecret copies exactly KeyBytes bytes into a Secret.
func NewSecret(b []byte) (Secret, error) {
	if len(b) != KeyBytes {
		return Secret{}, fmt.Errorf("%w: secret of %d bytes, want %d", ErrInvalid, len(b), KeyBytes)
	}
	var k [KeyBytes]byte
	copy(k[:], b)
	return secretOf(&k), nil
}

// SecretFromRand draws a Secret from r. In the simulator r is the node's
// seeded source; production passes a source seeded from the OS's entropy
// by io/ (env.Rand alone is not a cryptographic generator).
func SecretFromRand(r *env.Rand) Secret {
	var k [KeyBytes]byte
	r.Fill(k[:])
	return secretOf(&k)
}

// bytes returns the key for use inside this package; callers must not
// retain or modify it.
func (s Secret) bytes() []byte {
	if s.load == nil {
		return nil
	}
	return s.load()[:]
}

// IsZero reports whether s holds no key.
func (s Secret) IsZero() bool { return s.load == nil }

// Reveal returns a copy of the key bytes. It is the only way out; grep for
// it when auditing where key material goes.
func (s Secret) Reveal() []byte {
	if s.load == nil {
		return nil
	}
	return append([]byte(nil), s.bytes()...)
}

// Equal compares two secrets in constant time.
func (s Secret) Equal(o Secret) bool {
	if s.load == nil || o.load == nil {
		return s.load == nil && o.load == nil
	}
	return subtle.ConstantTimeCompare(s.bytes(), o.bytes()) == 1
}

// String, GoString, Format, MarshalJSON, MarshalText and LogValue all print
// Redacted, so no fmt verb, encoder or slog handler can leak the bytes.
func (s Secret) String() string               { return Redacted }
func (s Secret) GoString() string             { return Redacted }
func (s Secret) Format(f fmt.State, _ rune)   { f.Write([]byte(Redacted)) }
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }
func (s Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }
func (s Secret) LogValue() slog.Value         { return slog.StringValue(Redacted) }
func (k MACKey) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "MACKey{%s v%d %s}", k.ID, k.Version, Redacted)
}
func (k MACKey) LogValue() slog.Value { return slog.StringValue(k.ID + " " + Redacted) }

var _ interface{ LogValue() slog.Value } = Secret{}

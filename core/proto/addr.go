package proto

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// AddrPrefix starts every textual content address.
const AddrPrefix = "b3:"

// AddrTextBytes is the length of a textual address: prefix plus 64 hex digits.
const AddrTextBytes = len(AddrPrefix) + 2*IDBytes

// Addr is a content address: the BLAKE3-256 digest of an object's whole bytes.
// It never depends on how the object is chunked.
type Addr [IDBytes]byte

// ErrBadAddr is wrapped by every address parse error.
var ErrBadAddr = errors.New("proto: bad address")

// AddrOf computes the address of data: BLAKE3-256 of its bytes, computed on
// the caller's goroutine (see sum256).
func AddrOf(data []byte) Addr { return Addr(sum256(data)) }

// String formats the address as b3:<64 lowercase hex>.
func (a Addr) String() string {
	var buf [AddrTextBytes]byte
	copy(buf[:], AddrPrefix)
	hex.Encode(buf[len(AddrPrefix):], a[:])
	return string(buf[:])
}

// Short is "b3:" plus the first 8 hex digits, for logs and reports.
func (a Addr) Short() string { return AddrPrefix + hex.EncodeToString(a[:4]) }

// IsZero reports whether a is the zero value (no object).
func (a Addr) IsZero() bool { return a == Addr{} }

// Key returns the address as a NodeID-shaped key in the DHT keyspace.
func (a Addr) Key() NodeID { return NodeID(a) }

// ParseAddr parses b3:<64 lowercase hex>. Uppercase digits, a missing or
// different prefix, a wrong length and non-hex characters are each rejected
// with an error that says which.
func ParseAddr(s string) (Addr, error) {
	var a Addr
	if !strings.HasPrefix(s, AddrPrefix) {
		if i := strings.IndexByte(s, ':'); i > 0 && i < 16 {
			return a, fmt.Errorf("%w: unknown prefix %q, want %q", ErrBadAddr, s[:i+1], AddrPrefix)
		}
		return a, fmt.Errorf("%w: missing %q prefix", ErrBadAddr, AddrPrefix)
	}
	digits := s[len(AddrPrefix):]
	if len(digits) != 2*IDBytes {
		return a, fmt.Errorf("%w: %d hex digits, want %d", ErrBadAddr, len(digits), 2*IDBytes)
	}
	if err := decodeLowerHex(a[:], digits); err != nil {
		return a, fmt.Errorf("%w: %v", ErrBadAddr, err)
	}
	return a, nil
}

// MarshalText formats the address as b3:<hex>, so JSON and YAML carry the
// textual form (the gateway's {"addr":"b3:..."}).
func (a Addr) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText parses b3:<hex> with ParseAddr's rules.
func (a *Addr) UnmarshalText(text []byte) error {
	parsed, err := ParseAddr(string(text))
	if err != nil {
		return err
	}
	*a = parsed
	return nil
}

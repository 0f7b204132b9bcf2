package proto

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"

	"lukechampine.com/blake3"
)

// IDBytes is the size of a NodeID and of a content address digest.
const IDBytes = 32

// NodeID names a node: the BLAKE3-256 digest of its Ed25519 public key. It is
// also the node's position in the DHT's XOR keyspace.
type NodeID [IDBytes]byte

// NodeIDFromPublicKey derives the NodeID of an Ed25519 public key.
func NodeIDFromPublicKey(pub ed25519.PublicKey) NodeID {
	return NodeID(blake3.Sum256(pub))
}

// String is the full lowercase hex of the id.
func (id NodeID) String() string { return hex.EncodeToString(id[:]) }

// Short is the first 8 hex digits, for logs and reports.
func (id NodeID) Short() string { return hex.EncodeToString(id[:4]) }

// IsZero reports whether id is the zero value (no node).
func (id NodeID) IsZero() bool { return id == NodeID{} }

// Compare orders ids by their bytes; it gives maps of ids a stable order.
func (id NodeID) Compare(other NodeID) int {
	for i := range id {
		if id[i] != other[i] {
			if id[i] < other[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// ErrBadNodeID is returned for a node id that is not 64 lowercase hex digits.
var ErrBadNodeID = errors.New("proto: bad node id")

// ParseNodeID parses the 64-hex-digit form produced by String.
func ParseNodeID(s string) (NodeID, error) {
	var id NodeID
	if len(s) != 2*IDBytes {
		return id, fmt.Errorf("%w: %d characters, want %d", ErrBadNodeID, len(s), 2*IDBytes)
	}
	if err := decodeLowerHex(id[:], s); err != nil {
		return id, fmt.Errorf("%w: %v", ErrBadNodeID, err)
	}
	return id, nil
}

// decodeLowerHex decodes exactly len(dst)*2 lowercase hex digits.
func decodeLowerHex(dst []byte, s string) error {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') {
			continue
		}
		if c >= 'A' && c <= 'F' {
			return fmt.Errorf("uppercase hex digit %q at offset %d", c, i)
		}
		return fmt.Errorf("non-hex character %q at offset %d", c, i)
	}
	_, err := hex.Decode(dst, []byte(s))
	return err
}

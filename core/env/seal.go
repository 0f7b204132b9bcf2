package env

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// SealBytes is the overhead Seal adds to a value.
const SealBytes = 4

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Seal appends a CRC-32C of value so that Unseal can detect bit corruption.
// Machines seal every value whose integrity is not already covered by a
// content address (raft entries, hard state, registry state, records).
func Seal(value []byte) []byte {
	out := make([]byte, len(value)+SealBytes)
	copy(out, value)
	binary.BigEndian.PutUint32(out[len(value):], crc32.Checksum(value, castagnoli))
	return out
}

// Unseal verifies and strips the checksum added by Seal. A mismatch is an
// error wrapping ErrCorruption. The result aliases sealed.
func Unseal(sealed []byte) ([]byte, error) {
	if len(sealed) < SealBytes {
		return nil, fmt.Errorf("%w: sealed value of %d bytes is shorter than its checksum", ErrCorruption, len(sealed))
	}
	n := len(sealed) - SealBytes
	want := binary.BigEndian.Uint32(sealed[n:])
	if got := crc32.Checksum(sealed[:n], castagnoli); got != want {
		return nil, fmt.Errorf("%w: checksum %08x, want %08x", ErrCorruption, got, want)
	}
	return sealed[:n], nil
}

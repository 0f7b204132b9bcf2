package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrMalformed is wrapped by every decode error.
var ErrMalformed = errors.New("wire: malformed payload")

// AppendUvarint appends v as a varint.
func AppendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

// AppendBool appends a bool as one byte.
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// AppendBytes appends a length-prefixed byte string.
func AppendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// AppendFixed appends v raw, for fixed-size arrays (digests, ids) whose
// length the schema knows; read it back with Reader.Fixed.
func AppendFixed(b, v []byte) []byte { return append(b, v...) }

// AppendString appends a length-prefixed string.
func AppendString(b []byte, v string) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// Reader decodes a payload. The first error sticks; later reads return
// zero values.
type Reader struct {
	buf []byte
	off int
	err error
}

// NewReader reads from b (aliased, not copied).
func NewReader(b []byte) *Reader { return &Reader{buf: b} }

// Err is the first error, or nil.
func (r *Reader) Err() error { return r.err }

// Done returns the first error, or an error if bytes remain unread.
func (r *Reader) Done() error {
	if r.err == nil && r.off != len(r.buf) {
		r.fail("%d trailing bytes", len(r.buf)-r.off)
	}
	return r.err
}

// Remaining is the number of unread bytes.
func (r *Reader) Remaining() int { return len(r.buf) - r.off }

func (r *Reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: at offset %d: %s", ErrMalformed, r.off, fmt.Sprintf(format, args...))
	}
}

// Uvarint reads a minimal-form varint.
func (r *Reader) Uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.buf[r.off:])
	if n == 0 {
		r.fail("truncated varint")
		return 0
	}
	if n < 0 {
		r.fail("varint overflows 64 bits")
		return 0
	}
	if n > 1 && r.buf[r.off+n-1] == 0 {
		r.fail("non-minimal varint")
		return 0
	}
	r.off += n
	return v
}

// Uint reads a varint that must not exceed max.
func (r *Reader) Uint(max uint64) uint64 {
	v := r.Uvarint()
	if v > max {
		r.fail("value %d exceeds %d", v, max)
		return 0
	}
	return v
}

// Bool reads one byte that must be 0 or 1.
func (r *Reader) Bool() bool {
	if r.err != nil {
		return false
	}
	if r.off >= len(r.buf) {
		r.fail("truncated bool")
		return false
	}
	c := r.buf[r.off]
	if c > 1 {
		r.fail("bool byte %d", c)
		return false
	}
	r.off++
	return c == 1
}

// Bytes reads a length-prefixed byte string of at most max bytes. The
// result aliases the input.
func (r *Reader) Bytes(max int) []byte {
	n := r.Uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(max) {
		r.fail("length %d exceeds %d", n, max)
		return nil
	}
	if n > uint64(len(r.buf)-r.off) {
		r.fail("length %d exceeds the %d bytes left", n, len(r.buf)-r.off)
		return nil
	}
	v := r.buf[r.off : r.off+int(n)]
	r.off += int(n)
	return v
}

// String reads a length-prefixed string of at most max bytes.
func (r *Reader) String(max int) string { return string(r.Bytes(max)) }

// Fixed reads exactly len(dst) raw bytes into dst.
func (r *Reader) Fixed(dst []byte) {
	if r.err != nil {
		return
	}
	if len(r.buf)-r.off < len(dst) {
		r.fail("truncated: need %d bytes, have %d", len(dst), len(r.buf)-r.off)
		return
	}
	copy(dst, r.buf[r.off:])
	r.off += len(dst)
}

// Count reads a list length that must not exceed max.
func (r *Reader) Count(max int) int { return int(r.Uint(uint64(max))) }

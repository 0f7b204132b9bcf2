package oap

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Layout and limits.
const (
	HeaderBytes   = 38
	Version       = 1
	FrameBytesMax = 1 << 20
	// CapBytesMax bounds the capability bytes of a START frame (a token is
	// at most 4 KiB, ARCHITECTURE 5.6).
	CapBytesMax = 4 << 10
	// InflateRatioMax bounds a compressed payload's inflated size relative
	// to FrameBytesMax.
	InflateRatioMax = 8
	// InflatedBytesMax is the most bytes a COMP payload may inflate to.
	InflatedBytesMax = InflateRatioMax * FrameBytesMax
)

// Flags.
const (
	FlagREQ    uint16 = 0x01
	FlagRESP   uint16 = 0x02
	FlagEVENT  uint16 = 0x04
	FlagSTART  uint16 = 0x08
	FlagEND    uint16 = 0x10
	FlagACKREQ uint16 = 0x20
	FlagCOMP   uint16 = 0x40
	FlagAPPE2E uint16 = 0x80
	flagsKnown uint16 = 0xff
	// FlagsKnown is every flag bit OAP/1 defines; a header with any other
	// bit set is rejected (bad_flags). A HELLO reply advertises it.
	FlagsKnown = flagsKnown
)

// Application protocol ids. 0 is HELLO; services own the rest.
const (
	ProtoHello    uint16 = 0
	ProtoOverlay  uint16 = 1
	ProtoDHT      uint16 = 2
	ProtoStorage  uint16 = 3
	ProtoRegistry uint16 = 4
	ProtoAuth     uint16 = 5
	// ProtoClient is the client API: one HTTP-shaped request per stream,
	// served by the node's gateway (io/oapgate).
	ProtoClient uint16 = 6
)

// Reason is a stable reject label (oap_rejects_total{reason}).
type Reason string

const (
	ReasonBadHello        Reason = "bad_hello"
	ReasonFrameOversize   Reason = "frame_oversize"
	ReasonHeaderMalformed Reason = "header_malformed"
	ReasonTruncated       Reason = "truncated"
	ReasonBadFlags        Reason = "bad_flags"
	ReasonCapOnNonStart   Reason = "cap_on_non_start"
	ReasonDecompressBound Reason = "decompress_bound"
	// ReasonDecompressFailed is a COMP payload that is not valid zstd. It is
	// not in the ARCHITECTURE 5.1 list: a corrupt stream is not a bound violation,
	// and counting it as one would hide attacks from the bomb counter.
	ReasonDecompressFailed Reason = "decompress_failed"
	// ReasonDecompressWindow is a COMP payload whose zstd frame is neither
	// single-segment nor within the reader's window (oap.InflateWindow):
	// valid zstd, refused for what decoding it would cost, apart from
	// decompress_bound so that a streaming encoder's default window (the
	// zstd CLI's 2 MiB, 8 MiB for klauspost's writer) is not mistaken for
	// a bomb.
	ReasonDecompressWindow Reason = "decompress_window"
	ReasonUnknownApp       Reason = "unknown_app"
)

// Error is a frame rejection.
type Error struct {
	Reason Reason
	Detail string
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return "oap: " + string(e.Reason)
	}
	return "oap: " + string(e.Reason) + ": " + e.Detail
}

// Is makes errors.Is(err, &Error{Reason: r}) match on the reason alone.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Reason == e.Reason
}

// Stable error values, one per reason: errors.Is(err, ErrTruncated) holds
// for every rejection whose Reason is ReasonTruncated, whatever its Detail.
var (
	ErrBadHello         = &Error{Reason: ReasonBadHello}
	ErrFrameOversize    = &Error{Reason: ReasonFrameOversize}
	ErrHeaderMalformed  = &Error{Reason: ReasonHeaderMalformed}
	ErrTruncated        = &Error{Reason: ReasonTruncated}
	ErrBadFlags         = &Error{Reason: ReasonBadFlags}
	ErrCapOnNonStart    = &Error{Reason: ReasonCapOnNonStart}
	ErrDecompressBound  = &Error{Reason: ReasonDecompressBound}
	ErrDecompressFailed = &Error{Reason: ReasonDecompressFailed}
	ErrDecompressWindow = &Error{Reason: ReasonDecompressWindow}
	ErrUnknownApp       = &Error{Reason: ReasonUnknownApp}
)

// Reasons lists every reject label in a stable order, so that a metrics
// adapter can pre-declare oap_rejects_total{reason} for each of them.
var Reasons = []Reason{
	ReasonBadHello, ReasonFrameOversize, ReasonHeaderMalformed, ReasonTruncated,
	ReasonBadFlags, ReasonCapOnNonStart, ReasonDecompressBound, ReasonDecompressFailed,
	ReasonUnknownApp, ReasonDecompressWindow,
}

// ReasonOf is the reject label of err, for oap_rejects_total{reason}. It is
// "" for nil and for errors that are not OAP rejections (an I/O error from
// the transport, say), which callers count under their own metric.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

func reject(r Reason, format string, args ...any) *Error {
	return &Error{Reason: r, Detail: fmt.Sprintf(format, args...)}
}

// Header is a decoded OAP/1 header. Len is filled in by Encode.
type Header struct {
	Len      uint32
	Version  uint16
	Flags    uint16
	Code     uint16
	AppProto uint16
	TenantHi uint64 // tenant_id, high 64 bits
	TenantLo uint64 // tenant_id, low 64 bits
	CapLen   uint16
	CorrID   uint64
}

// Frame is a decoded frame. Cap and Payload alias the decoded buffer.
type Frame struct {
	Header
	Cap     []byte
	Payload []byte
}

// Append encodes f onto dst and returns the extended slice. Len, Version and
// CapLen are computed. It fails if the frame would break a limit.
func Append(dst []byte, f *Frame) ([]byte, error) {
	total := HeaderBytes + len(f.Cap) + len(f.Payload)
	if total > FrameBytesMax {
		return dst, reject(ReasonFrameOversize, "frame of %d bytes exceeds %d", total, FrameBytesMax)
	}
	if err := checkFlags(f.Flags, len(f.Cap)); err != nil {
		return dst, err
	}
	var h [HeaderBytes]byte
	binary.BigEndian.PutUint32(h[0:], uint32(total))
	binary.BigEndian.PutUint16(h[4:], Version)
	binary.BigEndian.PutUint16(h[6:], f.Flags)
	binary.BigEndian.PutUint16(h[8:], f.Code)
	binary.BigEndian.PutUint16(h[10:], f.AppProto)
	binary.BigEndian.PutUint64(h[12:], f.TenantHi)
	binary.BigEndian.PutUint64(h[20:], f.TenantLo)
	binary.BigEndian.PutUint16(h[28:], uint16(len(f.Cap)))
	binary.BigEndian.PutUint64(h[30:], f.CorrID)
	dst = append(dst, h[:]...)
	dst = append(dst, f.Cap...)
	return append(dst, f.Payload...), nil
}

// Encode is Append onto a fresh slice sized exactly for the frame.
func Encode(f *Frame) ([]byte, error) {
	return Append(make([]byte, 0, HeaderBytes+len(f.Cap)+len(f.Payload)), f)
}

// MustEncode encodes a frame built by the caller's own code, whose limits
// are a programmer's responsibility; a failure is a bug.
func MustEncode(f *Frame) []byte {
	b, err := Encode(f)
	if err != nil {
		panic(err)
	}
	return b
}

// ParseHeader decodes and validates the header at the start of b, which
// must hold at least HeaderBytes bytes.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < HeaderBytes {
		return h, reject(ReasonTruncated, "%d bytes, header needs %d", len(b), HeaderBytes)
	}
	h.Len = binary.BigEndian.Uint32(b[0:])
	h.Version = binary.BigEndian.Uint16(b[4:])
	h.Flags = binary.BigEndian.Uint16(b[6:])
	h.Code = binary.BigEndian.Uint16(b[8:])
	h.AppProto = binary.BigEndian.Uint16(b[10:])
	h.TenantHi = binary.BigEndian.Uint64(b[12:])
	h.TenantLo = binary.BigEndian.Uint64(b[20:])
	h.CapLen = binary.BigEndian.Uint16(b[28:])
	h.CorrID = binary.BigEndian.Uint64(b[30:])
	if h.Len > FrameBytesMax {
		return h, reject(ReasonFrameOversize, "declared length %d exceeds %d", h.Len, FrameBytesMax)
	}
	if h.Version != Version {
		return h, reject(ReasonHeaderMalformed, "version %d, want %d", h.Version, Version)
	}
	if int(h.Len) < HeaderBytes+int(h.CapLen) {
		return h, reject(ReasonHeaderMalformed, "declared length %d shorter than header and %d capability bytes", h.Len, h.CapLen)
	}
	if err := checkFlags(h.Flags, int(h.CapLen)); err != nil {
		return h, err
	}
	return h, nil
}

func checkFlags(flags uint16, capLen int) error {
	if flags&^flagsKnown != 0 {
		return reject(ReasonBadFlags, "unknown flag bits %#04x", flags&^flagsKnown)
	}
	if capLen > 0 && flags&FlagSTART == 0 {
		return reject(ReasonCapOnNonStart, "%d capability bytes on a frame without START", capLen)
	}
	if capLen > CapBytesMax {
		return reject(ReasonHeaderMalformed, "%d capability bytes exceed %d", capLen, CapBytesMax)
	}
	return nil
}

// Decode decodes exactly one whole frame from b (len(b) must equal the
// declared length). Cap and Payload alias b.
func Decode(b []byte) (Frame, error) {
	var f Frame
	h, err := ParseHeader(b)
	if err != nil {
		return f, err
	}
	if int(h.Len) != len(b) {
		if int(h.Len) > len(b) {
			return f, reject(ReasonTruncated, "declared length %d, have %d bytes", h.Len, len(b))
		}
		return f, reject(ReasonHeaderMalformed, "declared length %d, have %d bytes", h.Len, len(b))
	}
	f.Header = h
	f.Cap = b[HeaderBytes : HeaderBytes+int(h.CapLen)]
	f.Payload = b[HeaderBytes+int(h.CapLen):]
	return f, nil
}

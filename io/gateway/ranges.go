package gateway

import (
	"errors"
	"fmt"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"

	"github.com/ron-network/ron/core/proto"
)

// Range limits. Overlapping and adjacent ranges are merged, so the part
// bodies of a multi-range response never add up to more than the object
// ("bytes=0-,0-,0-" is one range); and a multi-range plan larger than
// RangeResponseFactorMax times the object plus MultipartSlackBytes (many
// tiny parts, each with its part header) is served as the whole object
// instead, so no response exceeds that bound.
const (
	// RangesMax bounds the ranges one request may ask for; more is
	// answered 416, so a client cannot make one request cost thousands of
	// reads.
	RangesMax = 16
	// RangeResponseFactorMax bounds a multi-range response against the
	// object size (MultipartSlackBytes aside); a plan beyond it is served
	// as the whole object instead (RFC 9110 allows ignoring Range).
	RangeResponseFactorMax = 2
	// MultipartSlackBytes is the constant part of that bound, for small
	// objects: a few part headers and the closing boundary.
	MultipartSlackBytes = 512
	// multipartPieceBytes bounds one storage read of a multi-range
	// response: the parts are streamed piece by piece, so a response holds
	// at most one piece, whatever its size.
	multipartPieceBytes = BufferedReadBytesMax
)

// byteRange is a satisfiable range [start, start+length) of an object.
type byteRange struct{ start, length uint64 }

// rangeVerdict is what parseRanges concluded.
type rangeVerdict uint8

const (
	rangeIgnore        rangeVerdict = iota // malformed or absent: serve the whole object (RFC 9110 14.2)
	rangeSatisfiable                       // serve the ranges returned
	rangeUnsatisfiable                     // 416
)

// parseRanges parses a Range header against an object of size bytes. It
// keeps the satisfiable ranges, sorted and coalesced (coalesceRanges); a
// header with none is unsatisfiable, and so is one with more than
// RangesMax ranges. Several ranges asking for more than MultipartBytesMax
// in all (overlaps counted again) are ignored: the whole object streams.
func parseRanges(header string, size uint64) ([]byteRange, rangeVerdict) {
	spec, ok := strings.CutPrefix(header, "bytes=")
	if !ok || strings.TrimSpace(spec) == "" {
		return nil, rangeIgnore
	}
	parts := strings.Split(spec, ",")
	if len(parts) > RangesMax {
		return nil, rangeUnsatisfiable
	}
	var out []byteRange
	for _, part := range parts {
		r, valid, satisfiable := parseRange(strings.TrimSpace(part), size)
		if !valid {
			return nil, rangeIgnore
		}
		if satisfiable {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, rangeUnsatisfiable
	}
	if len(out) > 1 && requestedBytes(out) > MultipartBytesMax {
		return nil, rangeIgnore // cheaper as the whole object, streamed
	}
	return coalesceRanges(out), rangeSatisfiable
}

// requestedBytes adds up the ranges as asked, overlaps counted again.
func requestedBytes(ranges []byteRange) uint64 {
	var total uint64
	for _, r := range ranges {
		total += r.length
	}
	return total
}

// coalesceRanges sorts ranges by start and merges those that overlap or
// touch (RFC 9110 14.2 lets a server coalesce; it must not serve
// overlapping ranges many times over).
func coalesceRanges(ranges []byteRange) []byteRange {
	slices.SortFunc(ranges, func(a, b byteRange) int {
		switch {
		case a.start < b.start:
			return -1
		case a.start > b.start:
			return 1
		}
		return 0
	})
	out := ranges[:1]
	for _, r := range ranges[1:] {
		last := &out[len(out)-1]
		end := last.start + last.length
		if r.start <= end {
			last.length = max(end, r.start+r.length) - last.start
			continue
		}
		out = append(out, r)
	}
	return out
}

// parseRange parses "a-b", "a-" or "-n". A position too large for a
// uint64 is still a position (RFC 9110 14.1.1 sets no bound): a first
// byte past the end is unsatisfiable, a last byte or a suffix past the
// end reaches the end.
func parseRange(s string, size uint64) (r byteRange, valid, satisfiable bool) {
	first, last, ok := strings.Cut(s, "-")
	if !ok {
		return byteRange{}, false, false
	}
	if first == "" { // suffix: the last n bytes
		n, ok := position(last)
		if !ok {
			return byteRange{}, false, false
		}
		if n == 0 || size == 0 {
			return byteRange{}, true, false
		}
		n = min(n, size)
		return byteRange{start: size - n, length: n}, true, true
	}
	start, ok := position(first)
	if !ok {
		return byteRange{}, false, false
	}
	end := size - 1
	if last != "" {
		e, ok := position(last)
		if !ok || decimalLess(last, first) {
			return byteRange{}, false, false
		}
		end = min(e, end)
	}
	if start >= size {
		return byteRange{}, true, false
	}
	return byteRange{start: start, length: end - start + 1}, true, true
}

// position parses a byte position of ASCII digits; one past
// math.MaxUint64 is math.MaxUint64, past the end of any object.
func position(s string) (uint64, bool) {
	if !digits(s) {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		return math.MaxUint64, true
	}
	return n, err == nil
}

// decimalLess compares two strings of digits as numbers of any size.
func decimalLess(a, b string) bool {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// digits reports whether s is non-empty ASCII digits (ParseUint accepts
// "+1" and underscores in some bases; a Range header does not).
func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// multipartPlan is a multi-range response: its boundary, the header of
// each part and its exact length.
type multipartPlan struct {
	boundary string
	headers  []textproto.MIMEHeader
	bytes    uint64
}

// planMultipart computes the response by running a multipart writer over
// a counter with empty parts.
func planMultipart(ranges []byteRange, size uint64) multipartPlan {
	var count countingWriter
	mw := multipart.NewWriter(&count)
	plan := multipartPlan{boundary: mw.Boundary()}
	for _, r := range ranges {
		hdr := textproto.MIMEHeader{}
		hdr.Set("Content-Type", "application/octet-stream")
		hdr.Set("Content-Range", contentRange(r, size))
		plan.headers = append(plan.headers, hdr)
		_, _ = mw.CreatePart(hdr)
		plan.bytes += r.length
	}
	_ = mw.Close()
	plan.bytes += count.n
	return plan
}

type countingWriter struct{ n uint64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += uint64(len(p))
	return len(p), nil
}

// serveMultipart streams a multipart/byteranges response part by part,
// piece by piece (multipartPieceBytes), so its memory does not grow with
// the ranges. The first piece is read before the headers go out, so a
// node that cannot read at all still gets an envelope; a failure later
// aborts the connection, like any streamed body.
func (g *Gateway) serveMultipart(req *request, addr proto.Addr, ranges []byteRange, size uint64) *apiError {
	plan := planMultipart(ranges, size)
	if plan.bytes > RangeResponseFactorMax*size+MultipartSlackBytes {
		return g.serveWhole(req, addr, size) // many tiny parts: never amplify
	}
	if held, e := g.bodySlot(req, plan.bytes); e != nil { // held as long as a streamed body
		return e
	} else if held {
		defer g.streams.release()
	}
	first, _, e := g.read(req, addr, ranges[0].start, min(ranges[0].length, multipartPieceBytes))
	if e != nil {
		return e
	}
	req.w.Header().Set("Content-Type", "multipart/byteranges; boundary="+plan.boundary)
	req.w.Header().Set("Content-Length", strconv.FormatUint(plan.bytes, 10))
	req.w.WriteHeader(http.StatusPartialContent)
	mw := multipart.NewWriter(req.w)
	_ = mw.SetBoundary(plan.boundary)
	for i, r := range ranges {
		pw, err := mw.CreatePart(plan.headers[i])
		if err != nil {
			return nil // the client went away
		}
		if err := g.copyRange(req, pw, addr, r, first); err != nil {
			g.abortResponse(req, err)
		}
		first = nil
	}
	_ = mw.Close()
	return nil
}

// copyRange writes range r of addr to w piece by piece; first, when not
// nil, is its first piece, already read.
func (g *Gateway) copyRange(req *request, w io.Writer, addr proto.Addr, r byteRange, first []byte) error {
	for off := uint64(0); off < r.length; {
		piece := first
		if piece == nil {
			data, _, e := g.readRetrying(req, addr, r.start+off, min(r.length-off, multipartPieceBytes))
			if e != nil {
				return e
			}
			piece = data
		}
		first = nil
		if len(piece) == 0 || uint64(len(piece)) > r.length-off {
			return fmt.Errorf("gateway: range read of %d bytes at %d answered %d", r.length-off, r.start+off, len(piece))
		}
		if _, err := w.Write(piece); err != nil {
			return err
		}
		off += uint64(len(piece))
	}
	return nil
}

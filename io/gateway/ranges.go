package gateway

import (
	"strconv"
	"strings"
)

// RangesMax bounds the ranges one request may ask for; more is answered
// 416, so a client cannot make one request cost thousands of reads.
const RangesMax = 16

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
// keeps the satisfiable ranges in request order; a header with none is
// unsatisfiable, and so is one with more than RangesMax ranges.
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
	return out, rangeSatisfiable
}

// parseRange parses "a-b", "a-" or "-n".
func parseRange(s string, size uint64) (r byteRange, valid, satisfiable bool) {
	first, last, ok := strings.Cut(s, "-")
	if !ok {
		return byteRange{}, false, false
	}
	if first == "" { // suffix: the last n bytes
		n, err := strconv.ParseUint(last, 10, 64)
		if err != nil || !digits(last) {
			return byteRange{}, false, false
		}
		if n == 0 || size == 0 {
			return byteRange{}, true, false
		}
		n = min(n, size)
		return byteRange{start: size - n, length: n}, true, true
	}
	start, err := strconv.ParseUint(first, 10, 64)
	if err != nil || !digits(first) {
		return byteRange{}, false, false
	}
	end := size - 1
	if last != "" {
		e, err := strconv.ParseUint(last, 10, 64)
		if err != nil || !digits(last) || e < start {
			return byteRange{}, false, false
		}
		end = min(e, end)
	}
	if start >= size {
		return byteRange{}, true, false
	}
	return byteRange{start: start, length: end - start + 1}, true, true
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

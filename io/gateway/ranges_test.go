package gateway

import (
	"fmt"
	"testing"
)

// Cases from RFC 9110 section 14.1.2 (a 10000-byte representation) and
// the edges of the grammar.
func TestParseRanges(t *testing.T) {
	cases := []struct {
		header  string
		size    uint64
		verdict rangeVerdict
		want    string
	}{
		{"bytes=0-499", 10000, rangeSatisfiable, "[{0 500}]"},
		{"bytes=500-999", 10000, rangeSatisfiable, "[{500 500}]"},
		{"bytes=-500", 10000, rangeSatisfiable, "[{9500 500}]"},
		{"bytes=9500-", 10000, rangeSatisfiable, "[{9500 500}]"},
		{"bytes=0-0,-1", 10000, rangeSatisfiable, "[{0 1} {9999 1}]"},
		{"bytes= 0-999, 4500-5499, -1000", 10000, rangeSatisfiable, "[{0 1000} {4500 1000} {9000 1000}]"},
		{"bytes=0-99999", 10000, rangeSatisfiable, "[{0 10000}]"},
		{"bytes=-20000", 10000, rangeSatisfiable, "[{0 10000}]"},
		{"bytes=10000-", 10000, rangeUnsatisfiable, "[]"},
		{"bytes=-0", 10000, rangeUnsatisfiable, "[]"},
		{"bytes=0-", 0, rangeUnsatisfiable, "[]"},
		{"bytes=5-2", 10000, rangeIgnore, "[]"},
		// Positions past a uint64 are positions past the end (RFC 9110
		// 14.1.1 sets no bound): unsatisfiable as a first byte, the end
		// as a last byte or a suffix.
		{"bytes=99999999999999999999-", 10000, rangeUnsatisfiable, "[]"},
		{"bytes=18446744073709551616-", 10000, rangeUnsatisfiable, "[]"},
		{"bytes=99999999999999999999-99999999999999999999", 10000, rangeUnsatisfiable, "[]"},
		{"bytes=0-99999999999999999999", 10000, rangeSatisfiable, "[{0 10000}]"},
		{"bytes=9999-000000000000000000000000000000", 10000, rangeIgnore, "[]"},
		{"bytes=9990-00000000000000000000000000009995", 10000, rangeSatisfiable, "[{9990 6}]"},
		{"bytes=-99999999999999999999", 10000, rangeSatisfiable, "[{0 10000}]"},
		{"bytes=0-0,99999999999999999999-", 10000, rangeSatisfiable, "[{0 1}]"},
		{"bytes=99999999999999999999-99999999999999999998", 10000, rangeIgnore, "[]"},
		{"bytes=18446744073709551615-18446744073709551616", 10000, rangeUnsatisfiable, "[]"},
		{"bytes=a-b", 10000, rangeIgnore, "[]"},
		{"bytes=+1-2", 10000, rangeIgnore, "[]"},
		{"items=0-1", 10000, rangeIgnore, "[]"},
		{"bytes=", 10000, rangeIgnore, "[]"},
		{"bytes=1", 10000, rangeIgnore, "[]"},
		{"bytes=0-0,1-1,2-2,3-3,4-4,5-5,6-6,7-7,8-8,9-9,10-10,11-11,12-12,13-13,14-14,15-15,16-16", 10000, rangeUnsatisfiable, "[]"},
		// Overlapping, adjacent, close and out-of-order ranges coalesce.
		{"bytes=0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-", 10000, rangeSatisfiable, "[{0 10000}]"},
		{"bytes=500-999,0-499", 10000, rangeSatisfiable, "[{0 1000}]"},
		{"bytes=0-9,100-109", 10000, rangeSatisfiable, "[{0 10} {100 10}]"},
		{"bytes=0-9,10-19", 10000, rangeSatisfiable, "[{0 20}]"},
		{"bytes=5000-5999,-1,0-0,5500-6500", 10000, rangeSatisfiable, "[{0 1} {5000 1501} {9999 1}]"},
		{"bytes=0-0,1-1,2-2,3-3,4-4,5-5,6-6,7-7,8-8,9-9,10-10,11-11,12-12,13-13,14-14,15-15", 10000, rangeSatisfiable, "[{0 16}]"},
	}
	for _, c := range cases {
		got, verdict := parseRanges(c.header, c.size)
		s := fmt.Sprint(got)
		if got == nil {
			s = "[]"
		}
		if verdict != c.verdict || s != c.want {
			t.Errorf("parseRanges(%q, %d) = %s %d, want %s %d", c.header, c.size, s, verdict, c.want, c.verdict)
		}
	}
}

// FuzzParseRanges: whatever the header, satisfiable ranges lie inside the
// object, are non-empty and at most RangesMax; other verdicts return none.
func FuzzParseRanges(f *testing.F) {
	for _, seed := range []string{"bytes=0-499", "bytes=-500", "bytes=9500-", "bytes=0-0,-1", "bytes=18446744073709551615-", "bytes=-18446744073709551616", "bytes=1-0"} {
		f.Add(seed, uint64(10000))
	}
	f.Add("bytes=0-", uint64(0))
	f.Fuzz(func(t *testing.T, header string, size uint64) {
		got, verdict := parseRanges(header, size)
		if verdict != rangeSatisfiable {
			if len(got) != 0 {
				t.Fatalf("verdict %d with ranges %v", verdict, got)
			}
			return
		}
		if len(got) == 0 || len(got) > RangesMax {
			t.Fatalf("satisfiable with %d ranges", len(got))
		}
		for _, r := range got {
			if r.length == 0 || r.start >= size || r.length > size-r.start {
				t.Fatalf("range %+v outside an object of %d bytes", r, size)
			}
		}
	})
}

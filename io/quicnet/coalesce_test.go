package quicnet

import (
	"bytes"
	"testing"
)

// A batch leaves in as few stream writes as coalesceBytesMax allows, with
// the stream's bytes unchanged (frames in order, none split or dropped).
func TestCoalesceJoinsFramesUpToTheBound(t *testing.T) {
	small := func(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }
	big := small('B', coalesceBytesMax)
	cases := []struct {
		name   string
		batch  [][]byte
		writes int
	}{
		{"one frame", [][]byte{small('a', 10)}, 1},
		{"small frames", [][]byte{small('a', 10), small('b', 20), small('c', 30)}, 1},
		{"a big frame alone", [][]byte{small('a', 10), big, small('c', 30)}, 3},
		{"up to the bound", [][]byte{small('a', coalesceBytesMax/2), small('b', coalesceBytesMax/2), small('c', 1)}, 2},
	}
	for _, tc := range cases {
		var want, got []byte
		for _, f := range tc.batch {
			want = append(want, f...)
		}
		var buf []byte
		writes := 0
		for rest := tc.batch; len(rest) > 0; {
			out, n, reuse := coalesce(rest, buf)
			if n < 1 || len(out) > coalesceBytesMax && n > 1 {
				t.Fatalf("%s: a write of %d bytes holding %d frames", tc.name, len(out), n)
			}
			got = append(got, out...)
			buf, rest = reuse, rest[n:]
			writes++
		}
		if writes != tc.writes || !bytes.Equal(got, want) {
			t.Fatalf("%s: %d writes (want %d), bytes equal %v", tc.name, writes, tc.writes, bytes.Equal(got, want))
		}
	}
}

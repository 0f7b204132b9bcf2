//go:build canary

package oap

import "testing"

// FuzzCanary proves the fuzzing setup can find a bug (STYLE 19): it runs
// FuzzDecode's property (an accepted frame re-encodes to its input) against
// a decoder with a planted bug, and must FAIL within seconds. Run it with
//
//	go test -tags canary -run '^$' -fuzz '^FuzzCanary$' -fuzztime 60s ./core/proto/oap/
//
// If it passes, coverage-guided fuzzing is broken (no instrumentation, a
// corpus that is not loaded, a target that swallows panics) and the other
// fuzzers' silence means nothing. The failing input is written to
// testdata/fuzz/FuzzCanary/; delete it afterwards.
func FuzzCanary(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		data = data[:len(data):len(data)] // any read past the input panics
		frame, err := plantedBugDecode(data)
		if err != nil {
			return
		}
		if again, err := Encode(&frame); err != nil || string(again) != string(data) {
			t.Fatalf("re-encode differs: %v", err)
		}
	})
}

// plantedBugDecode is Decode with a realistic planted bug: the payload
// length forgets to subtract the capability bytes. Seeds carry no
// capability, so the fuzzer must climb two coverage steps: set cap_len
// (reaching the cap_on_non_start rejection, new coverage), then set START
// on that input, which makes the frame valid and the slice overrun.
func plantedBugDecode(b []byte) (Frame, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return Frame{}, err
	}
	if int(h.Len) != len(b) {
		return Frame{}, reject(ReasonTruncated, "declared length %d, have %d bytes", h.Len, len(b))
	}
	capEnd := HeaderBytes + int(h.CapLen)
	payloadBytes := int(h.Len) - HeaderBytes // BUG (planted): should also subtract h.CapLen
	return Frame{Header: h, Cap: b[HeaderBytes:capEnd], Payload: b[capEnd : capEnd+payloadBytes]}, nil
}

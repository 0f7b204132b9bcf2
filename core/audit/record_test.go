package audit

import (
	"errors"
	"fmt"
	"testing"

	"pgregory.net/rapid"
)

// chain builds a valid chain of n records the way the service does.
func chain(n int) []Record {
	var out []Record
	var head Head
	for i := 1; i <= n; i++ {
		r := Record{Seq: uint64(i), Time: 1000 * 1_000_000_000, Kind: Kind(1 + i%int(kindLast)),
			Actor: "key:cap", Tenant: "acme", Subject: fmt.Sprintf("name-%d", i), Detail: "d", Prev: head.Hash}
		head = Head{Seq: r.Seq, Hash: r.Hash()}
		out = append(out, r)
	}
	return out
}

func TestRecordRoundTrip(t *testing.T) {
	for _, r := range chain(5) {
		back, err := UnmarshalRecord(r.Marshal())
		if err != nil || back != r {
			t.Fatalf("round trip: %+v, %v", back, err)
		}
	}
	r := chain(1)[0]
	r.Kind = 0
	if _, err := UnmarshalRecord(r.Marshal()); !errors.Is(err, ErrMalformed) {
		t.Fatalf("kind 0 decoded: %v", err)
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	const n = 8
	good := chain(n)
	head := HeadOf(good)
	if i, err := Verify(good); i != -1 || err != nil {
		t.Fatalf("good chain: %d, %v", i, err)
	}
	if i, err := VerifyHead(good, head); i != -1 || err != nil {
		t.Fatalf("good chain with head: %d, %v", i, err)
	}
	cases := []struct {
		name      string
		mutate    func([]Record) []Record
		wantBad   int  // firstBad from Verify, or -1 if Verify cannot see it
		headCatch bool // VerifyHead must catch it
	}{
		{"alter detail of record 3", func(r []Record) []Record { r[3].Detail = "x"; return r }, 3, true},
		{"alter time of record 0", func(r []Record) []Record { r[0].Time++; return r }, 0, true},
		{"flip a prev bit of record 5", func(r []Record) []Record { r[5].Prev[7] ^= 1; return r }, 4, true},
		{"remove record 4", func(r []Record) []Record { return append(r[:4:4], r[5:]...) }, 3, true},
		{"remove record 0", func(r []Record) []Record { return r[1:] }, 0, true},
		{"swap records 2 and 3", func(r []Record) []Record { r[2], r[3] = r[3], r[2]; return r }, 1, true},
		{"insert a forged record after 2", func(r []Record) []Record {
			forged := r[2]
			forged.Seq, forged.Prev, forged.Subject = 4, r[2].Hash(), "forged"
			return append(r[:3:3], append([]Record{forged}, r[3:]...)...)
		}, 3, true},
		{"alter the last record", func(r []Record) []Record { r[n-1].Subject = "x"; return r }, -1, true},
		{"remove the tail", func(r []Record) []Record { return r[:n-2] }, -1, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			records := c.mutate(append([]Record(nil), good...))
			i, err := Verify(records)
			if i != c.wantBad || (c.wantBad >= 0) != errors.Is(err, ErrBroken) {
				t.Fatalf("Verify = %d, %v; want firstBad %d", i, err, c.wantBad)
			}
			if i, err := VerifyHead(records, head); c.headCatch && (i < 0 || !errors.Is(err, ErrBroken)) {
				t.Fatalf("VerifyHead = %d, %v; want a detection", i, err)
			}
		})
	}
}

// Any single edit of a chain (change a field, drop, duplicate, swap,
// truncate) is caught by VerifyHead against the original head, and
// firstBad never claims a changed record as proven.
func TestPropertyAnyEditIsDetected(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 12).Draw(t, "n")
		good := chain(n)
		head := HeadOf(good)
		records := append([]Record(nil), good...)
		i := rapid.IntRange(0, n-1).Draw(t, "i")
		firstChanged := i
		switch rapid.IntRange(0, 4).Draw(t, "edit") {
		case 0:
			records[i].Actor += "!"
		case 1:
			records = append(records[:i:i], records[i+1:]...)
		case 2:
			records = append(records[:i+1:i+1], records[i:]...)
			firstChanged = i + 1
		case 3:
			j := rapid.IntRange(0, n-1).Filter(func(j int) bool { return j != i }).Draw(t, "j")
			records[i], records[j] = records[j], records[i]
			firstChanged = min(i, j)
		case 4:
			records = records[:i]
		}
		bad, err := VerifyHead(records, head)
		if err == nil {
			t.Fatalf("edit not detected")
		}
		if bad > firstChanged {
			t.Fatalf("firstBad %d claims the changed record %d as proven", bad, firstChanged)
		}
	})
}

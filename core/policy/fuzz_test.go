package policy

import (
	"errors"
	"testing"

	"github.com/ron-network/ron/core/auth"
)

// FuzzPolicyLoad: loading never panics; a rejected bundle is an *Error
// wrapping ErrInvalid and leaves the bundle in force untouched; an
// accepted bundle decides requests without panicking and is bounded.
// Seeds: testdata/fuzz/FuzzPolicyLoad plus the bundles below.
func FuzzPolicyLoad(f *testing.F) {
	f.Add([]byte(goodBundle))
	f.Add([]byte("version: 1\nname: b\nrules: []\n"))
	f.Add([]byte("version: 1\nname: b\nrules:\n  - {name: x, effect: allow, match: {ops: [read], min_bytes: 1, max_bytes: 2}}\n"))
	f.Add([]byte("version: 1\nname: b\nrules:\n  - name: x\n    effect: allow\n    match:\n      opz: [read]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		e := NewEngine()
		if err := e.Load([]byte(goodBundle)); err != nil {
			t.Fatal(err)
		}
		before := e.Bundle()
		err := e.Load(data)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not a *policy.Error", err)
			}
			if e.Bundle() != before {
				t.Fatalf("rejected bundle replaced the one in force")
			}
			return
		}
		b := e.Bundle()
		if len(b.Rules) > RulesMax {
			t.Fatalf("%d rules accepted", len(b.Rules))
		}
		for op := auth.OpRead; op <= auth.OpAdmin; op++ {
			d := e.Decide(Request{Tenant: "acme", Op: op, Resource: "b3:00", Bytes: 10, Tags: []string{"console"}})
			if d.Rule >= len(b.Rules) || (d.Rule < 0 && d.Allow) {
				t.Fatalf("decision %+v out of range", d)
			}
		}
	})
}

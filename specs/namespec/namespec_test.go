package namespec

import (
	"testing"

	"pgregory.net/rapid"
)

func genOp(t *rapid.T) Op {
	owners := []string{"alice", "bob", "carol"}
	return Op{
		Kind:   Kind(rapid.IntRange(1, 3).Draw(t, "kind")),
		Owner:  rapid.SampledFrom(owners).Draw(t, "owner"),
		Target: rapid.SampledFrom([]string{"t1", "t2", "t3"}).Draw(t, "target"),
		Seq:    rapid.Uint64Range(0, 6).Draw(t, "seq"),
	}
}

// TestProperties checks the contract's properties on random histories:
// seq rises by exactly one per ok set and never otherwise; the owner never
// changes once claimed; a claim is taken iff claimed by another owner;
// resolve never changes the state and reports it exactly.
func TestProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var s State
		for i := rapid.IntRange(0, 60).Draw(t, "n"); i > 0; i-- {
			op := genOp(t)
			next, out := Step(s, op)
			switch op.Kind {
			case Claim:
				if (out.Outcome == Taken) != (s.Claimed && s.Owner != op.Owner) {
					t.Fatalf("claim by %s on %+v gave %v", op.Owner, s, out.Outcome)
				}
				if !next.Claimed || (s.Claimed && next != s) {
					t.Fatalf("claim changed %+v to %+v", s, next)
				}
			case Set:
				if out.Outcome == OK {
					if next.Seq != s.Seq+1 || next.Target != op.Target || next.Owner != s.Owner {
						t.Fatalf("ok set %+v: %+v -> %+v", op, s, next)
					}
				} else if next != s {
					t.Fatalf("failed set %v changed %+v to %+v", out.Outcome, s, next)
				}
			case Resolve:
				if next != s || out.Found != s.Claimed || (s.Claimed && (out.Seq != s.Seq || out.Target != s.Target || out.Owner != s.Owner)) {
					t.Fatalf("resolve of %+v gave %+v", s, out)
				}
			}
			if s.Claimed && next.Owner != s.Owner {
				t.Fatalf("owner changed from %s to %s", s.Owner, next.Owner)
			}
			s = next
		}
	})
}

// TestTable pins each branch of Step with hand-derived cases.
func TestTable(t *testing.T) {
	claimed := State{Claimed: true, Owner: "a", Target: "x", Seq: 2}
	cases := []struct {
		s    State
		op   Op
		want Outcome
		next State
	}{
		{State{}, Op{Kind: Claim, Owner: "a"}, OK, State{Claimed: true, Owner: "a"}},
		{claimed, Op{Kind: Claim, Owner: "a"}, OK, claimed},
		{claimed, Op{Kind: Claim, Owner: "b"}, Taken, claimed},
		{State{}, Op{Kind: Set, Owner: "a", Target: "y", Seq: 1}, NotFound, State{}},
		{claimed, Op{Kind: Set, Owner: "b", Target: "y", Seq: 3}, NotOwner, claimed},
		{claimed, Op{Kind: Set, Owner: "a", Target: "y", Seq: 2}, StaleSeq, claimed},
		{claimed, Op{Kind: Set, Owner: "a", Target: "y", Seq: 4}, StaleSeq, claimed},
		{claimed, Op{Kind: Set, Owner: "a", Target: "y", Seq: 3}, OK, State{Claimed: true, Owner: "a", Target: "y", Seq: 3}},
	}
	for i, c := range cases {
		next, out := Step(c.s, c.op)
		if out.Outcome != c.want || next != c.next {
			t.Errorf("case %d: got %v %+v, want %v %+v", i, out.Outcome, next, c.want, c.next)
		}
	}
}

package check

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/ron-network/ron/sim/workload"
	"github.com/ron-network/ron/specs/namespec"
)

// randomHistory is a small history of one or two names: operations on
// random overlapping intervals whose outputs come from applying namespec
// in a random order consistent with real time (so the history is
// linearizable), some with unknown outcome (whose effect the execution
// drew), then, when mutate is set, one output changed, which often makes
// it not linearizable.
func randomHistory(r *rand.Rand, mutate bool) *workload.History {
	return genHistory(r, mutate, 4+r.IntN(10), 1+r.IntN(2), 100)
}

// genHistory is randomHistory with n ops over names names, called within
// [0, span).
func genHistory(r *rand.Rand, mutate bool, n, names int, span int) *workload.History {
	type pending struct {
		op    *workload.Op
		point float64
		apply bool // for an unknown outcome: did it take effect
	}
	owners := []string{"aa", "bb"}
	nameList := make([]string, names)
	for i := range nameList {
		nameList[i] = fmt.Sprintf("n%d", i)
	}
	var ps []*pending
	target := 0
	sets := map[string]uint64{}
	for i := 0; i < n; i++ {
		call := int64(r.IntN(span))
		ret := call + 1 + int64(r.IntN(40))
		op := &workload.Op{Client: r.IntN(4), Name: nameList[r.IntN(len(nameList))], Call: call}
		switch k := r.IntN(10); {
		case k < 2:
			op.Kind = workload.OpClaim
			op.Input = map[string]any{"owner": owners[r.IntN(2)]}
		case k < 6:
			op.Kind = workload.OpSet
			target++
			t := fmt.Sprintf("t%d", target)
			if r.IntN(8) == 0 && target > 1 {
				t = fmt.Sprintf("t%d", target-1) // a shared target now and then
			}
			seq := uint64(r.IntN(4))
			if r.IntN(3) > 0 { // mostly the next seq, so that chains of unknown Sets form
				sets[op.Name]++
				seq = sets[op.Name]
			}
			op.Input = map[string]any{"owner": owners[r.IntN(4)/3], "target": t, "seq": seq}
		default:
			op.Kind = workload.OpResolve
			op.Input = map[string]any{}
		}
		rv := ret
		op.Return = &rv
		ps = append(ps, &pending{op: op, point: float64(call) + r.Float64()*float64(ret-call), apply: r.IntN(2) == 0})
	}
	order := append([]*pending(nil), ps...)
	sort.SliceStable(order, func(a, b int) bool { return order[a].point < order[b].point })
	states := map[string]namespec.State{}
	for _, p := range order {
		in, _ := toInput(p.op)
		unknown := r.IntN(3) == 0
		failed := !unknown && r.IntN(8) == 0
		s := states[p.op.Name]
		next, out := namespec.Step(s, in.op)
		switch {
		case unknown:
			p.op.Return = nil
			if p.apply {
				states[p.op.Name] = next
			}
		case failed:
			p.op.Output = map[string]any{"ok": false, "error": "unavailable"}
		default:
			states[p.op.Name] = next
			p.op.Output = outputMap(p.op.Kind, out)
		}
	}
	if mutate {
		var known []*workload.Op
		for _, p := range ps {
			if p.op.Return != nil {
				known = append(known, p.op)
			}
		}
		if len(known) > 0 {
			op := known[r.IntN(len(known))]
			switch op.Kind {
			case workload.OpResolve:
				op.Output = map[string]any{"found": true, "owner": owners[r.IntN(2)], "target": fmt.Sprintf("t%d", 1+r.IntN(target+1)), "seq": uint64(r.IntN(4))}
			default:
				op.Output = outputMap(op.Kind, namespec.Output{Outcome: namespec.Outcome(r.IntN(5))})
			}
		}
	}
	h := &workload.History{}
	for _, p := range ps {
		h.Ops = append(h.Ops, p.op)
	}
	return h
}

func outputMap(kind string, out namespec.Output) map[string]any {
	if kind == workload.OpResolve {
		if !out.Found {
			return map[string]any{"found": false}
		}
		return map[string]any{"found": true, "owner": out.Owner, "target": out.Target, "seq": out.Seq}
	}
	if out.Outcome == namespec.OK {
		return map[string]any{"ok": true}
	}
	return map[string]any{"ok": false, "error": out.Outcome.String()}
}

// TestReduceKeepsVerdicts: porcupine gives the same verdict on the reduced
// history as on the whole one, over thousands of random small histories,
// linearizable or not.
func TestReduceKeepsVerdicts(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 5))
	counts := map[string]int{}
	var dropped, unseen, decided int
	for i := 0; i < 20000; i++ {
		h := randomHistory(r, i%2 == 1)
		ops, err := Operations(h)
		if err != nil {
			t.Fatal(err)
		}
		whole := porcupine.CheckOperationsTimeout(Model(), ops, 10*time.Second)
		reduced, red := reduce(append([]porcupine.Operation(nil), ops...))
		got := porcupine.CheckOperationsTimeout(Model(), reduced, 10*time.Second)
		if got != whole {
			for _, op := range h.Ops {
				ret := int64(math.MaxInt64)
				if op.Return != nil {
					ret = *op.Return
				}
				t.Logf("%d %s %s in=%v out=%v [%d, %d]", op.Client, op.Kind, op.Name, op.Input, op.Output, op.Call, ret)
			}
			t.Fatalf("history %d: reduced verdict %s, whole %s (%+v)", i, got, whole, red)
		}
		counts[string(whole)]++
		dropped += red.Dropped
		decided += red.Decided
		unseen += red.Unseen
	}
	t.Logf("verdicts %v; reduce dropped %d ops without effect, %d unseen sets, decided %d", counts, dropped, unseen, decided)
	if counts[string(porcupine.Ok)] < 5000 || counts[string(porcupine.Illegal)] < 2500 || decided < 50 || dropped == 0 || unseen < 50 {
		t.Fatalf("the generator does not exercise both verdicts and every rule: %v, dropped %d, unseen %d, decided %d", counts, dropped, unseen, decided)
	}
}

// BenchmarkLinearizableReduce: porcupine on a long linearizable history of
// 4 names (2,000 ops, a third of unknown outcome: far more than the
// registry scenarios have), with and without the reduction.
func BenchmarkLinearizableReduce(b *testing.B) {
	h := genHistory(rand.New(rand.NewPCG(14, 6)), false, 2000, 4, 4000)
	ops, err := Operations(h)
	if err != nil {
		b.Fatal(err)
	}
	for _, reduced := range []bool{false, true} {
		b.Run(fmt.Sprintf("reduced=%v", reduced), func(b *testing.B) {
			for b.Loop() {
				in := append([]porcupine.Operation(nil), ops...)
				if reduced {
					in, _ = reduce(in)
				}
				if res := porcupine.CheckOperationsTimeout(Model(), in, time.Minute); res != porcupine.Ok {
					b.Fatalf("verdict %s", res)
				}
			}
		})
	}
}

package check

import (
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/ron-network/ron/sim/workload"
	"github.com/ron-network/ron/specs/namespec"
)

// LinTimeoutDefault bounds porcupine's search per run. An Unknown verdict
// (the budget ran out) fails the check: it is never reported as a pass.
// The budget is a backstop, not the bound: reduce (linreduce.go) leaves
// porcupine histories whose widest name has a handful of operations open
// at once (the Width the verdict reports), and over the lincheck sweeps the
// slowest check took well under a second of CPU (BENCHMARKS.md, "Simulator
// speed (issue 14.5)"). A check that still ran out would say so, with the
// width, rather than pass.
const LinTimeoutDefault = 20 * time.Second

// linInput is what porcupine sees of an operation.
type linInput struct {
	name string
	op   namespec.Op
}

// linOutput is a definite outcome. noop marks outcomes that say the
// operation never took effect (unavailable, failed replica, rejected at
// ingress): they linearize anywhere without changing the state.
type linOutput struct {
	noop bool
	out  namespec.Output
}

// Lin is the linearizability verdict with what is needed to visualise it.
type Lin struct {
	Result porcupine.CheckResult
	Names  int
	Ops    int
	// Checked is how many operations porcupine searched after reduce,
	// Pending how many of those had no known outcome.
	Checked, Pending int
	// Width is the most ops of one name open at one instant (linReduction).
	Width    int
	Duration time.Duration
	// CPUSeconds is the process's CPU time (all threads) during the check:
	// steadier than Duration on a loaded machine.
	CPUSeconds float64
	info       porcupine.LinearizationInfo
}

// Verdict is the linearizable check's result for this verdict, the one
// wording ronsim run and ronsim real both report: Ok passes; Unknown (the
// checker ran out of time) and Illegal fail.
func (l *Lin) Verdict() Result {
	detail := fmt.Sprintf("%d ops over %d names: %s (porcupine %.3fs over %d ops, %d of unknown outcome, at most %d open at once on a name)",
		l.Ops, l.Names, l.Result, l.Duration.Seconds(), l.Checked, l.Pending, l.Width)
	switch l.Result {
	case porcupine.Ok:
		return Result{Name: "linearizable", OK: true, Detail: detail}
	case porcupine.Unknown:
		return Result{Name: "linearizable", Detail: detail + ": the checker ran out of time; Unknown is not a pass"}
	}
	return Result{Name: "linearizable", Detail: detail + ": NOT linearizable"}
}

// Model is the porcupine model of one name, built on specs/namespec. An op
// with an unknown outcome may or may not have taken effect, so the model is
// nondeterministic.
func Model() porcupine.Model {
	nm := &porcupine.NondeterministicModel{
		Partition: partitionByName,
		Init:      func() []any { return []any{namespec.State{}} },
		Step: func(state, input, output any) []any {
			s := state.(namespec.State)
			in := input.(linInput)
			next, out := namespec.Step(s, in.op)
			if output == nil {
				if next == s {
					return []any{s}
				}
				return []any{s, next}
			}
			o := output.(linOutput)
			if o.noop {
				return []any{s}
			}
			if o.out == out {
				return []any{next}
			}
			return nil
		},
		Equal:             func(a, b any) bool { return a.(namespec.State) == b.(namespec.State) },
		DescribeOperation: describeOp,
		DescribeState:     describeState,
	}
	return nm.ToModel()
}

func partitionByName(history []porcupine.Operation) [][]porcupine.Operation {
	byName := map[string][]porcupine.Operation{}
	for _, op := range history {
		name := op.Input.(linInput).name
		byName[name] = append(byName[name], op)
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([][]porcupine.Operation, 0, len(names))
	for _, n := range names {
		out = append(out, byName[n])
	}
	return out
}

// Operations converts a history to porcupine operations. Stale resolves
// are not linearizable by design and are left out (StaleReads checks them).
func Operations(h *workload.History) ([]porcupine.Operation, error) {
	var ops []porcupine.Operation
	for i, op := range h.Ops {
		if op.Kind == workload.OpStaleResolve {
			continue
		}
		in, err := toInput(op)
		if err != nil {
			return nil, fmt.Errorf("history op %d: %w", i, err)
		}
		p := porcupine.Operation{ClientId: op.Client, Input: in, Call: op.Call, Return: math.MaxInt64}
		if !op.Unknown() {
			out, err := toOutput(op)
			if err != nil {
				return nil, fmt.Errorf("history op %d: %w", i, err)
			}
			p.Output = out
			p.Return = *op.Return
		}
		ops = append(ops, p)
	}
	return ops, nil
}

func toInput(op *workload.Op) (linInput, error) {
	in := linInput{name: op.Name}
	switch op.Kind {
	case workload.OpClaim:
		in.op = namespec.Op{Kind: namespec.Claim, Owner: str(op.Input["owner"])}
	case workload.OpSet:
		seq, _ := op.Input["seq"].(uint64)
		in.op = namespec.Op{Kind: namespec.Set, Owner: str(op.Input["owner"]), Target: str(op.Input["target"]), Seq: seq}
	case workload.OpResolve:
		in.op = namespec.Op{Kind: namespec.Resolve}
	default:
		return in, fmt.Errorf("unknown op %q", op.Kind)
	}
	return in, nil
}

var outcomeByCode = map[string]namespec.Outcome{
	"taken": namespec.Taken, "not_found": namespec.NotFound, "not_owner": namespec.NotOwner, "stale_seq": namespec.StaleSeq,
}

func toOutput(op *workload.Op) (linOutput, error) {
	o := op.Output
	if op.Kind == workload.OpResolve {
		if _, failed := o["error"]; failed {
			return linOutput{noop: true}, nil // a failed read says nothing
		}
		if found, _ := o["found"].(bool); !found {
			return linOutput{out: namespec.Output{Outcome: namespec.OK}}, nil
		}
		seq, _ := o["seq"].(uint64)
		return linOutput{out: namespec.Output{Outcome: namespec.OK, Found: true, Owner: str(o["owner"]), Target: str(o["target"]), Seq: seq}}, nil
	}
	if ok, _ := o["ok"].(bool); ok {
		return linOutput{out: namespec.Output{Outcome: namespec.OK}}, nil
	}
	code := str(o["error"])
	if outcome, known := outcomeByCode[code]; known {
		return linOutput{out: namespec.Output{Outcome: outcome}}, nil
	}
	// unavailable, failed, bad_signature, invalid_name, too_large: the op
	// was rejected before it could take effect.
	return linOutput{noop: true}, nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// Linearizable checks h with porcupine within timeout.
func Linearizable(h *workload.History, timeout time.Duration) (*Lin, error) {
	start := time.Now() // wall time of the checker itself, for the report (sim/, not core/)
	cpu := processCPU()
	ops, err := Operations(h)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, op := range ops {
		names[op.Input.(linInput).name] = true
	}
	all := len(ops)
	ops, red := reduce(ops)
	res, info := porcupine.CheckOperationsVerbose(Model(), ops, timeout)
	return &Lin{Result: res, Names: len(names), Ops: all, Checked: len(ops), Pending: red.Pending, Width: red.Width, Duration: time.Since(start),
		CPUSeconds: processCPU() - cpu, info: info}, nil
}

// Annotation marks a fault on the visualisation.
type Annotation struct {
	Start, End  int64
	Description string
}

// WriteViz writes porcupine's HTML visualisation annotated with faults.
func (l *Lin) WriteViz(path string, faults []Annotation) error {
	var anns []porcupine.Annotation
	for _, f := range faults {
		anns = append(anns, porcupine.Annotation{Tag: "faults", Start: f.Start, End: f.End, Description: f.Description, BackgroundColor: "#f8d7da"})
	}
	l.info.AddAnnotations(anns)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return l.Visualize(f)
}

// Visualize writes the HTML visualisation to w.
func (l *Lin) Visualize(w io.Writer) error { return porcupine.Visualize(Model(), l.info, w) }

func describeOp(input, output any) string {
	in := input.(linInput)
	var b strings.Builder
	switch in.op.Kind {
	case namespec.Claim:
		fmt.Fprintf(&b, "claim(%s, %s)", in.name, short(in.op.Owner))
	case namespec.Set:
		fmt.Fprintf(&b, "set(%s, %s, seq %d, %s)", in.name, short(in.op.Target), in.op.Seq, short(in.op.Owner))
	default:
		fmt.Fprintf(&b, "resolve(%s)", in.name)
	}
	if output == nil {
		b.WriteString(" -> ?")
		return b.String()
	}
	o := output.(linOutput)
	switch {
	case o.noop:
		b.WriteString(" -> rejected")
	case in.op.Kind == namespec.Resolve && o.out.Found:
		fmt.Fprintf(&b, " -> %s seq %d", short(o.out.Target), o.out.Seq)
	case in.op.Kind == namespec.Resolve:
		b.WriteString(" -> not found")
	default:
		fmt.Fprintf(&b, " -> %s", o.out.Outcome)
	}
	return b.String()
}

func describeState(state any) string {
	s := state.(namespec.State)
	if !s.Claimed {
		return "unclaimed"
	}
	return fmt.Sprintf("owner %s, target %s, seq %d", short(s.Owner), short(s.Target), s.Seq)
}

func short(s string) string {
	if len(s) > 11 {
		return s[:11]
	}
	if s == "" {
		return "-"
	}
	return s
}

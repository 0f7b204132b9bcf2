// Package check holds the simulator's verdicts over a run: linearizability
// of names (porcupine, partitioned per name, against specs/namespec, on a
// history first reduced to an equivalent one with fewer open operations:
// linreduce.go),
// validity of stale reads, durability of acknowledged writes, and replica
// agreement; for content (content.go), integrity of every put and read
// against the bytes the workload put, durability of every acknowledged
// object, and the placement the convergence check expects. Each check returns a Result whose Detail says what was checked
// and, on failure, the first counterexample.
package check

// Result is one check's verdict.
type Result struct {
	Name   string
	OK     bool
	Detail string
}

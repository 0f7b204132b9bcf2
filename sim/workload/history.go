package workload

import (
	"encoding/json"
	"io"
)

// Op is one client operation in a history. Its JSON form is the line format
// of `ronsim run --history` (documented in scenarios/README.md):
//
//	{"client":N,"op":"claim|set|resolve|stale_resolve","name":"...",
//	 "input":{...},"output":{...}|null,"call":ns,"return":ns|null,"node":N}
type Op struct {
	Client int            `json:"client"`
	Kind   string         `json:"op"`
	Name   string         `json:"name,omitempty"`
	Input  map[string]any `json:"input"`
	Output map[string]any `json:"output"` // nil: outcome unknown
	Call   int64          `json:"call"`   // virtual nanoseconds
	Return *int64         `json:"return"` // nil: outcome unknown
	Node   int            `json:"node"`   // the node the client talked to (0-based)
}

// Unknown reports whether the op's outcome is unknown.
func (o *Op) Unknown() bool { return o.Return == nil }

// History is every operation of a run, in invocation order.
type History struct {
	Ops []*Op
}

// WriteJSONLines writes one op per line. encoding/json sorts map keys, so
// the output is deterministic.
func (h *History) WriteJSONLines(w io.Writer) error {
	enc := json.NewEncoder(w)
	for _, op := range h.Ops {
		if err := enc.Encode(op); err != nil {
			return err
		}
	}
	return nil
}

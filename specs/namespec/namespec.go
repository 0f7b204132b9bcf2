// Package namespec is the sequential specification of RON names (ARCHITECTURE
// 5.5): the model the linearizability checker replays client histories
// against, and the oracle the registry's state machine is tested with.
//
// Each name is independent, so the model is per name (porcupine can
// partition a history by name). Signatures, capacity limits and node
// descriptors are left out on purpose: they are validity checks that do
// not change what a well-formed operation does, and keeping them out keeps
// the model small enough to read at a glance.
package namespec

// State is one name.
type State struct {
	Claimed bool
	Owner   string // the owner's public key bytes
	Target  string // the target address bytes ("" before the first set)
	Seq     uint64
}

// Kind is an operation kind.
type Kind uint8

const (
	Claim Kind = iota + 1
	Set
	Resolve
)

// Op is one operation on a name. Claim uses Owner; Set uses Owner, Target
// and Seq; Resolve uses nothing.
type Op struct {
	Kind   Kind
	Owner  string
	Target string
	Seq    uint64
}

// Outcome is an operation's result.
type Outcome uint8

const (
	OK Outcome = iota
	Taken
	NotFound
	NotOwner
	StaleSeq
)

var outcomeNames = [...]string{"ok", "taken", "not_found", "not_owner", "stale_seq"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "outcome?"
}

// Output is what an operation returns. Resolve fills Found, Owner, Target
// and Seq; the writes fill Outcome only.
type Output struct {
	Outcome Outcome
	Found   bool
	Owner   string
	Target  string
	Seq     uint64
}

// Step applies op to s and returns the new state and the output.
func Step(s State, op Op) (State, Output) {
	switch op.Kind {
	case Claim:
		switch {
		case !s.Claimed:
			return State{Claimed: true, Owner: op.Owner}, Output{Outcome: OK}
		case s.Owner == op.Owner:
			return s, Output{Outcome: OK}
		default:
			return s, Output{Outcome: Taken}
		}
	case Set:
		switch {
		case !s.Claimed:
			return s, Output{Outcome: NotFound}
		case s.Owner != op.Owner:
			return s, Output{Outcome: NotOwner}
		case op.Seq != s.Seq+1:
			return s, Output{Outcome: StaleSeq}
		}
		s.Target, s.Seq = op.Target, op.Seq
		return s, Output{Outcome: OK}
	case Resolve:
		if !s.Claimed {
			return s, Output{Outcome: OK}
		}
		return s, Output{Outcome: OK, Found: true, Owner: s.Owner, Target: s.Target, Seq: s.Seq}
	}
	panic("namespec: unknown op kind")
}

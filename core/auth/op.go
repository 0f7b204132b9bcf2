package auth

import (
	"fmt"
	"strings"
)

// Op is one operation a capability can grant. The numeric values are part
// of the token encoding (bit Op-1 of an OpSet) and never change.
type Op uint8

const (
	OpRead   Op = 1
	OpWrite  Op = 2
	OpDelete Op = 3
	OpName   Op = 4
	OpAdmin  Op = 5
	opLast      = OpAdmin
)

var opNames = [...]string{"", "read", "write", "delete", "name", "admin"}

// String is the op's stable lowercase name.
func (o Op) String() string {
	if o.Valid() {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// Valid reports whether o is one of the defined ops.
func (o Op) Valid() bool { return o >= OpRead && o <= opLast }

// ParseOp parses a stable op name ("read", "write", "delete", "name",
// "admin"). Names are case-sensitive.
func ParseOp(s string) (Op, error) {
	for i := OpRead; i <= opLast; i++ {
		if opNames[i] == s {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown op %q", ErrInvalid, s)
}

// OpSet is a set of ops as a bitmask: op o is bit o-1.
type OpSet uint8

// OpsAll holds every defined op.
const OpsAll OpSet = 1<<opLast - 1

// Ops builds a set.
func Ops(ops ...Op) OpSet {
	var s OpSet
	for _, o := range ops {
		if o.Valid() {
			s |= 1 << (o - 1)
		}
	}
	return s
}

// Has reports whether o is in s.
func (s OpSet) Has(o Op) bool { return o.Valid() && s&(1<<(o-1)) != 0 }

// Valid reports whether s holds only defined ops.
func (s OpSet) Valid() bool { return s&^OpsAll == 0 }

// String lists the ops joined by "," in numeric order ("" when empty).
func (s OpSet) String() string {
	var names []string
	for o := OpRead; o <= opLast; o++ {
		if s.Has(o) {
			names = append(names, o.String())
		}
	}
	return strings.Join(names, ",")
}

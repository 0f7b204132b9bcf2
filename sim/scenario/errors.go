package scenario

import (
	"errors"
	"strconv"
	"strings"
)

// ErrInvalid is wrapped by every error Parse, Load and Marshal return for a
// scenario that breaks the schema, so callers can tell it from an I/O error.
var ErrInvalid = errors.New("scenario: invalid")

// Error is one problem in a scenario file, located by line and field path
// ("faults[2].partition.isolate"; list indexes start at 0).
type Error struct {
	File  string
	Line  int
	Field string
	Msg   string
}

// Error formats the problem as "file:line: field: msg".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	b.WriteByte(':')
	b.WriteString(strconv.Itoa(e.Line))
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *Error) Unwrap() error { return ErrInvalid }

// ErrorList is every problem Parse found (at most ErrorsMax), ordered by
// line. Parse returns one as its error; errors.As finds the first *Error.
type ErrorList []*Error

// Error joins the problems one per line.
func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap exposes the individual errors to errors.Is and errors.As.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

package registry

import "github.com/ron-network/ron/core/node"

// Typed requests (node.Call): each names this service; every registry
// request is answered with a Result.
func (Claim) Service() string        { return ServiceName }
func (Set) Service() string          { return ServiceName }
func (Resolve) Service() string      { return ServiceName }
func (StaleResolve) Service() string { return ServiceName }
func (Describe) Service() string     { return ServiceName }
func (Revoke) Service() string       { return ServiceName }

func (Claim) Answer(Result)        {}
func (Set) Answer(Result)          {}
func (Resolve) Answer(Result)      {}
func (StaleResolve) Answer(Result) {}
func (Describe) Answer(Result)     {}
func (Revoke) Answer(Result)       {}

// Failure is Result's error (node.Failure).
func (r Result) Failure() error { return r.Err }

var (
	_ node.Call[Result] = Claim{}
	_ node.Call[Result] = Set{}
	_ node.Call[Result] = Resolve{}
	_ node.Call[Result] = StaleResolve{}
	_ node.Call[Result] = Describe{}
	_ node.Call[Result] = Revoke{}
	_ node.Failure      = Result{}
)

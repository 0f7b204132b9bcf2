package authz

import "github.com/ron-network/ron/core/node"

// Typed requests (node.Call): each names this service and its reply type.
// A deny is a Result, not an error: it carries no Failure.
func (Check) Service() string        { return ServiceName }
func (RevokedQuery) Service() string { return ServiceName }

func (Check) Answer(Result)               {}
func (RevokedQuery) Answer(RevokedAnswer) {}

var (
	_ node.Call[Result]        = Check{}
	_ node.Call[RevokedAnswer] = RevokedQuery{}
)

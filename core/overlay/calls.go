package overlay

import "github.com/ron-network/ron/core/node"

// Typed requests (node.Call): each names this service and its reply type.
func (SessionsRequest) Service() string      { return Name }
func (SessionsRequest) Answer([]SessionInfo) {}
func (SetMembers) Service() string           { return Name }
func (SetMembers) Answer(SetMembers)         {} // the request is the reply

var (
	_ node.Call[[]SessionInfo] = SessionsRequest{}
	_ node.Call[SetMembers]    = SetMembers{}
)

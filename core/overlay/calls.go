package overlay

import "github.com/ron-network/ron/core/node"

// Typed requests (node.Call): SessionsRequest names this service and its
// reply type.
func (SessionsRequest) Service() string      { return Name }
func (SessionsRequest) Answer([]SessionInfo) {}

var _ node.Call[[]SessionInfo] = SessionsRequest{}

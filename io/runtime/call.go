package runtime

import (
	"context"
	"fmt"

	"github.com/ron-network/ron/core/node"
)

// Caller submits a request body to a named service of a node and waits for
// the reply: *Runtime does, and so does any backend shaped like it (the
// gateway's Backend).
type Caller interface {
	Call(ctx context.Context, service string, body any) (any, error)
}

// Call sends req to the service it names (node.Call) through c and returns
// the reply as its type, so callers in io/ need neither service-name
// strings nor type assertions. The error is c's (not ready, closed,
// overloaded, ctx), the service's error value (node.ErrUnknownRequest and
// the like), a reply of the wrong type (a bug, reported as an error), or
// the error a result carries (node.Failure); in the last case the result
// is returned as well, since it may hold more than its error.
func Call[Res any](ctx context.Context, c Caller, req node.Call[Res]) (Res, error) {
	var zero Res
	resp, err := c.Call(ctx, req.Service(), req)
	if err != nil {
		return zero, err
	}
	res, ok := resp.(Res)
	if !ok {
		return zero, fmt.Errorf("runtime: %s answered %T to %T, want %T", req.Service(), resp, req, zero)
	}
	if f, ok := any(res).(node.Failure); ok {
		if err := f.Failure(); err != nil {
			return res, err
		}
	}
	return res, nil
}

var _ Caller = (*Runtime)(nil)

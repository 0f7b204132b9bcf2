package runner

import (
	"fmt"
	"time"

	"github.com/ron-network/ron/core/storage"
	"github.com/ron-network/ron/sim/check"
)

// checkPins: every pinned put a node acknowledged is still held locally by
// that node at the end (when it is up), whether or not the node is one of
// the object's placement nodes: garbage collection removes only unpinned
// copies. A node's pin is durable once acknowledged, so a crash in between
// is no excuse.
func (r *run) checkPins() check.Result {
	const name = "pins"
	type copyKey struct {
		node int
		addr string
	}
	seen := map[copyKey]bool{}
	var failure string
	asked, held, down := 0, 0, 0
	for _, p := range r.content.Pinned() {
		k := copyKey{p.Node, p.Addr.String()}
		if seen[k] {
			continue
		}
		seen[k] = true
		if !r.w.Up(p.Node) {
			down++
			continue
		}
		asked++
		r.w.Request(p.Node, "storage", storage.Has{Addr: p.Addr}, func(resp any) {
			res, ok := resp.(storage.HasResult)
			switch {
			case ok && res.Err == nil && res.Local:
				held++
			case failure == "":
				failure = fmt.Sprintf("n%d acknowledged a pinned put of %s at %v but holds no copy at the end (reply %+v)",
					p.Node+1, p.Addr, p.At.Round(time.Millisecond), resp)
			}
		})
	}
	if asked == 0 {
		return check.Result{Name: name, Detail: fmt.Sprintf("no pinned copy to check (%d on nodes down at the end)", down)}
	}
	if err := r.w.RunUntil(r.w.Now() + ConvergeStep); err != nil {
		return check.Result{Name: name, Detail: err.Error()}
	}
	if failure == "" && held != asked {
		failure = fmt.Sprintf("%d of %d pinned copies answered", held, asked)
	}
	if failure != "" {
		return check.Result{Name: name, Detail: failure}
	}
	return check.Result{Name: name, OK: true, Detail: fmt.Sprintf("all %d pinned copies held by the nodes that acknowledged them (%d on nodes down at the end)", held, down)}
}

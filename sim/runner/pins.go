package runner

import (
	"fmt"
	"time"

	"github.com/ron-network/ron/core/storage"
	"github.com/ron-network/ron/sim/check"
	"github.com/ron-network/ron/sim/workload"
)

// checkPins: every pinned put a node acknowledged is still held locally by
// that node at the end (when it is up), whether or not the node is one of
// the object's placement nodes: garbage collection removes only unpinned
// copies. A node's pin is durable once acknowledged, so a crash in between
// is no excuse. A pinned put that an unpin of the same object on the same
// node may have followed is not required (workload.PinRequired); one sent
// after every such unpin answered is.
func (r *run) checkPins() check.Result {
	const name = "pins"
	type copyKey struct {
		node int
		addr string
	}
	seen := map[copyKey]bool{}
	var failure string
	asked, held, down, unpinned := 0, 0, 0, 0
	unpins := r.content.Unpins()
	for _, p := range r.content.Pinned() {
		k := copyKey{p.Node, p.Addr.String()}
		if seen[k] {
			continue
		}
		if !workload.PinRequired(p, unpins) {
			unpinned++
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
		return check.Result{Name: name, Detail: fmt.Sprintf("no pinned copy to check (%d on nodes down at the end, %d unpinned since)", down, unpinned)}
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
	detail := fmt.Sprintf("all %d pinned copies held by the nodes that acknowledged them (%d on nodes down at the end)", held, down)
	if len(unpins) > 0 {
		detail += fmt.Sprintf("; %d unpins sent, %d pinned puts they may have undone", len(unpins), unpinned)
	}
	return check.Result{Name: name, OK: true, Detail: detail}
}

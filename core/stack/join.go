package stack

import (
	"time"

	"github.com/ron-network/ron/core/dht"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/node"
)

// joinTag is the timer tag of a delayed join. The DHT's own tags carry a
// small kind in bits 48..55 (core/dht), so the largest tag is never one of
// them, and the DHT ignores timer kinds it does not know anyway.
const joinTag = node.TagMax

// joiner delays a DHT's env.Start until the node's clock reads joinAt, so
// that a large network grows one join after another, as a real one does,
// instead of every node bootstrapping at the same instant: a joiner's
// bootstrap contacts have then joined before it and know the network, and
// the bootstrap storm of 100,000 simultaneous self-lookups (and its memory
// peak) never happens. Every other input passes through; the DHT ignores
// messages and refuses lookups until it has started. A node that starts
// after its join time joins at once.
type joiner struct {
	*dht.DHT
	joinAt env.Time
	e      env.Env
}

// wrapJoin returns d itself when it joins at once.
func wrapJoin(d *dht.DHT, joinAt env.Time) node.Service {
	if joinAt == 0 {
		return d
	}
	return &joiner{DHT: d, joinAt: joinAt}
}

func (j *joiner) Init(e env.Env) {
	j.e = e
	j.DHT.Init(e)
}

func (j *joiner) Handle(in env.Input) {
	switch in := in.(type) {
	case env.Start:
		if wait := time.Duration(j.joinAt - j.e.Now()); wait > 0 {
			j.e.SetTimer(wait, joinTag)
			return
		}
	case env.TimerFired:
		if in.Tag == joinTag {
			j.DHT.Handle(env.Start{})
			return
		}
	}
	j.DHT.Handle(in)
}

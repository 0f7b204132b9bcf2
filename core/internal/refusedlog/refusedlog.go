// Package refusedlog paces the log lines of a service refusing peers from
// outside its membership (core/storage and core/dht): the operator of a
// cluster whose nodes disagree on membership learns which id is missing,
// once per id per Every of env time, however many frames it sends.
package refusedlog

import (
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// IDsMax bounds the peer ids a Log remembers; Every is how long (env time)
// one id's line is not repeated.
const (
	IDsMax = 64
	Every  = 10 * time.Minute
)

// Log remembers when each refused peer id was last logged. Full, it
// forgets the id logged longest ago (ties: the lowest id), so it stays
// bounded and deterministic whatever the map's iteration order. The zero
// value is ready.
type Log map[proto.NodeID]env.Time

// Due reports whether id should be logged now, and records it if so.
func (r *Log) Due(id proto.NodeID, now env.Time) bool {
	if *r == nil {
		*r = Log{}
	}
	if at, ok := (*r)[id]; ok && now.Sub(at) < Every {
		return false
	}
	if _, ok := (*r)[id]; !ok && len(*r) >= IDsMax {
		var oldest proto.NodeID
		var oldestAt env.Time
		first := true
		// map order ok: the minimum of (time, id), a total order, whatever the visiting order
		for k, at := range *r {
			if first || at.Before(oldestAt) || at == oldestAt && k.Compare(oldest) < 0 {
				oldest, oldestAt, first = k, at, false
			}
		}
		delete(*r, oldest)
	}
	(*r)[id] = now
	return true
}

// Package refusedlog paces the log lines of a service refusing peers from
// outside its membership (core/storage, core/dht and core/registry): the
// operator of a cluster whose nodes disagree on membership learns which
// id is missing, once per id per Every of env time, however many frames
// it sends. Node ids are free, so that bound alone lets a stranger with
// fresh keys write a line per key: a Log also writes at most LinesMax
// lines per Window, all ids together, and the first line after a
// suppression is preceded by one saying how many refusals were not logged.
package refusedlog

import (
	"log/slog"
	"strconv"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// IDsMax bounds the peer ids a Log remembers; Every is how long (env time)
// one id's line is not repeated. LinesMax bounds the lines of all ids
// together per Window (env time).
const (
	IDsMax   = 64
	Every    = 10 * time.Minute
	LinesMax = 10
	Window   = time.Minute
)

// Log remembers when each refused peer id was last logged and how many
// lines the current window holds. Full, it forgets the id logged longest
// ago (ties: the lowest id), so it stays bounded and deterministic
// whatever the map's iteration order. The zero value is ready.
type Log struct {
	ids         map[proto.NodeID]env.Time
	windowOpen  bool
	windowStart env.Time
	lines       int // logged in the current window
	suppressed  int // refusals due for their id but over LinesMax, since the last line
}

// Due reports whether id's refusal should be logged now, and records it if
// so; suppressed is how many refusals were not logged for LinesMax since
// the last line logged, to report before this one. A refusal over
// LinesMax does not record its id, so the id is logged once a window has
// room.
func (r *Log) Due(id proto.NodeID, now env.Time) (due bool, suppressed int) {
	if r.ids == nil {
		r.ids = map[proto.NodeID]env.Time{}
	}
	at, known := r.ids[id]
	if known && now.Sub(at) < Every {
		return false, 0
	}
	if !r.windowOpen || now.Sub(r.windowStart) >= Window {
		r.windowOpen, r.windowStart, r.lines = true, now, 0
	}
	if r.lines >= LinesMax {
		r.suppressed++
		return false, 0
	}
	r.lines++
	if !known && len(r.ids) >= IDsMax {
		var oldest proto.NodeID
		var oldestAt env.Time
		first := true
		// map order ok: the minimum of (time, id), a total order, whatever the visiting order
		for k, at := range r.ids {
			if first || at.Before(oldestAt) || at == oldestAt && k.Compare(oldest) < 0 {
				oldest, oldestAt, first = k, at, false
			}
		}
		delete(r.ids, oldest)
	}
	r.ids[id] = now
	suppressed, r.suppressed = r.suppressed, 0
	return true, suppressed
}

// Len is how many ids the Log remembers.
func (r *Log) Len() int { return len(r.ids) }

// Warn logs, when Due, service's refusal of id as a warning naming it,
// preceded by the count of refusals not logged since the last line.
func (r *Log) Warn(log *slog.Logger, now env.Time, service string, id proto.NodeID) {
	due, suppressed := r.Due(id, now)
	if !due {
		return
	}
	if suppressed > 0 {
		log.Warn(service+": "+strconv.Itoa(suppressed)+" more refused peers not logged (at most "+
			strconv.Itoa(LinesMax)+" lines per "+Window.String()+")", "suppressed", suppressed)
	}
	log.Warn(service+": refused peer "+id.String()+": not a member ("+service+"); list it in members on this node if it belongs to the cluster",
		"peer", id.String())
}

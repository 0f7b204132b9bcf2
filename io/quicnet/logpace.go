package quicnet

import (
	"sync"
	"time"

	"github.com/ron-network/ron/core/proto"
)

// Pacing of the WARN lines a remote node can cause (a refused
// non-member, a malformed frame): node ids and connections are free, so
// a per-id bound alone lets a stranger with fresh keys write without
// end. As core/internal/refusedlog does for the services' refusals, at
// most logLinesMax such lines are written per logWindow for each kind;
// the first line of a later window is preceded by one saying how many
// were suppressed. A refused non-member's id is besides logged at most
// once per logIDEvery (logIDsMax ids remembered), so one misconfigured
// member does not fill the window.
const (
	logWindow   = time.Minute
	logLinesMax = 10
	logIDEvery  = 10 * time.Minute
	logIDsMax   = 64
)

// logPacer decides which lines of one kind are written. Safe for
// concurrent use.
type logPacer struct {
	perID bool

	mu          sync.Mutex
	windowStart time.Time
	lines       int // written in the current window
	suppressed  int // not written since the last line
	ids         map[proto.NodeID]time.Time
}

func newLogPacer(perID bool) *logPacer {
	return &logPacer{perID: perID, ids: map[proto.NodeID]time.Time{}}
}

// due reports whether the line about id (ignored unless the pacer is per
// id) is to be written at now, and how many lines were suppressed since
// the last one written, which the caller reports first; these are then
// forgotten. A line suppressed for its id (logged within logIDEvery) is
// not counted: it said nothing new.
func (p *logPacer) due(id proto.NodeID, now time.Time) (ok bool, suppressed int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.perID {
		if at, seen := p.ids[id]; seen && now.Sub(at) < logIDEvery {
			return false, 0
		}
	}
	if now.Sub(p.windowStart) >= logWindow {
		p.windowStart, p.lines = now, 0
	}
	if p.lines >= logLinesMax {
		p.suppressed++
		return false, 0
	}
	p.lines++
	if p.perID {
		if _, seen := p.ids[id]; !seen && len(p.ids) >= logIDsMax {
			p.forgetOldestLocked()
		}
		p.ids[id] = now
	}
	suppressed, p.suppressed = p.suppressed, 0
	return true, suppressed
}

// forgetOldestLocked forgets the id logged longest ago.
func (p *logPacer) forgetOldestLocked() {
	var oldest proto.NodeID
	var oldestAt time.Time
	first := true
	for id, at := range p.ids { // map order ok: the minimum of (time, id)
		if first || at.Before(oldestAt) || at.Equal(oldestAt) && id.Compare(oldest) < 0 {
			oldest, oldestAt, first = id, at, false
		}
	}
	delete(p.ids, oldest)
}

// LogPacer paces one kind of log line a remote can cause, as the
// transport paces its own: at most logLinesMax (10) a logWindow (a
// minute), the first line of a later window preceded by the number
// suppressed. io/oapgate paces its eviction lines with it. Safe for
// concurrent use.
type LogPacer struct{ p *logPacer }

// NewLogPacer returns a pacer with nothing written yet.
func NewLogPacer() *LogPacer { return &LogPacer{p: newLogPacer(false)} }

// Due reports whether a line is to be written at now, and how many were
// suppressed since the last one written, which the caller reports first.
func (l *LogPacer) Due(now time.Time) (ok bool, suppressed int) {
	return l.p.due(proto.NodeID{}, now)
}

// LogPacerLinesMax is how many lines a LogPacer lets through a window.
const LogPacerLinesMax = logLinesMax

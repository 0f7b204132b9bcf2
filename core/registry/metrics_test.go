package registry

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// countingStringer counts how often raftLogger formats it.
type countingStringer struct{ calls *int }

func (s countingStringer) String() string { *s.calls++; return "formatted" }

// raftLogger formats only what its logger keeps: raft's debug chatter costs
// nothing below the logger's level, and kept levels read as before.
func TestRaftLoggerFormatsOnlyKeptLevels(t *testing.T) {
	var out bytes.Buffer
	l := raftLogger{slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	calls := 0
	arg := countingStringer{&calls}
	l.Debugf("vote %v", arg)
	l.Infof("vote %v", arg)
	l.Debug(arg)
	if calls != 0 || out.Len() != 0 {
		t.Fatalf("dropped levels formatted %d times, wrote %q", calls, out.String())
	}
	l.Warningf("append %v", arg)
	l.Error(arg)
	if calls != 2 || !strings.Contains(out.String(), `level=WARN msg="append formatted"`) ||
		!strings.Contains(out.String(), "level=ERROR msg=formatted") {
		t.Fatalf("kept levels formatted %d times, wrote %q", calls, out.String())
	}
}

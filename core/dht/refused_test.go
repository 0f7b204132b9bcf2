package dht

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/env/envtest"
	"github.com/ron-network/ron/core/proto"
)

// logEnv is an env whose logger is the test's.
type logEnv struct {
	env.Env
	log *slog.Logger
}

func (e logEnv) Log() *slog.Logger { return e.log }

// TestRefusedPeerLogged: a DHT with a closed membership logs the id of a
// non-member whose messages it drops, once per RefusedLogEvery of env
// time however many it drops, and again after that; each id is logged on
// its own. The old code only counted dht_rejects_total{reason=
// "not_member"}: no log named the peer.
func TestRefusedPeerLogged(t *testing.T) {
	member := keyID(testKey(9, 1))
	strangers := []proto.NodeID{keyID(testKey(9, 3)), keyID(testKey(9, 4))}
	var buf bytes.Buffer
	d := New(Config{Key: testKey(7, 0), Members: []proto.NodeID{member}})
	e := envtest.New(d.Self(), 7)
	d.Init(logEnv{Env: e, log: slog.New(slog.NewTextHandler(&buf, nil))})
	envtest.Step(d, env.Start{})
	s := &solo{t: t, d: d, e: e}
	line := func(id proto.NodeID) string { return "refused peer " + id.String() + ": not a member (dht)" }

	for corr := range uint64(5) {
		s.deliver(strangers[0], corr+1, message{kind: kindPing})
	}
	s.deliver(strangers[1], 9, message{kind: kindPing})
	s.deliver(member, 10, message{kind: kindPing})
	if got := s.metric(MetricRejects, ReasonNotMember); got != 6 {
		t.Fatalf("not_member rejects = %v, want 6", got)
	}
	if n := strings.Count(buf.String(), line(strangers[0])); n != 1 {
		t.Fatalf("logged %q %d times over 5 dropped pings, want once:\n%s", line(strangers[0]), n, buf.String())
	}
	if n := strings.Count(buf.String(), line(strangers[1])); n != 1 {
		t.Fatalf("the second non-member logged %d times, want once", n)
	}
	if strings.Contains(buf.String(), member.String()) {
		t.Fatal("a member was logged as refused")
	}
	if !strings.Contains(buf.String(), "list it in members on this node") {
		t.Fatal("the refusal's log line does not say what to do")
	}
	s.advance(RefusedLogEvery)
	s.deliver(strangers[0], 20, message{kind: kindPing})
	if n := strings.Count(buf.String(), line(strangers[0])); n != 2 {
		t.Fatalf("logged %q %d times after RefusedLogEvery passed, want twice", line(strangers[0]), n)
	}
}

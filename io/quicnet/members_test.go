package quicnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
)

// closedNotMember polls until conn (or its dial, err) ended with
// codeNotMember.
func closedNotMember(t *testing.T, what string, conn *quic.Conn, err error) {
	t.Helper()
	if err == nil {
		select {
		case <-conn.Context().Done():
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: connection still open, want it closed as not a member", what)
		}
		err = context.Cause(conn.Context())
	}
	var appErr *quic.ApplicationError
	if !errors.As(err, &appErr) || appErr.ErrorCode != codeNotMember {
		t.Fatalf("%s: ended with %v, want application error %d (not a member)", what, err, codeNotMember)
	}
}

// hasPeer reports whether n's address book holds id.
func hasPeer(n *tnode, id proto.NodeID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.peers[id] != nil
}

// TestClosedMembershipRefusesStrangersAfterHandshake: under a closed
// membership (SetMembers), nodes outside it complete their handshake and
// are closed at once (codeNotMember, not_member counted and logged), so
// they hold none of the inbound room nor a place in the address book; a
// refused node running a Transport logs which node refused it. A
// member a never added with AddPeer (rond's members setting, no address)
// then connects although the strangers were as many as the unreserved
// room, and its connection takes the reserve; the address it came from is
// entitled, so with the unreserved room full its next attempt still fits.
// Before, the strangers' connections were kept and filled the unreserved
// room, and the member was refused (handshakes_full): the red team's F2.
// Opening the membership again admits strangers as before.
func TestClosedMembershipRefusesStrangersAfterHandshake(t *testing.T) {
	var logged lockedBuffer
	b := startNode(t, 2, func(c *Config) {
		c.ConnsMax = 8 // 2 reserved, 6 unreserved
		c.Logger = slog.New(slog.NewTextHandler(&logged, nil))
		c.Members = []proto.NodeID{testID(testKey(1)), testID(testKey(2))} // a and b
	})
	a := startNode(t, 1, nil)
	a.AddPeer(b.ID(), b.Addr().String())

	const strangers = 6
	for i := range strangers {
		what := fmt.Sprintf("stranger %d", i)
		conn, err := dialFrom(t, fmt.Sprintf("127.0.0.%d", 30+i), b, byte(120+i))
		closedNotMember(t, what, conn, err)
		if hasPeer(b, testID(testKey(byte(120+i)))) {
			t.Fatalf("%s is in the address book", what)
		}
	}
	waitFor(t, "every stranger counted not_member", func() bool {
		return b.metrics.get(MetricHandshakeFails, FailNotMember) == strangers
	})
	waitGuardConns(t, b, 0, 0)
	if got := strings.Count(logged.String(), "not a member (transport)"); got != strangers {
		t.Errorf("%d refused-peer lines, want one per stranger (%d):\n%s", got, strangers, logged.String())
	}

	var refusedLogged lockedBuffer
	c := startNode(t, 3, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(&refusedLogged, nil)) })
	c.AddPeer(b.ID(), b.Addr().String())
	c.Send(b.ID(), testFrame(3, 1, 16))
	waitFor(t, "the refused dialer told which node refused it", func() bool {
		return strings.Contains(refusedLogged.String(), "peer "+b.ID().String()+" refused this node: not a member of its cluster")
	})
	waitGuardConns(t, b, 0, 0)

	a.Send(b.ID(), testFrame(1, 1, 16))
	waitFor(t, "the member's frame", func() bool { return b.in.len() == 1 })
	waitGuardConns(t, b, 1, 0) // on the reserve, though never added with AddPeer
	aHost := a.Addr().(*net.UDPAddr).IP.String()
	waitFor(t, "the member's address entitled", func() bool { return entitledSource(b, aHost) })
	for i := range 6 {
		mustAttempt(t, b.guard, fmt.Sprintf("192.0.2.%d", i+1), true)
	}
	waitGuardConns(t, b, 7, 6)
	mustAttempt(t, b.guard, aHost, true) // the member's next handshake, after a Retry
	waitGuardConns(t, b, 8, 6)
	if got := b.metrics.get(MetricHandshakeFails, FailHandshakesFull); got != 0 {
		t.Fatalf("handshakes_full %v: nothing should have been refused for room", got)
	}

	b.SetMembers(nil)
	if entitledSource(b, aHost) {
		t.Fatal("a member's seen address still entitled once the membership is open")
	}
}

// TestOpenMembershipAdmitsStrangers: with no membership set, or after it
// is opened again, any NodeID's connection is kept as before.
func TestOpenMembershipAdmitsStrangers(t *testing.T) {
	b := startNode(t, 2, nil)
	b.SetMembers([]proto.NodeID{b.ID()})
	b.SetMembers(nil)
	conn, err := dialFrom(t, "127.0.0.40", b, 130)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.CloseWithError(0, "done") }()
	waitFor(t, "the stranger adopted", func() bool { return hasPeer(b, testID(testKey(130))) })
	if got := b.metrics.get(MetricHandshakeFails, FailNotMember); got != 0 {
		t.Fatalf("not_member %v on an open membership", got)
	}
}

// TestMalformedFrameLogIsPaced: nodes with fresh keys sending a malformed
// frame each (an open membership lets them connect) get at most
// logLinesMax WARN lines per logWindow, not one each; every one is still
// counted in oap_rejects_total. Before, each wrote a line.
func TestMalformedFrameLogIsPaced(t *testing.T) {
	var logged lockedBuffer
	b := startNode(t, 2, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(&logged, nil)) })
	const senders = logLinesMax + 5
	bad := func() []byte { f := testFrame(9, 0, 8); f[5] = 9; return f }() // version 9
	for i := range senders {
		conn, err := dialFrom(t, fmt.Sprintf("127.0.0.%d", 50+i), b, byte(140+i))
		if err != nil {
			t.Fatalf("sender %d: %v", i, err)
		}
		stream, err := conn.OpenUniStreamSync(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = stream.Write(bad)
		_ = stream.Close()
		<-conn.Context().Done()
	}
	waitFor(t, "every malformed frame counted", func() bool {
		return b.metrics.get(MetricOAPRejects, string(oap.ReasonHeaderMalformed)) == senders
	})
	if got := strings.Count(logged.String(), "malformed frame from peer"); got != logLinesMax {
		t.Errorf("%d malformed-frame lines for %d senders, want %d:\n%s", got, senders, logLinesMax, logged.String())
	}
}

// TestLogPacer: at most logLinesMax lines per logWindow; the first line
// of a later window carries the count suppressed; a per-id pacer repeats
// an id only after logIDEvery, without counting the repeat as
// suppressed, and remembers at most logIDsMax ids.
func TestLogPacer(t *testing.T) {
	id := func(i int) proto.NodeID { return proto.NodeID{byte(i >> 8), byte(i)} }
	p := newLogPacer(true)
	now := time.Unix(1000, 0)
	for i := range logLinesMax {
		if ok, _ := p.due(id(i), now); !ok {
			t.Fatalf("line %d not due under the bound", i)
		}
		if ok, _ := p.due(id(i), now); ok {
			t.Fatalf("id %d logged twice within logIDEvery", i)
		}
	}
	for i := range 90 {
		if ok, _ := p.due(id(100+i), now.Add(time.Second)); ok {
			t.Fatalf("line %d beyond logLinesMax due", logLinesMax+i)
		}
	}
	ok, suppressed := p.due(id(500), now.Add(logWindow))
	if !ok || suppressed != 90 {
		t.Fatalf("next window: due %v suppressed %d, want true 90", ok, suppressed)
	}
	for i := range 3 * logIDsMax {
		now = now.Add(logWindow)
		p.due(id(1000+i), now)
		if len(p.ids) > logIDsMax {
			t.Fatalf("%d ids remembered, bound %d", len(p.ids), logIDsMax)
		}
	}
	if ok, _ := p.due(id(1000+3*logIDsMax-1), now.Add(logIDEvery)); !ok {
		t.Fatal("an id not logged again once logIDEvery passed")
	}
}

// TestSetMembersClosesDroppedMember: a member's kept connection is closed
// at once (codeNotMember) when SetMembers drops it from the membership,
// while a member still listed keeps its own. Before, the dropped member's
// connection stayed open until it ended by itself (it was refused only
// on its next one).
func TestSetMembersClosesDroppedMember(t *testing.T) {
	b := startNode(t, 2, func(c *Config) {
		c.Members = []proto.NodeID{testID(testKey(1)), testID(testKey(2)), testID(testKey(3))}
	})
	kept := func(id proto.NodeID) bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		p := b.peers[id]
		return p != nil && p.conn != nil
	}
	dropped, err := dialFrom(t, "127.0.0.41", b, 1)
	if err != nil {
		t.Fatalf("the member's dial: %v", err)
	}
	stays, err := dialFrom(t, "127.0.0.42", b, 3)
	if err != nil {
		t.Fatalf("the other member's dial: %v", err)
	}
	waitFor(t, "both members' connections kept", func() bool { return kept(testID(testKey(1))) && kept(testID(testKey(3))) })

	b.SetMembers([]proto.NodeID{testID(testKey(2)), testID(testKey(3))})
	closedNotMember(t, "the dropped member's connection", dropped, nil)
	waitFor(t, "the dropped member's connection gone from the address book", func() bool { return !kept(testID(testKey(1))) })
	select {
	case <-stays.Context().Done():
		t.Fatalf("the member still listed lost its connection: %v", context.Cause(stays.Context()))
	default:
	}
	if !kept(testID(testKey(3))) {
		t.Fatal("the member still listed has no kept connection")
	}
}

// TestAdoptRefusesMemberDroppedDuringDial: a connection dialed to a
// member that SetMembers dropped before the connection was adopted (the
// dial racing the membership change) is closed as not a member, not
// kept: SetMembers had found no connection to close. A peer AddPeer
// configured is exempt, as SetMembers exempts it.
func TestAdoptRefusesMemberDroppedDuringDial(t *testing.T) {
	a := startNode(t, 1, nil)
	c := startNode(t, 3, nil)
	b := startNode(t, 2, func(cfg *Config) {
		cfg.Members = []proto.NodeID{a.ID(), testID(testKey(2)), c.ID()}
	})
	b.AddPeer(c.ID(), c.Addr().String())
	kept := func(id proto.NodeID) bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		p := b.peers[id]
		return p != nil && p.conn != nil
	}
	toA, err := b.dialOnce(a.ID(), a.Addr().String())
	if err != nil {
		t.Fatalf("dialing a: %v", err)
	}
	toC, err := b.dialOnce(c.ID(), c.Addr().String())
	if err != nil {
		t.Fatalf("dialing c: %v", err)
	}
	b.SetMembers([]proto.NodeID{testID(testKey(2))})
	b.adopt(toA, a.ID(), b.ID(), "")
	closedNotMember(t, "the dropped member's dialed connection", toA, nil)
	if kept(a.ID()) {
		t.Fatal("the dropped member's dialed connection is kept")
	}
	b.adopt(toC, c.ID(), b.ID(), "")
	if !kept(c.ID()) {
		t.Fatalf("the configured peer's dialed connection is not kept: %v", context.Cause(toC.Context()))
	}
}

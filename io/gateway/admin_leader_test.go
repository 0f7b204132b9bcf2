package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/core/audit"
	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/io/gateway"
)

// transferBackend answers registry.TransferLeader with res (as a node
// would: a TransferResult, and its Err as the call's error) and passes
// every other call to the node.
type transferBackend struct {
	gateway.Backend
	res registry.TransferResult
	got []registry.TransferLeader
}

func (b *transferBackend) Call(ctx context.Context, service string, body any) (any, error) {
	if t, ok := body.(registry.TransferLeader); ok {
		b.got = append(b.got, t)
		return b.res, nil
	}
	return b.Backend.Call(ctx, service, body)
}

const leaderPath = "/admin/registry/leader"

// POST /admin/registry/leader needs an admin token (401 without one, 403
// with a token lacking admin) and checks its body; on the single-replica
// node there is no other voter (409 no_candidate), asking for the leader
// itself is a 200 that moved nothing, and a replica outside the group is
// a 400 no_such_replica.
func TestAdminRegistryLeaderAuthAndSingleReplica(t *testing.T) {
	f := newFixture(t, gateway.AdmissionConfig{}, 0)
	wantError(t, f.do("POST", leaderPath, []byte(`{}`), nil), http.StatusUnauthorized, gateway.CodeUnauthorized)
	writer := map[string]string{"Authorization": "Bearer " + f.mint(auth.Ops(auth.OpWrite, auth.OpRead, auth.OpName))}
	wantError(t, f.do("POST", leaderPath, []byte(`{}`), writer), http.StatusForbidden, gateway.CodeForbidden)

	env := wantError(t, f.do("POST", leaderPath, []byte(`{}`), f.bearer()), http.StatusConflict, gateway.CodeConflict)
	if env.Reason != gateway.ReasonNoCandidate || env.Retryable {
		t.Fatalf("no other voter: %+v, want reason %s, not retryable (one replica: there never is one)", env, gateway.ReasonNoCandidate)
	}
	r := f.do("POST", leaderPath, []byte(`{"to": 1}`), f.bearer())
	if r.StatusCode != http.StatusOK || !strings.Contains(string(r.body), `"moved":false`) || !strings.Contains(string(r.body), `"replica":1`) {
		t.Fatalf("to the leader itself: %d %s", r.StatusCode, r.body)
	}
	env = wantError(t, f.do("POST", leaderPath, []byte(`{"to": 7}`), f.bearer()), http.StatusBadRequest, gateway.CodeBadRequest)
	if env.Reason != gateway.ReasonNoSuchReplica || !strings.Contains(env.Message, "replica 7") {
		t.Fatalf("to replica 7 of 1: %+v", env)
	}
	for _, body := range []string{`{"to": 0}`, `{"to": "zz"}`, `{"to": -1}`, `{"too": 1}`} {
		wantError(t, f.do("POST", leaderPath, []byte(body), f.bearer()), http.StatusBadRequest, gateway.CodeBadRequest)
	}
}

// A node that is not the leader answers 409 not_leader naming the leader
// (message and X-Ron-Registry-Leader); a move answers the old and new
// leader and is audited.
func TestAdminRegistryLeaderNotLeaderAndMove(t *testing.T) {
	f := newFixture(t, gateway.AdmissionConfig{}, 0)
	lead := proto.NodeID{0xab}
	b := &transferBackend{Backend: f.rt, res: registry.TransferResult{Err: registry.ErrNotLeader, Leader: 2, LeaderNode: lead}}
	g := f.another(func(c *gateway.Config) { c.Backend = b })
	r := g.do("POST", leaderPath, []byte(`{"to": "3"}`), g.bearer())
	env := wantError(t, r, http.StatusConflict, gateway.CodeConflict)
	if env.Reason != gateway.ReasonNotLeader || !strings.Contains(env.Message, lead.String()) || r.Header.Get(gateway.HeaderRegistryLeader) != lead.String() {
		t.Fatalf("not the leader: %+v, header %q", env, r.Header.Get(gateway.HeaderRegistryLeader))
	}
	if len(b.got) != 1 || b.got[0] != (registry.TransferLeader{To: 3}) {
		t.Fatalf("requests %+v, want one to replica 3", b.got)
	}
	b.res = registry.TransferResult{Old: 1, OldNode: proto.NodeID{1}, New: 2, NewNode: lead}
	r = g.do("POST", leaderPath, []byte(`{"to": "`+lead.String()+`"}`), g.bearer())
	if r.StatusCode != http.StatusOK || !strings.Contains(string(r.body), `"moved":true`) || !strings.Contains(string(r.body), lead.String()) {
		t.Fatalf("move: %d %s", r.StatusCode, r.body)
	}
	if b.got[1] != (registry.TransferLeader{ToNode: lead}) {
		t.Fatalf("request %+v, want one to node %s", b.got[1], lead)
	}
	recs := readAudit(t, g)
	last := recs[len(recs)-1]
	if last.Kind != audit.KindPolicyChange || last.Subject != "registry:leader" || !strings.Contains(last.Detail, "replica 1") || !strings.Contains(last.Detail, "replica 2") {
		t.Fatalf("last audit record %+v", last)
	}
	b.res = registry.TransferResult{Old: 1, Err: registry.ErrTransferFailed}
	if env := wantError(t, g.do("POST", leaderPath, nil, g.bearer()), http.StatusServiceUnavailable, gateway.CodeUnavailable); env.Reason != gateway.ReasonTransferFailed || !env.Retryable {
		t.Fatalf("failed transfer: %+v", env)
	}
}

// Each TransferLeader answer maps to its envelope; retryable 409s carry
// Retry-After; every transfer raft started is audited with its outcome,
// refusals are not.
func TestAdminRegistryLeaderMappingsAndAudit(t *testing.T) {
	f := newFixture(t, gateway.AdmissionConfig{}, 0)
	b := &transferBackend{Backend: f.rt}
	g := f.another(func(c *gateway.Config) { c.Backend = b })
	won := proto.NodeID{0xcd}
	cases := []struct {
		res       registry.TransferResult
		status    int
		code      string
		reason    string
		retryable bool
		audit     string // the audit detail's outcome word; "" none
	}{
		{registry.TransferResult{Old: 1, Err: fmt.Errorf("%w: replica 2 is probing", registry.ErrTargetNotCaughtUp)},
			http.StatusConflict, gateway.CodeConflict, gateway.ReasonTargetNotCaughtUp, true, ""},
		{registry.TransferResult{Leader: 1, Err: fmt.Errorf("%w (to replica 2)", registry.ErrTransferInProgress)},
			http.StatusConflict, gateway.CodeConflict, gateway.ReasonTransferInProgress, true, ""},
		{registry.TransferResult{Old: 1, Err: registry.ErrNoCandidate},
			http.StatusConflict, gateway.CodeConflict, gateway.ReasonNoCandidate, true, ""},
		{registry.TransferResult{Err: fmt.Errorf("%w: %w", registry.ErrNotLeader, registry.ErrFailed)},
			http.StatusServiceUnavailable, gateway.CodeUnavailable, "", true, ""},
		{registry.TransferResult{Old: 1, Err: fmt.Errorf("%w: raft aborted it", registry.ErrTransferFailed)},
			http.StatusServiceUnavailable, gateway.CodeUnavailable, gateway.ReasonTransferFailed, true, gateway.LeaderAborted},
		{registry.TransferResult{Old: 1, New: 3, NewNode: won, Err: fmt.Errorf("%w: replica 3 became the leader", registry.ErrTransferFailed)},
			http.StatusConflict, gateway.CodeConflict, gateway.ReasonTransferFailed, false, gateway.LeaderOtherWinner},
		{registry.TransferResult{Old: 1, Err: fmt.Errorf("%w: no leader known", registry.ErrTransferUnknown)},
			http.StatusGatewayTimeout, gateway.CodeUnknownOutcome, gateway.ReasonTransferUnknown, false, gateway.LeaderUnknown},
	}
	for i, c := range cases {
		b.res = c.res
		before := len(readAudit(t, g))
		r := g.do("POST", leaderPath, []byte(`{"to": 2}`), g.bearer())
		if r.StatusCode != c.status {
			t.Errorf("case %d (%v): status %d, want %d (%s)", i, c.res.Err, r.StatusCode, c.status, r.body)
			continue
		}
		env := wantError(t, r, c.status, c.code)
		if env.Reason != c.reason || env.Retryable != c.retryable || !strings.Contains(env.Message, c.res.Err.Error()) {
			t.Errorf("case %d (%v): %+v, want reason %q retryable %v", i, c.res.Err, env, c.reason, c.retryable)
		}
		if ra := r.Header.Get("Retry-After"); c.retryable != (ra != "") {
			t.Errorf("case %d (%v): Retry-After %q with retryable %v", i, c.res.Err, ra, c.retryable)
		}
		if c.audit == gateway.LeaderOtherWinner && (r.Header.Get(gateway.HeaderRegistryLeader) != won.String() || !strings.Contains(env.Message, won.String())) {
			t.Errorf("case %d: another replica won: header %q, message %q: want node %s", i, r.Header.Get(gateway.HeaderRegistryLeader), env.Message, won)
		}
		recs := readAudit(t, g)
		var last audit.Record
		if len(recs) > 0 {
			last = recs[len(recs)-1]
		}
		switch {
		case c.audit == "" && len(recs) != before:
			t.Errorf("case %d (%v): a refusal was audited: %+v", i, c.res.Err, last)
		case c.audit != "" && (len(recs) != before+1 || last.Kind != audit.KindPolicyChange || last.Subject != "registry:leader" ||
			!strings.HasPrefix(last.Detail, c.audit+": ")):
			t.Errorf("case %d (%v): audit records %d -> %d, last %+v, want one %q record", i, c.res.Err, before, len(recs), last, c.audit)
		}
	}
}

// blockingBackend never answers a TransferLeader: the gateway's call
// times out.
type blockingBackend struct{ gateway.Backend }

func (b blockingBackend) Call(ctx context.Context, service string, body any) (any, error) {
	if _, ok := body.(registry.TransferLeader); ok {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return b.Backend.Call(ctx, service, body)
}

// The gateway stops waiting (CallTimeout): 504 UNKNOWN_OUTCOME, not
// retryable, and audited as unknown: the transfer may have started.
func TestAdminRegistryLeaderCallTimeoutAudited(t *testing.T) {
	f := newFixture(t, gateway.AdmissionConfig{}, 0)
	g := f.another(func(c *gateway.Config) { c.Backend, c.CallTimeout = blockingBackend{f.rt}, 50*time.Millisecond })
	before := len(readAudit(t, g))
	env := wantError(t, g.do("POST", leaderPath, []byte(`{"to": 2}`), g.bearer()), http.StatusGatewayTimeout, gateway.CodeUnknownOutcome)
	if env.Retryable {
		t.Fatalf("timed out transfer: %+v, want not retryable", env)
	}
	recs := readAudit(t, g)
	if len(recs) != before+1 || !strings.HasPrefix(recs[len(recs)-1].Detail, gateway.LeaderUnknown+": ") {
		t.Fatalf("audit records %d -> %d (%+v), want one more, an unknown-outcome record", before, len(recs), recs)
	}
}

// postChunked sends POST path with body as one chunk (none when empty)
// and Transfer-Encoding: chunked, as a client streaming its body does.
func postChunked(t *testing.T, f *fixture, path, body string) resp {
	t.Helper()
	conn, err := net.Dial("tcp", f.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msg := "POST " + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + f.root + "\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
	if body != "" {
		msg += fmt.Sprintf("%x\r\n%s\r\n", len(body), body)
	}
	if _, err := io.WriteString(conn, msg+"0\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	r, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	data, _ := io.ReadAll(r.Body)
	return resp{r, data}
}

// A body over AdminLeaderBodyBytesMax is 413, declared or chunked; an
// empty chunked body is no body (the best voter), as an absent one.
func TestAdminRegistryLeaderBodies(t *testing.T) {
	f := newFixture(t, gateway.AdmissionConfig{}, 0)
	b := &transferBackend{Backend: f.rt, res: registry.TransferResult{Old: 1, OldNode: proto.NodeID{1}, New: 1, NewNode: proto.NodeID{1}}}
	g := f.another(func(c *gateway.Config) { c.Backend = b })
	big := `{"to": 2, "pad": "` + strings.Repeat("x", gateway.AdminLeaderBodyBytesMax) + `"}`
	wantError(t, g.do("POST", leaderPath, []byte(big), g.bearer()), http.StatusRequestEntityTooLarge, gateway.CodeTooLarge)
	wantError(t, postChunked(t, g, leaderPath, big), http.StatusRequestEntityTooLarge, gateway.CodeTooLarge)
	if r := postChunked(t, g, leaderPath, ""); r.StatusCode != http.StatusOK {
		t.Fatalf("empty chunked body: %d %s, want 200 as with no body", r.StatusCode, r.body)
	}
	if r := postChunked(t, g, leaderPath, `{"to": 1}`); r.StatusCode != http.StatusOK {
		t.Fatalf("chunked body: %d %s", r.StatusCode, r.body)
	}
	if len(b.got) != 2 || b.got[0] != (registry.TransferLeader{}) || b.got[1] != (registry.TransferLeader{To: 1}) {
		t.Fatalf("requests %+v, want the best voter, then replica 1", b.got)
	}
}

// TestLeaderChunkedSlowBodyIs408: a chunked body of POST
// /admin/registry/leader that stalls is answered 408 REQUEST_TIMEOUT,
// retryable, as every body path (readLeaderBody reads a chunked body
// whole before it decodes it), not 400 as a malformed one.
func TestLeaderChunkedSlowBodyIs408(t *testing.T) {
	f := newServerFixture(t, gateway.BodyLimits{IdleTimeout: 200 * time.Millisecond, RateMin: 1 << 10, RateGrace: 100 * time.Millisecond})
	r, body := f.raw(fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"to\"\r\n", leaderPath, f.root))
	wantEnvelope(t, "POST "+leaderPath+" chunked, stalled", r, body, http.StatusRequestTimeout, gateway.CodeRequestTimeout)
	if !strings.Contains(string(body), `"retryable":true`) || !strings.Contains(string(body), "too slow") {
		t.Fatalf("POST %s chunked, stalled: %s", leaderPath, body)
	}
}

package gateway_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

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
	if env.Reason != gateway.ReasonNoCandidate || !env.Retryable {
		t.Fatalf("no other voter: %+v, want reason %s, retryable", env, gateway.ReasonNoCandidate)
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

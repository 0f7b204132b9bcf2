package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/ron-network/ron/core/audit"
	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/registry"
)

const (
	// AdminLeaderResource is the resource an admin token's prefix caveat
	// must allow for POST /admin/registry/leader.
	AdminLeaderResource = "/admin/registry/leader"
	// AdminLeaderBodyBytesMax bounds POST /admin/registry/leader's body.
	AdminLeaderBodyBytesMax = 1 << 10
	// HeaderRegistryLeader names the registry leader (its node id) on a
	// 409 not_leader answer of POST /admin/registry/leader, when known.
	HeaderRegistryLeader = "X-Ron-Registry-Leader"
)

// Deny reasons (Envelope.Reason) of POST /admin/registry/leader.
const (
	ReasonNotLeader          = "not_leader"
	ReasonNoSuchReplica      = "no_such_replica"
	ReasonTargetNotCaughtUp  = "target_not_caught_up"
	ReasonNoCandidate        = "no_candidate"
	ReasonTransferInProgress = "transfer_in_progress"
	ReasonTransferFailed     = "transfer_failed"
)

// LeaderBody is POST /admin/registry/leader's body: To is the target
// replica, its raft id (a number: its 1-based position in the sorted
// --replicas list) or its node id (a hex string); absent or null: the
// caught-up voter with the highest match.
type LeaderBody struct {
	To json.RawMessage `json:"to,omitempty"`
}

// LeaderReplica names one registry replica in LeaderAnswer.
type LeaderReplica struct {
	Replica uint64 `json:"replica"`
	Node    string `json:"node"`
}

// LeaderAnswer is the answer of POST /admin/registry/leader: the leader
// before and after. Moved is false when the target already led.
type LeaderAnswer struct {
	Old   LeaderReplica `json:"old"`
	New   LeaderReplica `json:"new"`
	Moved bool          `json:"moved"`
}

// moveLeader serves POST /admin/registry/leader (etcd's move-leader):
// it needs an admin token, asks this node's registry replica, which must
// be the leader, to hand leadership to the body's target (or the best
// caught-up voter) and answers 200 once raft reports the new leader. A
// node that is not the leader answers 409 not_leader naming the leader
// (message and X-Ron-Registry-Leader): the request is not forwarded,
// the operator sends it to the leader's gateway. A move is audited
// (kind policy_change, subject "registry:leader").
func (g *Gateway) moveLeader(req *request) *apiError {
	if e := g.authorize(req, auth.OpAdmin, AdminLeaderResource, 0); e != nil {
		return e
	}
	var body LeaderBody
	if req.r.ContentLength != 0 {
		if e := readJSON(req, &body, AdminLeaderBodyBytesMax); e != nil {
			return e
		}
	}
	t, e := leaderTarget(body.To)
	if e != nil {
		return e
	}
	res, err := call(g, req, t)
	if err == nil {
		err = res.Err
	}
	if err != nil {
		return leaderError(req, res, err)
	}
	ans := LeaderAnswer{Old: LeaderReplica{Replica: res.Old, Node: res.OldNode.String()},
		New: LeaderReplica{Replica: res.New, Node: res.NewNode.String()}, Moved: res.Old != res.New}
	if ans.Moved {
		_ = g.auditRequest(req, audit.KindPolicyChange, "registry:leader",
			fmt.Sprintf("replica %d (%s) -> replica %d (%s)", res.Old, res.OldNode, res.New, res.NewNode))
	}
	writeJSON(req.w, http.StatusOK, ans)
	return nil
}

// leaderTarget reads the body's "to".
func leaderTarget(raw json.RawMessage) (registry.TransferLeader, *apiError) {
	if len(raw) == 0 || string(raw) == "null" {
		return registry.TransferLeader{}, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if n, err := strconv.ParseUint(s, 10, 64); err == nil && n > 0 {
			return registry.TransferLeader{To: n}, nil
		}
		id, err := proto.ParseNodeID(s)
		if err != nil {
			return registry.TransferLeader{}, errorf(http.StatusBadRequest, CodeBadRequest, "body: to %q: want a replica number (1..) or a node id in hex: %v", s, err)
		}
		return registry.TransferLeader{ToNode: id}, nil
	}
	var n uint64
	if err := json.Unmarshal(raw, &n); err != nil || n == 0 {
		return registry.TransferLeader{}, errorf(http.StatusBadRequest, CodeBadRequest, "body: to %s: want a replica number (1..), a node id in hex, or no \"to\" for the best caught-up voter", raw)
	}
	return registry.TransferLeader{To: n}, nil
}

// leaderError maps a TransferLeader failure to its envelope.
func leaderError(req *request, res registry.TransferResult, err error) *apiError {
	e := &apiError{status: http.StatusConflict, code: CodeConflict, message: err.Error()}
	switch {
	case errors.Is(err, registry.ErrNotLeader):
		e.reason = ReasonNotLeader
		if res.Leader != 0 {
			req.w.Header().Set(HeaderRegistryLeader, res.LeaderNode.String())
			e.message += fmt.Sprintf(" (send the request to replica %d's gateway: node %s)", res.Leader, res.LeaderNode)
		}
	case errors.Is(err, registry.ErrNoSuchReplica):
		e.status, e.code, e.reason = http.StatusBadRequest, CodeBadRequest, ReasonNoSuchReplica
	case errors.Is(err, registry.ErrTargetNotCaughtUp):
		e.reason, e.retryable = ReasonTargetNotCaughtUp, true
	case errors.Is(err, registry.ErrNoCandidate):
		e.reason, e.retryable = ReasonNoCandidate, true
	case errors.Is(err, registry.ErrTransferInProgress):
		e.reason, e.retryable = ReasonTransferInProgress, true
	case errors.Is(err, registry.ErrTransferFailed):
		e.status, e.code, e.reason, e.retryable = http.StatusServiceUnavailable, CodeUnavailable, ReasonTransferFailed, true
	default:
		return mapError(err, true)
	}
	return e
}

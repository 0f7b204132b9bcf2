package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/ron-network/ron/core/audit"
	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/env"
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
	// 409 not_leader answer of POST /admin/registry/leader, when known,
	// and on a 409 transfer_failed answer when another replica won.
	HeaderRegistryLeader = "X-Ron-Registry-Leader"
	// leaderRetryAfter is the Retry-After of a retryable refusal.
	leaderRetryAfter = time.Second
)

// Deny reasons (Envelope.Reason) of POST /admin/registry/leader.
const (
	ReasonNotLeader          = "not_leader"
	ReasonNoSuchReplica      = "no_such_replica"
	ReasonTargetNotCaughtUp  = "target_not_caught_up"
	ReasonNoCandidate        = "no_candidate"
	ReasonTransferInProgress = "transfer_in_progress"
	ReasonTransferFailed     = "transfer_failed"
	ReasonTransferUnknown    = "transfer_unknown"
)

// Outcomes of a started transfer, the first word of its audit record's
// detail.
const (
	LeaderMoved       = "moved"
	LeaderAborted     = "aborted"
	LeaderOtherWinner = "other_winner"
	LeaderUnknown     = "unknown"
)

// MetricLeaderTransfers counts the leadership transfers POST
// /admin/registry/leader asked this node's replica for, by result: the
// outcomes above (moved, aborted, other_winner, unknown: raft was asked,
// or may have been, to move leadership), "noop" (the target already
// led) and "refused" (the registry refused before raft was asked:
// not_leader, no_such_replica, target_not_caught_up, no_candidate,
// transfer_in_progress, a failed replica). Requests refused before the
// registry is asked (no admin token, a bad body) are not counted.
// registry_leader_changes_total counts the leader changes each replica
// sees, whatever their cause.
const MetricLeaderTransfers = "registry_leader_transfers_total"

// Results of MetricLeaderTransfers besides the outcomes above.
const (
	LeaderNoop    = "noop"
	LeaderRefused = "refused"
)

var _ = env.Declare(env.MetricDef{Name: MetricLeaderTransfers, Kind: env.Counter, Label: "result",
	LabelValues: []string{LeaderMoved, LeaderNoop, LeaderAborted, LeaderOtherWinner, LeaderUnknown, LeaderRefused},
	Help:        "Registry leadership transfers asked for through POST /admin/registry/leader on this node, by result (moved, noop, aborted, other_winner, unknown, refused)."})

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
// the operator sends it to the leader's gateway. Every transfer raft was
// asked to make is audited with its outcome (kind policy_change, subject
// "registry:leader", detail "moved: replica A (id) -> replica B (id)",
// "aborted: ...", "other_winner: ..." or "unknown: ..."), and so is a
// call the gateway stopped waiting for (504: it may have started).
func (g *Gateway) moveLeader(req *request) *apiError {
	if e := g.authorize(req, auth.OpAdmin, AdminLeaderResource, 0); e != nil {
		return e
	}
	var body LeaderBody
	if e := readLeaderBody(req, &body); e != nil {
		return e
	}
	t, e := leaderTarget(body.To)
	if e != nil {
		return e
	}
	res, err := call(g, req, t)
	if err != nil && res.Err == nil { // the call failed, not the transfer
		e := mapError(err, true)
		if e.code == CodeUnknownOutcome {
			g.countLeader(LeaderUnknown)
			g.auditLeader(req, LeaderUnknown, fmt.Sprintf("the gateway stopped waiting for the registry (%v); the transfer may have started", err))
		}
		return e
	}
	if res.Err != nil {
		if registry.TransferStarted(res.Err) {
			outcome := LeaderUnknown
			switch {
			case errors.Is(res.Err, registry.ErrTransferFailed) && res.New != 0:
				outcome = LeaderOtherWinner
			case errors.Is(res.Err, registry.ErrTransferFailed):
				outcome = LeaderAborted
			}
			g.countLeader(outcome)
			g.auditLeader(req, outcome, res.Err.Error())
		} else {
			g.countLeader(LeaderRefused)
		}
		return leaderError(req, res, res.Err)
	}
	ans := LeaderAnswer{Old: LeaderReplica{Replica: res.Old, Node: res.OldNode.String()},
		New: LeaderReplica{Replica: res.New, Node: res.NewNode.String()}, Moved: res.Old != res.New}
	if ans.Moved {
		g.countLeader(LeaderMoved)
		g.auditLeader(req, LeaderMoved, fmt.Sprintf("replica %d (%s) -> replica %d (%s)", res.Old, res.OldNode, res.New, res.NewNode))
	} else {
		g.countLeader(LeaderNoop)
	}
	writeJSON(req.w, http.StatusOK, ans)
	return nil
}

// countLeader counts one transfer request's result (MetricLeaderTransfers).
func (g *Gateway) countLeader(result string) { g.cfg.Metrics.Add(MetricLeaderTransfers, result, 1) }

// auditLeader records a started transfer's outcome.
func (g *Gateway) auditLeader(req *request, outcome, detail string) {
	_ = g.auditRequest(req, audit.KindPolicyChange, "registry:leader", outcome+": "+detail)
}

// readLeaderBody reads POST /admin/registry/leader's body into body; no
// body, or an empty chunked one, leaves it zero (the best voter).
func readLeaderBody(req *request, body *LeaderBody) *apiError {
	if req.r.ContentLength == 0 {
		return nil
	}
	if req.r.ContentLength < 0 { // chunked: read it to tell an empty one
		data, err := io.ReadAll(http.MaxBytesReader(req.w, req.r.Body, AdminLeaderBodyBytesMax))
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			return errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "body exceeds %d bytes", AdminLeaderBodyBytesMax)
		case err != nil:
			if e := bodyError(req, int64(len(data)), err); e != nil {
				return e // a slow body (408) or the memory budget (507), as every body path
			}
			return errorf(http.StatusBadRequest, CodeBadRequest, "body: %v", err)
		case len(data) == 0:
			return nil
		}
		req.r.Body, req.r.ContentLength = io.NopCloser(bytes.NewReader(data)), int64(len(data))
	}
	return readJSON(req, body, AdminLeaderBodyBytesMax)
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

// leaderError maps a TransferLeader failure to its envelope. Retryable
// 409s carry Retry-After.
func leaderError(req *request, res registry.TransferResult, err error) *apiError {
	e := &apiError{status: http.StatusConflict, code: CodeConflict, message: err.Error()}
	retry := func(reason string) { e.reason, e.retryable, e.retryAfter = reason, true, leaderRetryAfter }
	switch {
	case errors.Is(err, registry.ErrFailed):
		// Before ErrNotLeader, which a failed replica's also is: 503 as
		// any registry op at a failed replica (mapError).
		return mapError(err, true)
	case errors.Is(err, registry.ErrNotLeader):
		e.reason = ReasonNotLeader
		if res.Leader != 0 {
			req.w.Header().Set(HeaderRegistryLeader, res.LeaderNode.String())
			e.message += fmt.Sprintf(" (send the request to replica %d's gateway: node %s)", res.Leader, res.LeaderNode)
		}
	case errors.Is(err, registry.ErrNoSuchReplica):
		e.status, e.code, e.reason = http.StatusBadRequest, CodeBadRequest, ReasonNoSuchReplica
	case errors.Is(err, registry.ErrTargetNotCaughtUp):
		retry(ReasonTargetNotCaughtUp)
	case errors.Is(err, registry.ErrSingleReplica):
		e.reason = ReasonNoCandidate // no other voter will ever be there
	case errors.Is(err, registry.ErrNoCandidate):
		retry(ReasonNoCandidate)
	case errors.Is(err, registry.ErrTransferInProgress):
		retry(ReasonTransferInProgress)
	case errors.Is(err, registry.ErrTransferUnknown):
		// Not retryable: leadership may have moved, so a retry may get
		// not_leader or move it again; registry_is_leader says where it is.
		e.status, e.code, e.reason = http.StatusGatewayTimeout, CodeUnknownOutcome, ReasonTransferUnknown
	case errors.Is(err, registry.ErrTransferFailed) && res.New != 0:
		// Another replica won: a retry here gets not_leader.
		e.reason = ReasonTransferFailed
		req.w.Header().Set(HeaderRegistryLeader, res.NewNode.String())
		e.message += fmt.Sprintf(" (replica %d, node %s, leads now: send any new request to its gateway)", res.New, res.NewNode)
	case errors.Is(err, registry.ErrTransferFailed):
		e.status, e.code, e.reason, e.retryable, e.retryAfter = http.StatusServiceUnavailable, CodeUnavailable, ReasonTransferFailed, true, leaderRetryAfter
	default:
		return mapError(err, true)
	}
	return e
}

package check

import (
	"fmt"
	"time"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/sim/workload"
)

// Revocation is what the revocation check judges: the token workload's
// checks and roles, and the times its bounds start from.
type Revocation struct {
	Checks []workload.TokenCheck
	Roles  []workload.TokenRole
	// RevokeCall and RevokeCommit are when the revoke was first attempted
	// and answered ok (-1: never; RevokeCall -1 when the run revokes
	// nothing).
	RevokeCall, RevokeCommit time.Duration
	// BoundStart[i] is when node i's propagation bound starts: the commit,
	// or later when a fault touching node i was still open (see the
	// runner). Within is the propagation bound.
	BoundStart []time.Duration
	Within     time.Duration
	// ExpireAt is the expiring tokens' expiry (run time); ExpiryDeadline[i]
	// is when node i must deny them: ExpireAt + auth.ClockSkewMax + the
	// most node i's clock lags in the scenario.
	ExpireAt       time.Duration
	ExpiryDeadline []time.Duration
	// Required[i] says node i must have been probed past its deadlines
	// (it is up at the end), so that "every node denies" is not vacuous.
	Required []bool
}

// CheckRevocation judges the token checks: valid tokens are always allowed
// by a node that answers; the revoked token is allowed before the revoke
// was attempted and denied as "revoked" by every node from BoundStart +
// Within on; expiring tokens are allowed before ExpireAt and denied as
// "expired" from each node's ExpiryDeadline on. Every required node must
// have been probed with the revoked token after its deadline.
func CheckRevocation(in Revocation) Result {
	res := Result{Name: "revocation"}
	revoking := in.RevokeCall >= 0
	if revoking && in.RevokeCommit < 0 {
		res.Detail = fmt.Sprintf("the revoke attempted at %v was never committed", in.RevokeCall)
		return res
	}
	nodes := len(in.Required)
	probedRevoked := make([]bool, nodes)
	expiredProbed := false
	counts := map[workload.TokenRole]int{}
	for i := range in.Checks {
		c := &in.Checks[i]
		if !c.Answered() {
			continue
		}
		counts[in.Roles[c.Token]]++
		if why := judge(&in, c); why != "" {
			res.Detail = fmt.Sprintf("check %d (token %d, n%d, called %v, answered %v: allowed=%v reason=%q): %s",
				i, c.Token, c.Node+1, c.Call, c.Return, c.Allowed, c.Reason, why)
			return res
		}
		switch role := in.Roles[c.Token]; {
		case role == workload.TokenRevoked && revoking && c.Call >= in.BoundStart[c.Node]+in.Within:
			probedRevoked[c.Node] = true
		case role == workload.TokenExpiring && c.Call >= in.ExpiryDeadline[c.Node]:
			expiredProbed = true
		}
	}
	if revoking {
		for i := 0; i < nodes; i++ {
			if in.Required[i] && !probedRevoked[i] {
				res.Detail = fmt.Sprintf("n%d was never probed with the revoked token after its deadline %v: the check proves nothing for it",
					i+1, in.BoundStart[i]+in.Within)
				return res
			}
		}
	}
	if counts[workload.TokenExpiring] > 0 && !expiredProbed {
		res.Detail = "no expiring token was probed after its expiry deadline"
		return res
	}
	res.OK = true
	res.Detail = fmt.Sprintf("%d valid, %d revoked, %d expiring-token checks answered; revoke committed at %v, every node denied it within %v of the commit (or of the heal)",
		counts[workload.TokenValid], counts[workload.TokenRevoked], counts[workload.TokenExpiring], in.RevokeCommit, in.Within)
	if !revoking {
		res.Detail = fmt.Sprintf("%d valid, %d expiring-token checks answered; no revoke", counts[workload.TokenValid], counts[workload.TokenExpiring])
	}
	return res
}

// judge returns why an answered check is wrong, or "".
func judge(in *Revocation, c *workload.TokenCheck) string {
	switch in.Roles[c.Token] {
	case workload.TokenValid:
		if !c.Allowed {
			return "a valid token was denied"
		}
	case workload.TokenRevoked:
		switch {
		case c.Return < in.RevokeCall && !c.Allowed:
			return "the token was denied before it was revoked"
		case c.Call >= in.BoundStart[c.Node]+in.Within && (c.Allowed || c.Reason != auth.ReasonRevoked):
			return fmt.Sprintf("the revoked token was not denied as revoked %v after the bound started at %v", in.Within, in.BoundStart[c.Node])
		case c.Reason != "" && c.Reason != auth.ReasonRevoked:
			return "the revoked token was denied for another reason"
		}
	case workload.TokenExpiring:
		switch {
		case c.Return < in.ExpireAt && !c.Allowed:
			return "the token was denied before it expired"
		case c.Call >= in.ExpiryDeadline[c.Node] && (c.Allowed || c.Reason != auth.ReasonExpired):
			return fmt.Sprintf("the token was not denied as expired by its deadline %v", in.ExpiryDeadline[c.Node])
		case c.Reason != "" && c.Reason != auth.ReasonExpired:
			return "the expiring token was denied for another reason"
		}
	}
	return ""
}

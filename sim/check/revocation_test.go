package check

import (
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/sim/workload"
)

const sec = time.Second

// revocationRun is a hand-built run: token 0 revoked (attempted 10s,
// committed 11s), token 1 valid, token 2 expiring at 20s; two nodes, n2's
// bound starting at 15s (a heal), a 2s bound, expiry owed from 50s.
func revocationRun(checks ...workload.TokenCheck) Revocation {
	return Revocation{
		Checks: checks, Roles: []workload.TokenRole{workload.TokenRevoked, workload.TokenValid, workload.TokenExpiring},
		RevokeCall: 10 * sec, RevokeCommit: 11 * sec, BoundStart: []time.Duration{11 * sec, 15 * sec}, Within: 2 * sec,
		ExpireAt: 20 * sec, ExpiryDeadline: []time.Duration{50 * sec, 50 * sec}, Required: []bool{true, true},
	}
}

func allow(token, node int, at time.Duration) workload.TokenCheck {
	return workload.TokenCheck{Token: token, Node: node, Call: at, Return: at, Allowed: true}
}

func deny(token, node int, at time.Duration, reason auth.Reason) workload.TokenCheck {
	return workload.TokenCheck{Token: token, Node: node, Call: at, Return: at, Reason: reason}
}

// good is a run every rule accepts, with each node probed after its bound.
func good() []workload.TokenCheck {
	return []workload.TokenCheck{
		allow(0, 0, 5*sec), allow(0, 1, 12*sec), // before the bound: either verdict is fine
		deny(0, 0, 13*sec, auth.ReasonRevoked), deny(0, 1, 17*sec, auth.ReasonRevoked),
		allow(1, 0, 30*sec), allow(1, 1, 60*sec),
		allow(2, 0, 19*sec), allow(2, 1, 45*sec), deny(2, 0, 50*sec, auth.ReasonExpired),
		{Token: 1, Node: 1, Call: 61 * sec, Return: -1}, // unanswered: no verdict to judge
	}
}

func TestCheckRevocationAcceptsACorrectRun(t *testing.T) {
	if res := CheckRevocation(revocationRun(good()...)); !res.OK {
		t.Fatalf("correct run rejected: %s", res.Detail)
	}
}

// TestCheckRevocationCatchesEachViolation: each wrong verdict, a missing
// commit and a node never probed past its bound fail the check, naming it.
func TestCheckRevocationCatchesEachViolation(t *testing.T) {
	cases := []struct {
		name string
		bad  workload.TokenCheck
		want string
	}{
		{"revoked allowed after the bound", allow(0, 0, 13*sec), "not denied as revoked"},
		{"revoked allowed on the healed node", allow(0, 1, 17*sec), "not denied as revoked"},
		{"denied before the revoke", deny(0, 0, 9*sec, auth.ReasonRevoked), "before it was revoked"},
		{"valid token denied", deny(1, 0, 30*sec, auth.ReasonRevoked), "valid token was denied"},
		{"expired token allowed", allow(2, 1, 50*sec), "not denied as expired"},
		{"expiring denied early", deny(2, 0, 19*sec, auth.ReasonExpired), "before it expired"},
		{"revoked denied for another reason", deny(0, 0, 13*sec, auth.ReasonBadMAC), "not denied as revoked"},
	}
	for _, c := range cases {
		res := CheckRevocation(revocationRun(append(good(), c.bad)...))
		if res.OK || !strings.Contains(res.Detail, c.want) {
			t.Errorf("%s: ok=%v detail %q, want a failure mentioning %q", c.name, res.OK, res.Detail, c.want)
		}
	}
	uncommitted := revocationRun(good()...)
	uncommitted.RevokeCommit = -1
	if res := CheckRevocation(uncommitted); res.OK || !strings.Contains(res.Detail, "never committed") {
		t.Errorf("uncommitted revoke: %+v", res)
	}
	var unprobed []workload.TokenCheck
	for _, c := range good() {
		if !(c.Token == 0 && c.Node == 1 && c.Call >= 17*sec) {
			unprobed = append(unprobed, c)
		}
	}
	if res := CheckRevocation(revocationRun(unprobed...)); res.OK || !strings.Contains(res.Detail, "n2 was never probed") {
		t.Errorf("unprobed node: %+v", res)
	}
}

package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/ron-network/ron/core/audit"
	"github.com/ron-network/ron/core/auth"
)

// Feature flags the gateway itself enforces. The node owns the flag set
// (FlagSwitch); the gateway reads it on every request it guards, so a flip
// applies to the next request.
const (
	// FlagAnonymousReads off refuses every read without a valid token
	// (401), whatever the policy says: the kill switch for public reads.
	FlagAnonymousReads = "anonymous_reads"
	// ReasonAnonymousReadsOff is the deny reason of such a refusal.
	ReasonAnonymousReadsOff = "anonymous_reads_off"
	// AdminFlagsResource is the resource an admin token's prefix caveat
	// must allow for POST /admin/flags.
	AdminFlagsResource = "/admin/flags"
	// AdminFlagsBodyBytesMax bounds POST /admin/flags's body.
	AdminFlagsBodyBytesMax = 4 << 10
)

// ErrUnknownFlag is wrapped by FlagSwitch.Set for a name it does not know;
// the message names the nearest known flag.
var ErrUnknownFlag = errors.New("gateway: unknown flag")

// FlagSwitch is the node's feature flag set as the gateway sees it. It is
// safe for concurrent use.
type FlagSwitch interface {
	// Enabled reports whether the flag name is on (an unknown name: true).
	Enabled(name string) bool
	// Flags returns every flag and its state; the caller owns the map.
	Flags() map[string]bool
	// Set switches the flag name on or off on the running node. An error
	// wrapping ErrUnknownFlag names a flag that does not exist; any other
	// error means the node could not apply it, and the flag is unchanged.
	Set(ctx context.Context, name string, on bool) error
}

// flagOn reports whether name is on; without a FlagSwitch every flag is.
func (g *Gateway) flagOn(name string) bool {
	return g.cfg.Flags == nil || g.cfg.Flags.Enabled(name)
}

// anonymousRead admits a read without a valid token unless the flag
// anonymous_reads is off.
func (g *Gateway) anonymousRead() (*apiError, string) {
	if g.flagOn(FlagAnonymousReads) {
		return nil, ""
	}
	return &apiError{status: http.StatusUnauthorized, code: CodeUnauthorized, reason: ReasonAnonymousReadsOff,
		message: "reads without a valid token are switched off on this node (flag anonymous_reads); send Authorization: Bearer <token>"}, ShedTokenDenied
}

// FlagGuard returns h behind the flag name: while the flag is off every
// request is answered 503 (retryable, the envelope naming the flag). rond
// puts its OAP/1 endpoint behind the flag "oap" with it.
func (g *Gateway) FlagGuard(name string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		responding(r)
		if g.flagOn(name) {
			h.ServeHTTP(w, r)
			return
		}
		id := corrID(r)
		w = g.limitBody(w, r) // an unread body, a chunked one (bodyGuard.settle)
		w.Header().Set("X-Request-Id", id)
		writeError(w, id, &apiError{status: http.StatusServiceUnavailable, code: CodeUnavailable, retryable: true,
			message: fmt.Sprintf("this endpoint is switched off on this node (flag %s)", name)})
	})
}

// FlagsAnswer is the answer of POST /admin/flags: every flag after the
// change.
type FlagsAnswer struct {
	Flags map[string]bool `json:"flags"`
}

// setFlags serves POST /admin/flags: a JSON object {"flag": bool, ...}
// (a null is refused, not read as false).
// It needs an admin token; every flag is checked before any is changed;
// each change is applied to the running node and audited (kind
// policy_change, subject "flag:NAME"), in name order.
func (g *Gateway) setFlags(req *request) *apiError {
	if e := g.authorize(req, auth.OpAdmin, AdminFlagsResource, 0); e != nil {
		return e
	}
	if g.cfg.Flags == nil {
		return errorf(http.StatusNotImplemented, CodeUnavailable, "this node has no feature flags")
	}
	// Pointers, so that a null is told from false: decoded into a bool
	// it would leave false and switch the flag off.
	var raw map[string]*bool
	if e := readJSON(req, &raw, AdminFlagsBodyBytesMax); e != nil {
		return e
	}
	if len(raw) == 0 {
		return errorf(http.StatusBadRequest, CodeBadRequest, `body: want {"flag": true|false, ...}; flags: %s`, flagList(g.cfg.Flags.Flags()))
	}
	names := make([]string, 0, len(raw))
	for name := range raw {
		names = append(names, name)
	}
	slices.Sort(names)
	body := make(map[string]bool, len(raw))
	for _, name := range names {
		if raw[name] == nil {
			return errorf(http.StatusBadRequest, CodeBadRequest, "body: flag %q is null; want true or false (nothing changed)", name)
		}
		body[name] = *raw[name]
	}
	before := g.cfg.Flags.Flags()
	for _, name := range names {
		if _, known := before[name]; !known {
			return errorf(http.StatusBadRequest, CodeBadRequest, "%v", g.cfg.Flags.Set(req.r.Context(), name, body[name]))
		}
	}
	for _, name := range names {
		if err := g.cfg.Flags.Set(req.r.Context(), name, body[name]); err != nil {
			e := errorf(http.StatusServiceUnavailable, CodeUnavailable, "flag %s not changed: %v", name, err)
			e.retryable = true
			return e
		}
		if before[name] != body[name] {
			_ = g.auditRequest(req, audit.KindPolicyChange, "flag:"+name, fmt.Sprintf("%s: %t -> %t", name, before[name], body[name]))
		}
	}
	writeJSON(req.w, http.StatusOK, FlagsAnswer{Flags: g.cfg.Flags.Flags()})
	return nil
}

func flagList(flags map[string]bool) string {
	names := make([]string, 0, len(flags))
	for name := range flags {
		names = append(names, name)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

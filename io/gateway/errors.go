package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/ron-network/ron/core/dht"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/core/storage"
	"github.com/ron-network/ron/io/runtime"
)

// Stable error codes of the envelope (ARCHITECTURE 5.7). Clients switch on them;
// never rename one.
const (
	CodeBadAddress     = "BAD_ADDRESS"
	CodeNotFound       = "NOT_FOUND"
	CodeBadRange       = "BAD_RANGE"
	CodeTooLarge       = "TOO_LARGE"
	CodeOverQuota      = "OVER_QUOTA"
	CodeOverloaded     = "OVERLOADED"
	CodeConflict       = "CONFLICT"
	CodeUnauthorized   = "UNAUTHORIZED"
	CodeForbidden      = "FORBIDDEN"
	CodeUnavailable    = "UNAVAILABLE"
	CodeUnknownOutcome = "UNKNOWN_OUTCOME"
	CodeBadRequest     = "BAD_REQUEST"
	// CodeRequestTimeout: the request body came too slowly (BodyLimits);
	// 408, retryable.
	CodeRequestTimeout = "REQUEST_TIMEOUT"
	// CodeMethodNotAllowed: the path is a route, the method is not one
	// it serves (405, with Allow).
	CodeMethodNotAllowed = "METHOD_NOT_ALLOWED"
	CodeInternal         = "INTERNAL"
	// CodeInsufficientStorage: the node's disk is full; writes are
	// refused (507) while reads go on. Retryable: space may come back.
	CodeInsufficientStorage = "INSUFFICIENT_STORAGE"
	// CodeNameQuota: the tenant holds NamesPerTenantMax names
	// (namequota.go). 403, not retryable: waiting frees none, and no
	// route releases a name.
	CodeNameQuota = "NAME_QUOTA"
	// CodeRegistryFull: the registry holds registry.NamesMax names, so a
	// claim of a new one is refused. 507 like a full disk, but its own
	// code because it is not retryable (no route releases a name) while
	// INSUFFICIENT_STORAGE is.
	CodeRegistryFull = "REGISTRY_FULL"
	// CodeKeptByNewerBuild: a pinned put of an object the node keeps
	// pinned with a manifest its build does not index (a newer build
	// wrote it: storage.ErrKeptByNewerBuild). 409, not retryable: it
	// lasts until a restart indexes the manifest or a DELETE of the
	// object there removes the pin.
	CodeKeptByNewerBuild = "KEPT_BY_NEWER_BUILD"
)

// Envelope is the JSON body of every error response.
type Envelope struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable"`
	CorrID    string `json:"corr_id"`
	// Reason is the stable deny reason of a 401 or 403 (a core/auth
	// reason, "missing_token" or "policy_denied"); Rule names the policy
	// rule behind a policy_denied.
	Reason string `json:"reason,omitempty"`
	Rule   string `json:"rule,omitempty"`
}

// apiError is an error on its way to becoming an envelope.
type apiError struct {
	status     int
	code       string
	message    string
	retryable  bool
	retryAfter time.Duration // > 0 sets Retry-After (whole seconds, at least 1)
	reason     string        // Envelope.Reason
	rule       string        // Envelope.Rule
	// shed, when set, is the omnigate_shed_total reason the answer is
	// counted under: a refusal for overload that came from the node
	// (mapError) rather than from admission, which counts its own.
	shed string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func errorf(status int, code string, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func unavailable(err error) *apiError {
	return &apiError{status: http.StatusServiceUnavailable, code: CodeUnavailable, message: err.Error(),
		retryable: true, retryAfter: time.Second}
}

func insufficientStorage(message string) *apiError {
	return &apiError{status: http.StatusInsufficientStorage, code: CodeInsufficientStorage, message: message,
		retryable: true, retryAfter: 5 * time.Second}
}

// writeError sends e as the envelope. A Content-Range set for the answer
// that failed (serveRange sets it before the read) is dropped: only a 416
// carries one ("bytes */size"), so a range of an object that is gone or
// could not be read is a plain error, whichever path served it. The
// envelope is sent with its Content-Length.
func writeError(w http.ResponseWriter, corrID string, e *apiError) {
	h := w.Header()
	if e.status != http.StatusRequestedRangeNotSatisfiable {
		delete(h, "Content-Range")
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if e.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(max(1, (e.retryAfter+time.Second-1)/time.Second))))
	}
	body, err := json.Marshal(Envelope{Code: e.code, Message: boundMessage(e.message), Retryable: e.retryable, CorrID: corrID,
		Reason: e.reason, Rule: e.rule})
	if err != nil { // an Envelope of strings and a bool always marshals
		body = []byte(`{}`)
	}
	body = append(body, '\n')
	// Content-Length, not chunked: a refusal that closes its connection
	// is flushed before the drain of its unread body (drainRefused), and
	// a chunked one would end only when the handler has returned, after
	// that drain.
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.status)
	_, _ = w.Write(body)
}

// retryablePut marks an object put's unknown outcome retryable: the
// address is the hash of the bytes, so the same PUT again stores the same
// object once whether or not the first one landed (a name write is not
// so: its seq decides). Other refusals keep their own retryable.
func retryablePut(e *apiError) *apiError {
	if e == nil || e.code != CodeUnknownOutcome || e.retryable {
		return e
	}
	c := *e
	c.retryable = true
	return &c
}

// mapError turns an error from the runtime or a machine into an envelope.
// write says whether the request changed state: a timed out write has an
// unknown outcome, a timed out read is merely unavailable.
func mapError(err error, write bool) *apiError {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, env.ErrDiskFull):
		return insufficientStorage(err.Error())
	case errors.Is(err, runtime.ErrOverloaded):
		return &apiError{status: http.StatusServiceUnavailable, code: CodeOverloaded, message: err.Error(), retryable: true, retryAfter: time.Second,
			shed: ShedNodeOverload}
	case errors.Is(err, storage.ErrKeptByNewerBuild):
		// Before the unknown outcome and unavailable cases, which a
		// client retries: this refusal repeats until a restart or a
		// DELETE (the message says so).
		return errorf(http.StatusConflict, CodeKeptByNewerBuild, "%v", err)
	case errors.Is(err, context.DeadlineExceeded) && write,
		// A write whose request context was cancelled (the client went,
		// or net/http gave up the connection) may have been applied: not
		// an internal error, an unknown outcome.
		errors.Is(err, context.Canceled) && write,
		// The registry ends every op it had sent with ErrUnknownOutcome
		// at OpTimeout, a resolve too; a read changes nothing, so only a
		// write's is an unknown outcome: a read's is unavailable (503,
		// retryable, below), like storage's timed out reads.
		errors.Is(err, storage.ErrUnknownOutcome) && write, errors.Is(err, registry.ErrUnknownOutcome) && write,
		errors.Is(err, runtime.ErrRestarted) && write:
		return &apiError{status: http.StatusGatewayTimeout, code: CodeUnknownOutcome, message: err.Error()}
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, registry.ErrNotFound):
		return errorf(http.StatusNotFound, CodeNotFound, "%v", err)
	case errors.Is(err, storage.ErrRange):
		return errorf(http.StatusRequestedRangeNotSatisfiable, CodeBadRange, "%v", err)
	case errors.Is(err, registry.ErrNotMember):
		// The registry's replicas do not list this node: a cluster
		// configuration error (cmd/rond doc, "Membership"), not a passing
		// condition, so not retryable and not an internal error.
		return &apiError{status: http.StatusServiceUnavailable, code: CodeUnavailable, message: err.Error()}
	case errors.Is(err, registry.ErrNameQuota):
		// The registry counted the tenant's names cluster-wide (claimName
		// words it with the tenant); not retryable: no name is released.
		return errorf(http.StatusForbidden, CodeNameQuota, "%v", err)
	case errors.Is(err, registry.ErrRegistryFull):
		// Before ErrTooLarge, which it also is: nothing in the request is
		// too large (413 is for bodies and objects), the registry has no
		// room for another name.
		// Not retryable: no route releases a name.
		return &apiError{status: http.StatusInsufficientStorage, code: CodeRegistryFull, message: err.Error()}
	case errors.Is(err, storage.ErrTooLarge), errors.Is(err, registry.ErrTooLarge):
		return errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "%v", err)
	case errors.Is(err, registry.ErrStaleSeq), errors.Is(err, registry.ErrTaken):
		return errorf(http.StatusConflict, CodeConflict, "%v", err)
	case errors.Is(err, registry.ErrNotOwner), errors.Is(err, registry.ErrBadSignature):
		return errorf(http.StatusForbidden, CodeForbidden, "%v", err)
	case errors.Is(err, registry.ErrInvalidName), errors.Is(err, storage.ErrBadRequest):
		return errorf(http.StatusBadRequest, CodeBadRequest, "%v", err)
	case errors.Is(err, storage.ErrCorruption):
		return &apiError{status: http.StatusBadGateway, code: CodeInternal, message: err.Error(), retryable: true}
	case errors.Is(err, storage.ErrBadManifest):
		// The object's manifest (stored here or fetched from a peer)
		// claims a chunk size its verified bytes do not have: the data
		// behind the gateway is wrong, not the client's request.
		return &apiError{status: http.StatusBadGateway, code: CodeInternal, message: err.Error()}
	case errors.Is(err, runtime.ErrNotReady), errors.Is(err, runtime.ErrClosed), errors.Is(err, runtime.ErrRestarted),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, storage.ErrUnavailable),
		errors.Is(err, storage.ErrUnknownOutcome), errors.Is(err, registry.ErrUnknownOutcome),
		errors.Is(err, registry.ErrUnavailable), errors.Is(err, registry.ErrFailed),
		errors.Is(err, dht.ErrTimeout), errors.Is(err, dht.ErrOverloaded), errors.Is(err, dht.ErrNotStarted),
		errors.Is(err, dht.ErrHopBudget):
		e := unavailable(err)
		if errors.Is(err, storage.ErrUnavailable) {
			e.shed = ShedStorageUnavailable
		}
		return e
	}
	return errorf(http.StatusInternalServerError, CodeInternal, "%v", err)
}

package gateway

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ron-network/ron/core/admission"
	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/storage"
	"github.com/ron-network/ron/io/runtime"
)

// Metric names (ARCHITECTURE section 8).
const (
	MetricRequests       = "omnigate_requests_total"
	MetricRequestLatency = "omnigate_request_latency_seconds"
	MetricShed           = "omnigate_shed_total"
	MetricRouteLatency   = "gateway_route_latency_seconds"
)

var _ = env.Declare(
	env.MetricDef{Name: MetricRequests, Kind: env.Counter, Help: "Gateway requests, by HTTP status code.", Label: "code"},
	env.MetricDef{Name: MetricRequestLatency, Kind: env.Histogram, Help: "Gateway request latency, admission included.", Buckets: env.LatencyBuckets},
	env.MetricDef{Name: MetricShed, Kind: env.Counter, Help: "Requests shed by admission or body caps, by reason.", Label: "reason",
		LabelValues: append(slices.Clone(admission.ShedReasons), ShedSlowBody, ShedNodeOverload, ShedStorageUnavailable, ShedWriteStall,
			ShedReadTimeout, ShedMemoryBudget, ShedDiskFull, ShedReadAhead, ShedReadAheadSource, ShedSourceInflight, ShedStreamSlots)},
	env.MetricDef{Name: MetricRouteLatency, Kind: env.Histogram, Help: "Gateway latency per route.", Label: "route", Buckets: env.LatencyBuckets},
)

// Limits.
const (
	// NameBodyBytesMax bounds the JSON body of a name claim or set.
	NameBodyBytesMax = 4 << 10
	// RequestIDBytesMax bounds an echoed X-Request-Id; longer ones are
	// replaced by a generated id.
	RequestIDBytesMax = 128
	// CallTimeoutDefault bounds one call into the node.
	CallTimeoutDefault = 15 * time.Second
	// PublicTenant is the tenant of requests without a token.
	PublicTenant = "public"
)

// Backend is the node the gateway talks to; *runtime.Runtime is one.
type Backend interface {
	// Call submits body to service and waits for the reply or ctx.
	Call(ctx context.Context, service string, body any) (any, error)
	// Ready reports whether the node serves.
	Ready() bool
}

// Config configures a Gateway.
type Config struct {
	Backend Backend
	// Verifier checks capability tokens on writes. Nil refuses every write
	// (401): a node without keys is read-only.
	Verifier *auth.Verifier
	// Metrics is the sink for the gateway's metrics (the runtime's
	// PromMetrics); Gatherer serves /metrics (nil: 404).
	Metrics  env.Metrics
	Gatherer prometheus.Gatherer
	Logger   *slog.Logger
	// Version is served on /version.
	Version string
	// ObjectBytesMax caps PUT /o bodies, which are streamed (0 or more
	// than storage.StreamObjectBytesMax: ObjectBytesDefault, 4 GiB).
	ObjectBytesMax int64
	CallTimeout    time.Duration
	Admission      AdmissionConfig
	// Sessions bounds PUT /o's upload sessions per tenant and globally.
	Sessions SessionsConfig
	// Clock is the wall clock (nil: time.Now); tests replace it.
	Clock func() time.Time
	// Policy decides requests after token verification (nil:
	// DefaultPolicy). A PolicyFile may reload it while the gateway runs.
	Policy *Policy
	// EdgeCacheBytes is the capacity of the edge cache of GET /o (0: no
	// cache); rond's default is edgecache.BytesMaxDefault.
	EdgeCacheBytes int64
	// AdminKey signs the registry revocations of POST /tokens/revoke (nil:
	// the route answers 501). Its public key must be in every replica's
	// registry AdminKeys.
	AdminKey ed25519.PrivateKey
	// Revocations, when set, learns each revoke committed through this
	// gateway at once; it is normally also the Verifier's RevocationSet.
	Revocations *RevocationCache
	// BodyLimits bound how slowly a request body may arrive (zero fields:
	// the defaults of server.go).
	BodyLimits BodyLimits
	// MemoryBytesMax is a memory budget (0: none; rond's --memory-max for
	// a micronode, whose objects live in its heap): a PUT or POST whose
	// declared body does not fit what MemoryInUse and the bodies being
	// read leave of it is refused with 507 before its body is read, and a
	// body without Content-Length stops there (507); see "Memory budget"
	// in doc.go.
	MemoryBytesMax int64
	// MemoryInUse measures the memory the budget counts (nil: the live
	// heap after the last GC, which holds the bodies stored: a body's
	// bytes then count from the first read until a GC has measured them).
	// One set here counts what it counts: a body then counts only while
	// it is read.
	MemoryInUse func() uint64
	// Conns bound the connections of Listener and how long a response
	// may wait for its client to read (zero fields: the defaults of
	// conns.go).
	Conns ConnLimits
	// RequestsPerSource bounds the requests of one source address in
	// flight at once, admitted or waiting for admission, a streamed
	// response counted until its last byte (sourceslots.go; 0: a quarter
	// of Admission's InflightMax, 64 with the defaults; negative: no
	// bound). A reverse proxy in front of the gateway is one source and
	// needs it raised.
	RequestsPerSource int
	// StreamedResponsesMax bounds the GET responses with a body of more
	// than BufferedReadBytesMax open at once, streamed or written in one
	// call (streamslots.go; 0: half of Admission's InflightMax, 128 with
	// the defaults; negative: no bound), so clients that never read cannot
	// hold every admission slot with them.
	StreamedResponsesMax int
	// ReadAheadBytesMax bounds the bytes of chunks that all streamed GETs
	// together read ahead of their clients (readahead.go; 0:
	// ReadAheadBytesDefault, or a quarter of MemoryBytesMax when that is
	// smaller; at least ReadAheadBytesMin).
	ReadAheadBytesMax int64
	// NamesPerTenantMax bounds the names one tenant claims through this
	// gateway (namequota.go; 0: NamesPerTenantDefault, negative: no
	// bound). NameQuotaExempt lists tenants whose full tokens (every
	// op, no caveat) it does not bound (rond: "root", the operator's own
	// root token); their narrower tokens are bounded.
	NamesPerTenantMax int
	NameQuotaExempt   []string
	// ObjectWriteAuditOff: a committed PUT /o writes no object_write
	// audit record (nor makes the storage Has for it). rond's
	// audit_object_writes: false, its default: builds before the audit
	// kind rule read an audit kind they do not define as a break
	// (core/audit doc.go, "Kinds"; doc.go, "Audit").
	ObjectWriteAuditOff bool
	// Flags are the node's feature flags (admin_flags.go); nil: every
	// flag on and POST /admin/flags answers 501.
	Flags FlagSwitch
	// RegistryReplica: this node holds a registry replica. A name claim
	// then first reads the name from the replica's applied state, a local
	// read, so that a claim made with the key already holding the name is
	// audited as the no-op it was (names.go, heldBy). False (elsewhere the
	// read would be forwarded to a replica, a round trip per claim): no
	// read, and such a claim is recorded as a plain claim.
	RegistryReplica bool
}

// Gateway is the HTTP API of one node (ARCHITECTURE 5.7). It is an http.Handler.
type Gateway struct {
	cfg   Config
	mux   *http.ServeMux
	admit *edgeState
	log   *slog.Logger
	// budget shares Config.MemoryBytesMax among writes (nil: none).
	budget *memBudget
	// quotaAudits paces audit records of quota rejects (auditlog.go).
	quotaAudits *auditLimiter
	// claimAudits remembers the claims audited, so that a claim that
	// changed nothing is not audited again (auditlog.go).
	claimAudits *claimAudits
	// objectAudits dedups and paces the records of writes of stored
	// bytes (auditlog.go).
	objectAudits *objectAudits
	// edge caches hot objects (edge.go).
	edge *edge
	// sizes remembers object sizes for range GETs (sizes.go).
	sizes *sizeCache
	// objectRoute is GET /o/{addr}'s route, which ServeHTTP serves
	// without the mux (objectPath).
	objectRoute *route
	// requestsOK and requestLatency are series every request counts in,
	// resolved once (env.SeriesOf).
	requestsOK     env.Series
	requestLatency env.Series
	// streamReads is the budget of streamed reads in flight
	// (StreamReadsMax, backpressure.go); stallMax how long one of them
	// retries refusals (StreamStallMax; tests shorten it).
	streamReads readSlots
	stallMax    time.Duration
	// readAhead is the budget of streamed GETs' read-ahead bytes
	// (readahead.go); readAheadWait how long a GET waits for its first
	// chunk's room (ReadAheadWaitMax; tests change it).
	readAhead     *readAheadBudget
	readAheadWait time.Duration
	// names bounds each tenant's name claims (namequota.go).
	names *nameQuota
	// sources bounds each source address's requests in flight
	// (sourceslots.go).
	sources *sourceSlots
	// streams bounds the streamed responses open (streamslots.go).
	streams *streamSlots
	// diskFullLogged is the disk-full detail last logged, and when
	// (notReadyReason).
	diskFullLogged   atomic.Pointer[string]
	diskFullLoggedAt atomic.Int64
	// regView caches GET /status's registry view (status.go).
	regView registryViewCache
}

// route is one route of the mux: its name, admission class, handler and
// its series of MetricRouteLatency.
type route struct {
	name    string
	class   class
	h       handler
	latency env.Series
}

// New returns the gateway for cfg.
func New(cfg Config) *Gateway {
	if cfg.Backend == nil || cfg.Metrics == nil {
		panic("gateway: Config needs Backend and Metrics")
	}
	// Sessions is set by code (rond's wiring, tests), so a reserve that
	// leaves no session to a tenant holding one is a bug to fix, not
	// input to clamp silently.
	if err := cfg.Sessions.Validate(); err != nil {
		panic("gateway: Config.Sessions: " + err.Error())
	}
	if cfg.ObjectBytesMax <= 0 || cfg.ObjectBytesMax > storage.StreamObjectBytesMax {
		cfg.ObjectBytesMax = ObjectBytesDefault
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = CallTimeoutDefault
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	liveHeap := cfg.MemoryInUse == nil // the budget counts stored bodies through it (memBudget.heap)
	if liveHeap {
		cfg.MemoryInUse = liveHeapBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if ttl, idle := cfg.Sessions.WithDefaults().SessionTTL, cfg.BodyLimits.withDefaults().IdleTimeout; ttl <= idle+time.Second {
		// Allowed (tests move the clock), but say so: a body BodyLimits
		// accept may then lose its slot between two bytes.
		cfg.Logger.Warn("gateway: Sessions.SessionTTL not above BodyLimits.IdleTimeout (plus the 1 s touch interval): a live body may lose its upload session",
			"session_ttl", ttl, "body_idle_timeout", idle)
	}
	if cfg.Policy == nil {
		p, err := NewPolicy(nil)
		if err != nil {
			panic("gateway: DefaultPolicy does not load: " + err.Error())
		}
		cfg.Policy = p
	}
	g := &Gateway{cfg: cfg, mux: http.NewServeMux(), admit: newEdgeState(cfg.Admission, cfg.Sessions, cfg.Clock), log: cfg.Logger,
		quotaAudits: newAuditLimiter(cfg.Clock), claimAudits: newClaimAudits(), objectAudits: newObjectAudits(cfg.Clock), names: newNameQuota(cfg.NamesPerTenantMax, cfg.NameQuotaExempt)}
	g.edge = newEdge(cfg.EdgeCacheBytes, cfg.Metrics)
	if cfg.MemoryBytesMax > 0 {
		g.budget = newMemBudget(cfg.MemoryBytesMax, cfg.MemoryInUse, liveHeap, cfg.Clock)
	}
	g.requestsOK = env.SeriesOf(cfg.Metrics, MetricRequests, codeLabel(http.StatusOK))
	g.requestLatency = env.SeriesOf(cfg.Metrics, MetricRequestLatency, "")
	g.sizes = newSizeCache()
	g.streamReads, g.stallMax = newReadSlots(StreamReadsMax), StreamStallMax
	raMax := readAheadBytesMax(cfg)
	g.readAhead, g.readAheadWait = newReadAheadBudget(raMax, readAheadSourceBytesMax(cfg, raMax), cfg.Metrics), ReadAheadWaitMax
	g.sources = newSourceSlots(requestsPerSource(cfg))
	g.streams = newStreamSlots(streamedResponsesMax(cfg), cfg.Metrics)
	g.routes()
	return g
}

// Close stops the goroutine the gateway runs on its own (the sweep of
// expired upload sessions, admission.go) and waits for it to return.
// Requests still served keep working, but sessions then expire only as
// another opens or /readyz runs. Call it once the server stopped; it is
// safe to call twice.
func (g *Gateway) Close() {
	g.admit.close()
}

// class says how a route is admitted.
type class uint8

const (
	classOps   class = iota // health, metrics: never admitted or shed
	classRead               // public, uses the read headroom
	classWrite              // needs a token
)

func (g *Gateway) routes() {
	g.handle("PUT /o", "put_object", classWrite, g.putObject)
	g.objectRoute = g.handle(objectPattern, getObjectRoute, classRead, g.getObject) // GET patterns serve HEAD too
	g.handle("DELETE /o/{addr}", "delete_object", classWrite, g.deleteObject)
	g.handle("GET /names/{name}", "resolve_name", classRead, g.resolveName)
	g.handle("POST /names/{name}", "claim_name", classWrite, g.claimName)
	g.handle("PUT /names/{name}", "set_name", classWrite, g.setName)
	g.handle("GET /n/{name}", "serve_name", classRead, g.serveName)
	g.handle("GET /providers/{addr}", "providers", classRead, g.providers)
	g.handle("GET /audit", "audit", classWrite, g.auditLog) // needs an admin token: admitted as a write
	// POST /tokens/revoke needs an admin token too: admitted as a write.
	g.handle("POST /tokens/revoke", "revoke_token", classWrite, g.revokeToken)
	g.handle("POST /admin/flags", "admin_flags", classWrite, g.setFlags)                       // admin token: admin_flags.go
	g.handle("POST /admin/registry/leader", "admin_registry_leader", classWrite, g.moveLeader) // admin token: admin_leader.go
	g.handle("GET /healthz", "healthz", classOps, g.healthz)
	g.handle("GET /readyz", "readyz", classOps, g.readyz)
	g.handle("GET /version", "version", classOps, g.version)
	if g.cfg.Gatherer != nil {
		g.mux.Handle("GET /metrics", promhttp.HandlerFor(g.cfg.Gatherer, promhttp.HandlerOpts{}))
	}
	g.handle("/", "not_found", classOps, g.notFound)
}

// routeMethods are the methods some route serves, probed by notFound.
var routeMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete}

// notFound answers what no route matched: 405 with Allow when the path is
// a known route served under other methods, else 404. The catch-all "/"
// route matches every method, so it shadows ServeMux's own 405; probing
// the mux again keeps the answer in the JSON envelope and the method list
// in step with the route table.
func (g *Gateway) notFound(req *request) *apiError {
	var allow []string
	for _, m := range routeMethods {
		probe := *req.r
		probe.Method = m
		if _, pattern := g.mux.Handler(&probe); pattern != "/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 {
		return errorf(http.StatusNotFound, CodeNotFound, "no such route")
	}
	req.w.Header().Set("Allow", strings.Join(allow, ", "))
	return errorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "%s is not served on %s (allowed: %s)",
		req.r.Method, req.r.URL.Path, strings.Join(allow, ", "))
}

// request is one HTTP request on its way through a route.
type request struct {
	w      *statusWriter
	r      *http.Request
	corrID string
	// start is when the gateway took the request (its latency's origin).
	start time.Time
	// addr is the path's {addr} when ServeHTTP routed the request to
	// get_object without the mux (objectPath), which then sets no path
	// value; "" otherwise: read it with pathAddr.
	addr string
	// sw is w's storage, and the arrays hold the values of headers every
	// response, or every object response, carries: one allocation with
	// the request instead of one each (net/http only reads a value
	// slice, and a later Add appends to a copy: each slice is full).
	sw          statusWriter
	idValue     [1]string
	etagValue   [1]string
	lengthValue [1]string
	tenant      string
	token       string // the bearer token, "" when absent
	// tokenID is the token's id (hex) once its MAC verified: the actor of
	// audit records.
	tokenID string
	// edgeCounted: this request's edge cache lookup is counted (edge.go).
	edgeCounted bool
	// maxBytes is the verified write token's max_bytes (MaxUint64: none).
	maxBytes uint64
}

// handler serves one route; it either wrote a response or returns the
// error to send as the envelope.
type handler func(*request) *apiError

func (g *Gateway) handle(pattern, name string, c class, h handler) *route {
	rt := &route{name: name, class: c, h: h, latency: env.SeriesOf(g.cfg.Metrics, MetricRouteLatency, name)}
	g.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		g.serveRoute(w, r, "", rt)
	})
	return rt
}

// serveRoute serves one request of rt; addr is the {addr} that ServeHTTP
// found without the mux ("" when the mux routed it).
func (g *Gateway) serveRoute(w http.ResponseWriter, r *http.Request, addr string, rt *route) {
	req := &request{r: r, corrID: corrID(r), tenant: PublicTenant, start: time.Now(), addr: addr}
	req.sw.ResponseWriter = w
	sw := &req.sw
	req.w = sw
	req.idValue[0] = req.corrID
	sw.Header()["X-Request-Id"] = req.idValue[:] // canonical key: no Set
	if err := g.serve(req, rt.class, rt.name, rt.h); err != nil {
		if err.status >= 500 && err.code == CodeInternal {
			g.log.Error("gateway: internal error", "route", rt.name, "corr_id", req.corrID, "err", err.message)
		}
		if err.shed != "" {
			g.cfg.Metrics.Add(MetricShed, err.shed, 1)
		}
		writeError(sw, req.corrID, err)
	}
	elapsed := time.Since(req.start).Seconds()
	if code := sw.status(); code == http.StatusOK {
		g.requestsOK.Add(1)
	} else {
		g.cfg.Metrics.Add(MetricRequests, codeLabel(code), 1)
	}
	g.requestLatency.Observe(elapsed)
	rt.latency.Observe(elapsed)
}

// pathAddr is the {addr} path value of the request.
func (req *request) pathAddr() string {
	if req.addr != "" {
		return req.addr
	}
	return req.r.PathValue("addr")
}

// serve authenticates the tenant, admits the request and runs h
// (enter, in authz.go).
func (g *Gateway) serve(req *request, c class, route string, h handler) *apiError {
	if c == classOps {
		return h(req)
	}
	// Before admission, so the requests one address holds (waiting or
	// running) never take every admission slot; released however the
	// handler ends, a stream aborted by panic included.
	src := requestSource(req.r)
	if !g.sources.take(src) {
		g.refuse(req, ShedSourceInflight)
		return sourceInflightError(g.sources.max)
	}
	defer g.sources.release(src)
	if c == classWrite && (req.r.Method == http.MethodPut || req.r.Method == http.MethodPost) {
		if full, reason := g.diskFull(); full {
			g.refuse(req, ShedDiskFull)
			return insufficientStorage("writes refused: " + reason) // before the body is read
		}
		if e := g.refuseOverBudget(req); e != nil {
			return e
		}
	}
	slot, err := g.enter(req, c, route)
	if err != nil {
		return err
	}
	defer slot.release()
	if c == classWrite && (req.r.Method == http.MethodPut || req.r.Method == http.MethodPost) {
		// Admitted: only now is a declared body reserved (a request
		// queued or refused by enter holds none), before it is read.
		if e := g.reserveBody(req); e != nil {
			return e
		}
	}
	return h(req)
}

// statusWriter remembers the status code for the metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// codeLabels are the status codes as omnigate_requests_total's label,
// made once rather than on every request.
var codeLabels = func() (out [600]string) {
	for code := range out {
		out[code] = strconv.Itoa(code)
	}
	return out
}()

// codeLabel is code's label value.
func codeLabel(code int) string {
	if code >= 0 && code < len(codeLabels) {
		return codeLabels[code]
	}
	return strconv.Itoa(code)
}

// corrID echoes a sane X-Request-Id or makes one up.
func corrID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); id != "" && len(id) <= RequestIDBytesMax && printable(id) {
		return id
	}
	return newCorrID()
}

// newCorrID makes up a correlation id.
func newCorrID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// ServeHTTP implements http.Handler: requests the mux must not see are
// answered first (server.go), and the body is held to BodyLimits.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	responding(r)
	// The body guard comes first: preflight's refusals settle the body
	// like any other response (a chunked one closes the connection).
	w = g.limitBody(w, r)
	if bg, ok := w.(*bodyGuard); ok {
		// However the handler ended: the reservation of its body ends
		// with the request (the bytes read stay counted until a GC).
		defer bg.body.unbudget()
	}
	switch addr, ok := objectPath(r); {
	case !g.preflight(w, r):
	case ok:
		// The address travels in the request (pathAddr): SetPathValue
		// would allocate a map for it on every request.
		r.Pattern = objectPattern
		g.serveRoute(w, r, addr, g.objectRoute)
	default:
		g.mux.ServeHTTP(w, r)
	}
	// After the handler, whose admission slot is then released (not on
	// a panic: an aborted response reads nothing more): a refusal that
	// closes the connection reads a bounded part of the body it did not
	// want, so that its client reads the refusal.
	drainRefused(w)
}

// GET /o/{addr}'s pattern and route, which ServeHTTP serves without the
// mux when the path is plainly that route's (objectPath).
const (
	objectPattern  = "GET /o/{addr}"
	getObjectRoute = "get_object"
)

// objectPath reports whether r is a GET or HEAD of "/o/{addr}" the mux
// would route to get_object, and returns addr: a clean path of exactly
// two segments with no escapes (an escaped path goes through the mux,
// which unescapes segments). Every request of the hottest route then skips the
// mux's matching; TestObjectPathAgreesWithMux holds the two together.
func objectPath(r *http.Request) (string, bool) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead || r.URL.RawPath != "" {
		return "", false
	}
	addr, ok := strings.CutPrefix(r.URL.Path, "/o/")
	if !ok || addr == "" || addr == "." || addr == ".." || strings.IndexByte(addr, '/') >= 0 {
		return "", false
	}
	return addr, true
}

// call runs one typed request on the node with the gateway's timeout
// (runtime.Call: the request names its service, a result's own error is
// returned as the error, alongside the result).
func call[Res any](g *Gateway, req *request, body node.Call[Res]) (Res, error) {
	ctx, cancel := context.WithTimeout(req.r.Context(), g.cfg.CallTimeout)
	defer cancel()
	return runtime.Call(ctx, g.cfg.Backend, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (g *Gateway) healthz(req *request) *apiError {
	writeJSON(req.w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// diskFull asks the backend whether its disk refuses writes
// (*runtime.Runtime knows; other backends never are).
func (g *Gateway) diskFull() (bool, string) {
	if fd, ok := g.cfg.Backend.(interface{ DiskFull() (bool, string) }); ok {
		return fd.DiskFull()
	}
	return false, ""
}

// readyz is false while the node starts or recovers and while the
// gateway is saturated (writes would queue, or the first chunks of open
// streamed GETs leave the read-ahead budget no room for another), so
// balancers steer away.
func (g *Gateway) readyz(req *request) *apiError {
	switch {
	case !g.cfg.Backend.Ready():
		message, reason := "node not ready", ""
		why := g.notReadyReason()
		// Machine-readable: the node serves, but no name op can succeed
		// here (cut off from the registry quorum).
		switch why {
		case runtime.ReasonRegistryNoLeader:
			reason = why
			why += " (this registry replica has known no raft leader for longer than its grace; name operations here fail)"
		case runtime.ReasonRegistryUnreachable:
			reason = why
			why += " (no registry replica has answered this node for longer than its grace; name operations here fail)"
		}
		if why != "" {
			message += ": " + why
		}
		return &apiError{status: http.StatusServiceUnavailable, code: CodeUnavailable, message: message, retryable: true, retryAfter: time.Second,
			reason: reason}
	}
	if ok, why := g.admit.ready(); !ok {
		return overloaded("gateway not ready: " + why)
	}
	if full, why := g.readAhead.full(); full {
		return overloaded("gateway not ready: " + why)
	}
	writeJSON(req.w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

// ReasonDiskFull is the reason /readyz and /status give while the disk
// refuses writes for lack of space.
const ReasonDiskFull = "disk full"

// notReadyReason is why the backend is not ready, as /readyz and /status
// say it to anyone: a fixed string per class. The disk's own reason
// carries the storage engine's error, a file path under the data
// directory included, so it goes to the log (when it changes, at most
// once a minute: the free bytes in it change with every probe), and the
// answer says only ReasonDiskFull. The runtime's other reasons
// ("closing", "starting or recovering") are fixed strings already.
func (g *Gateway) notReadyReason() string {
	if full, detail := g.diskFull(); full {
		now := time.Now().Unix()
		if last := g.diskFullLogged.Load(); last == nil || *last != detail && now-g.diskFullLoggedAt.Load() >= 60 {
			g.diskFullLogged.Store(&detail)
			g.diskFullLoggedAt.Store(now)
			g.log.Warn("gateway: not ready: disk full", "reason", detail)
		}
		return ReasonDiskFull
	}
	if why, ok := g.cfg.Backend.(interface{ NotReadyReason() string }); ok {
		return why.NotReadyReason()
	}
	return ""
}

func (g *Gateway) version(req *request) *apiError {
	writeJSON(req.w, http.StatusOK, map[string]string{"version": g.cfg.Version})
	return nil
}

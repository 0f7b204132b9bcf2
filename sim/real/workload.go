package real

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/sim/scenario"
	"github.com/ron-network/ron/sim/workload"
)

// ResponseBytesMax bounds what a client reads of one HTTP answer.
const ResponseBytesMax = 64 << 10

// clients drive the scenario's registry workload through rond's HTTP API
// and record what they saw in the simulator's history format
// (sim/workload.Op), times in nanoseconds since the run started. The op
// mix, the owners (OwnersCount keys shared by all clients), the names
// and the way a client picks a plausible seq follow sim/workload's
// registry clients, so the same scenario asks the same kind of questions
// of both; the draws cannot match the simulator's one for one, since
// real answers arrive in a different order.
type clients struct {
	cfg     *scenario.Workload
	cluster *cluster
	start   time.Time
	rand    *env.Rand
	owners  []ed25519.PrivateKey
	names   []string
	http    *http.Client

	mu      sync.Mutex
	history workload.History
	// content drives the content share of the mix (nil without one).
	content *contentClients
	// oap holds one OAP/1 client per node; clients below oapCount use
	// them instead of http.
	oap      []*http.Client
	oapCount int
}

func newClients(cfg *scenario.Workload, c *cluster, start time.Time, rand *env.Rand, opts Options) (*clients, error) {
	w := &clients{cfg: cfg, cluster: c, start: start, rand: rand}
	if opts.OAP != nil && opts.OAPShare > 0 {
		w.oapCount = int(math.Round(opts.OAPShare * float64(cfg.Clients)))
		for _, n := range c.nodes {
			rt, err := opts.OAP(n.oap, n.id)
			if err != nil {
				w.close()
				return nil, fmt.Errorf("real: OAP/1 client for %s: %w", n.name, err)
			}
			w.oap = append(w.oap, &http.Client{Transport: rt})
		}
	}
	for i := 0; i < workload.OwnersCount; i++ {
		var seed [ed25519.SeedSize]byte
		rand.Fill(seed[:])
		w.owners = append(w.owners, ed25519.NewKeyFromSeed(seed[:]))
	}
	for i := 0; i < cfg.Names; i++ {
		w.names = append(w.names, fmt.Sprintf("name-%d.ron", i))
	}
	if cfg.Mix.Put > 0 || cfg.Mix.Get > 0 || cfg.Mix.RangeGet > 0 {
		w.content = newContentClients(w, rand.Derive("content"))
	}
	transport := &http.Transport{MaxIdleConnsPerHost: cfg.Clients, IdleConnTimeout: 30 * time.Second}
	w.http = &http.Client{Transport: transport}
	return w, nil
}

// httpFor is the client c sends to node target with: OAP/1 for the
// first oapCount clients, HTTP for the others.
func (w *clients) httpFor(c, target int) *http.Client {
	if c < w.oapCount {
		return w.oap[target]
	}
	return w.http
}

// close closes the OAP/1 clients.
func (w *clients) close() {
	for _, c := range w.oap {
		if closer, ok := c.Transport.(io.Closer); ok {
			_ = closer.Close()
		}
	}
}

func (w *clients) now() int64 { return time.Since(w.start).Nanoseconds() }

// ownerHex is the history encoding of owner i's public key.
func (w *clients) ownerHex(i int) string {
	return hex.EncodeToString(w.owners[i].Public().(ed25519.PublicKey))
}

// run starts every client and returns when all have stopped (at the
// workload's stop time, after their last operation ended).
func (w *clients) run(ctx context.Context) {
	var wg sync.WaitGroup
	for c := 0; c < w.cfg.Clients; c++ {
		rand := w.rand.Derive(fmt.Sprintf("client/%d", c))
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.client(ctx, c, rand)
		}()
	}
	wg.Wait()
	w.http.CloseIdleConnections()
}

// think draws the pause before a client's next operation.
func (w *clients) think(rand *env.Rand) time.Duration {
	mean := float64(w.cfg.Clients) / w.cfg.RatePerSecond
	return time.Duration(rand.ExpFloat64() * mean * float64(time.Second))
}

func sleepUntil(ctx context.Context, at time.Time) bool {
	t := time.NewTimer(time.Until(at))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

type known struct {
	owner int
	seq   uint64
}

func (w *clients) client(ctx context.Context, c int, rand *env.Rand) {
	knowledge := map[string]known{}
	if !sleepUntil(ctx, w.start.Add(w.cfg.Start+w.think(rand))) {
		return
	}
	for time.Since(w.start) < w.cfg.Stop {
		target := w.cluster.pickUp(rand)
		switch {
		case target < 0:
		case w.pickContent(rand):
			w.content.operate(ctx, c, target, rand)
		default:
			w.operate(ctx, c, target, rand, knowledge)
		}
		if !sleepUntil(ctx, time.Now().Add(w.think(rand))) {
			return
		}
	}
}

// pickContent draws whether the next operation is a content one, by the
// weights of the mix (sim/runner runs the two workloads side by side at
// their shares of the rate).
func (w *clients) pickContent(rand *env.Rand) bool {
	m := w.cfg.Mix
	registry := m.Claim + m.Set + m.Resolve + m.StaleResolve
	content := m.Put + m.Get + m.RangeGet
	switch {
	case w.content == nil:
		return false
	case registry == 0:
		return true
	}
	return rand.Float64()*(registry+content) >= registry
}

func (w *clients) pickKind(rand *env.Rand) string {
	m := w.cfg.Mix
	x := rand.Float64() * (m.Claim + m.Set + m.Resolve + m.StaleResolve)
	switch {
	case x < m.Claim:
		return workload.OpClaim
	case x < m.Claim+m.Set:
		return workload.OpSet
	case x < m.Claim+m.Set+m.Resolve:
		return workload.OpResolve
	}
	return workload.OpStaleResolve
}

// operate runs one operation against node target and records it.
func (w *clients) operate(ctx context.Context, c, target int, rand *env.Rand, knowledge map[string]known) {
	name := w.names[rand.Intn(len(w.names))]
	op := &workload.Op{Client: c, Kind: w.pickKind(rand), Name: name, Node: target}
	req := w.build(op, rand, knowledge)
	w.mu.Lock()
	op.Call = w.now()
	w.history.Ops = append(w.history.Ops, op)
	w.mu.Unlock()
	reqCtx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	status, body, err := w.cluster.nodes[target].do(reqCtx, w.httpFor(c, target), req.method, req.path, req.body, req.auth)
	output, unknown := w.outcome(op, status, body, err, knowledge)
	if !unknown {
		ret := w.now()
		op.Return, op.Output = &ret, output
	}
}

// request is one HTTP exchange of the workload.
type request struct {
	method, path string
	body         []byte
	auth         bool
}

// build fills op.Input and returns the HTTP request (sim/workload's
// Registry.build over HTTP).
func (w *clients) build(op *workload.Op, rand *env.Rand, knowledge map[string]known) request {
	k, seen := knowledge[op.Name]
	path := "/names/" + op.Name
	switch op.Kind {
	case workload.OpClaim:
		owner := rand.Intn(workload.OwnersCount)
		op.Input = map[string]any{"owner": w.ownerHex(owner)}
		body, _ := json.Marshal(map[string]string{"owner": w.ownerHex(owner)})
		return request{method: http.MethodPost, path: path, body: body, auth: true}
	case workload.OpSet:
		owner := rand.Intn(workload.OwnersCount)
		if seen && rand.Bool(0.8) {
			owner = k.owner
		}
		seq := k.seq + 1
		if rand.Bool(0.2) {
			seq = uint64(rand.Intn(int(k.seq) + 3)) // often stale
		}
		var target proto.Addr
		rand.Fill(target[:])
		sig := ed25519.Sign(w.owners[owner], registry.SetSigningBytes(op.Name, target, seq))
		op.Input = map[string]any{"owner": w.ownerHex(owner), "target": target.String(), "seq": seq}
		body, _ := json.Marshal(map[string]any{"target": target.String(), "seq": seq, "owner": w.ownerHex(owner), "sig": hex.EncodeToString(sig)})
		return request{method: http.MethodPut, path: path, body: body, auth: true}
	case workload.OpResolve:
		op.Input = map[string]any{}
		return request{method: http.MethodGet, path: path}
	}
	op.Input = map[string]any{}
	return request{method: http.MethodGet, path: path + "?stale=1"}
}

// envelope is the gateway's error body (io/gateway.Envelope; sim/ may not
// import io/, and the JSON is the contract).
type envelope struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// nameRecord is the JSON of a name (io/gateway.NameRecord).
type nameRecord struct {
	Name, Owner, Target string
	Seq                 uint64
}

// outcome maps an HTTP answer to a history output; unknown is true when
// the client cannot know whether the op took effect. A request that never
// reached the node (connection refused) is a definite no-op.
func (w *clients) outcome(op *workload.Op, status int, body []byte, err error, knowledge map[string]known) (map[string]any, bool) {
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return failure(op, "unavailable"), false
		}
		return nil, true
	}
	read := op.Kind == workload.OpResolve || op.Kind == workload.OpStaleResolve
	switch {
	case read && status == http.StatusOK:
		var rec nameRecord
		if err := json.Unmarshal(body, &rec); err != nil {
			return failure(op, "error: bad record: "+err.Error()), false
		}
		if i := w.ownerIndex(rec.Owner); i >= 0 {
			knowledge[op.Name] = known{owner: i, seq: rec.Seq}
		}
		return map[string]any{"found": true, "target": rec.Target, "seq": rec.Seq, "owner": rec.Owner}, false
	case !read && (status == http.StatusCreated || status == http.StatusOK):
		w.learnWrite(op, knowledge)
		return map[string]any{"ok": true}, false
	}
	var env envelope
	_ = json.Unmarshal(body, &env)
	if env.Code == "UNKNOWN_OUTCOME" {
		return nil, true
	}
	if read && status == http.StatusNotFound && env.Code == "NOT_FOUND" {
		return map[string]any{"found": false}, false
	}
	return failure(op, errorCode(status, env)), false
}

func failure(op *workload.Op, code string) map[string]any {
	if op.Kind == workload.OpResolve || op.Kind == workload.OpStaleResolve {
		return map[string]any{"found": false, "error": code}
	}
	return map[string]any{"ok": false, "error": code}
}

// errorCode recovers the history's error code (sim/workload's errorCode)
// from an envelope: the gateway folds several registry errors into one
// HTTP code, and its message keeps the registry error's text.
func errorCode(status int, env envelope) string {
	for _, c := range []struct {
		err  error
		code string
	}{
		{registry.ErrTaken, "taken"}, {registry.ErrNotFound, "not_found"}, {registry.ErrNotOwner, "not_owner"},
		{registry.ErrStaleSeq, "stale_seq"}, {registry.ErrSeqAhead, "stale_seq"}, {registry.ErrBadSignature, "bad_signature"},
		{registry.ErrInvalidName, "invalid_name"}, {registry.ErrTooLarge, "too_large"}, {registry.ErrRegistryFull, "too_large"},
		{registry.ErrUnavailable, "unavailable"}, {registry.ErrFailed, "failed"},
	} {
		if strings.Contains(env.Message, c.err.Error()) {
			return c.code
		}
	}
	switch env.Code {
	case "UNAVAILABLE", "OVERLOADED", "OVER_QUOTA":
		return "unavailable"
	}
	return fmt.Sprintf("error: %d %s %s", status, env.Code, env.Message)
}

func (w *clients) ownerIndex(pub string) int {
	for i := range w.owners {
		if w.ownerHex(i) == pub {
			return i
		}
	}
	return -1
}

func (w *clients) learnWrite(op *workload.Op, knowledge map[string]known) {
	owner := w.ownerIndex(op.Input["owner"].(string))
	switch op.Kind {
	case workload.OpSet:
		knowledge[op.Name] = known{owner: owner, seq: op.Input["seq"].(uint64)}
	case workload.OpClaim:
		if _, seen := knowledge[op.Name]; !seen {
			knowledge[op.Name] = known{owner: owner}
		}
	}
}

// History is the recorded history; call it once the clients stopped.
func (w *clients) History() *workload.History {
	w.mu.Lock()
	defer w.mu.Unlock()
	return &w.history
}

// do runs one HTTP exchange with node n under ctx.
func (n *node) do(ctx context.Context, client *http.Client, method, path string, body []byte, auth bool) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, n.url()+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+n.bearer())
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, ResponseBytesMax))
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, data, nil
}

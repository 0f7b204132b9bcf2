package workload_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/sim"
	"github.com/ron-network/ron/sim/check"
	"github.com/ron-network/ron/sim/workload"
)

// The small world every test here runs: three registry replicas, four
// clients, and node n1 stalled (paused) for three seconds so that some
// operations cannot complete before their timeout.
const (
	replicasCount = 3
	runFor        = 10 * time.Second
	pauseAt       = 3 * time.Second
	pauseFor      = 3 * time.Second
	pausedNode    = 0
)

var smallConfig = workload.RegistryConfig{
	Clients: 4, RatePerSecond: 100, Timeout: time.Second,
	Start: 500 * time.Millisecond, Stop: 8 * time.Second, Names: 4,
	Claim: 0.2, Set: 0.4, Resolve: 0.3, StaleResolve: 0.1,
}

// runRegistry runs the small world for seed and returns the workload. The
// nodes share cfg.Signatures, as the runner's do.
func runRegistry(t *testing.T, seed uint64, cfg workload.RegistryConfig) *workload.Registry {
	t.Helper()
	var w *sim.World
	var replicas []proto.NodeID
	w = sim.New(sim.Config{
		Seed:  seed,
		Nodes: replicasCount,
		NewNode: func(i int, e env.Env) *node.Node {
			reg := registry.New(registry.Config{Key: w.NodeKey(i), Replicas: replicas, Signatures: cfg.Signatures})
			return node.New(e, node.Config{Invariants: true}, reg)
		},
		Network:    sim.NetworkConfig{LatencyP50: 2 * time.Millisecond, LatencyP99: 20 * time.Millisecond},
		Invariants: true,
	})
	defer w.Close()
	for i := 0; i < w.Nodes(); i++ {
		replicas = append(replicas, w.NodeID(i))
	}
	slices.SortFunc(replicas, proto.NodeID.Compare)
	wl := workload.NewRegistry(w, cfg)
	wl.Start()
	w.At(pauseAt, func() { w.Pause(pausedNode, pauseFor) })
	if err := w.RunUntil(runFor); err != nil {
		t.Fatalf("run: %v", err)
	}
	return wl
}

// The clients sign through the nodes' shared signature cache, so no node
// verifies a client's signature itself: every lookup is a hit (a miss is
// a full Verify, which each Set cost its first node before).
func TestRegistrySignaturesAreKnownGood(t *testing.T) {
	cfg := smallConfig
	cfg.Signatures = registry.NewSignatureCache()
	runRegistry(t, 1, cfg)
	if hits, misses := cfg.Signatures.Stats(); hits == 0 || misses != 0 {
		t.Fatalf("shared cache: %d hits, %d misses; want hits and no verification", hits, misses)
	}
}

func TestRegistryHistoryShape(t *testing.T) {
	wl := runRegistry(t, 1, smallConfig)
	ops := wl.History().Ops
	if len(ops) < 100 {
		t.Fatalf("%d ops in 7.5s at 100/s", len(ops))
	}
	kinds := map[string]int{}
	names := wl.Names()
	for i, op := range ops {
		kinds[op.Kind]++
		if op.Client < 0 || op.Client >= smallConfig.Clients || op.Node < 0 || op.Node >= replicasCount {
			t.Fatalf("op %d: client %d node %d out of range", i, op.Client, op.Node)
		}
		if !slices.Contains(names, op.Name) {
			t.Fatalf("op %d: name %q is not one of %v", i, op.Name, names)
		}
		call := time.Duration(op.Call)
		if call < smallConfig.Start || call >= smallConfig.Stop {
			t.Fatalf("op %d called at %v, outside [%v, %v)", i, call, smallConfig.Start, smallConfig.Stop)
		}
		if i > 0 && op.Call < ops[i-1].Call {
			t.Fatalf("op %d called at %d before op %d at %d: not in invocation order", i, op.Call, i-1, ops[i-1].Call)
		}
		if (op.Return == nil) != (op.Output == nil) || op.Unknown() != (op.Return == nil) {
			t.Fatalf("op %d: return %v with output %v", i, op.Return, op.Output)
		}
		if op.Return != nil && (*op.Return < op.Call || *op.Return > op.Call+int64(smallConfig.Timeout)) {
			t.Fatalf("op %d: call %d return %d (timeout %v)", i, op.Call, *op.Return, smallConfig.Timeout)
		}
		checkInput(t, i, op)
	}
	for _, k := range []string{workload.OpClaim, workload.OpSet, workload.OpResolve, workload.OpStaleResolve} {
		if kinds[k] == 0 {
			t.Fatalf("no %s in %v, though its weight is > 0", k, kinds)
		}
	}
	if len(kinds) != 4 {
		t.Fatalf("unexpected kinds %v", kinds)
	}
}

func checkInput(t *testing.T, i int, op *workload.Op) {
	t.Helper()
	hex64 := regexp.MustCompile(`^[0-9a-f]{64}$`)
	switch op.Kind {
	case workload.OpClaim, workload.OpSet:
		if owner, _ := op.Input["owner"].(string); !hex64.MatchString(owner) {
			t.Fatalf("op %d %s: owner %v", i, op.Kind, op.Input["owner"])
		}
		if op.Kind == workload.OpClaim {
			break
		}
		target, _ := op.Input["target"].(string)
		if _, err := proto.ParseAddr(target); err != nil {
			t.Fatalf("op %d set: target %q: %v", i, target, err)
		}
		if _, ok := op.Input["seq"].(uint64); !ok {
			t.Fatalf("op %d set: seq %T", i, op.Input["seq"])
		}
	default:
		if len(op.Input) != 0 {
			t.Fatalf("op %d %s: input %v, want empty", i, op.Kind, op.Input)
		}
	}
}

// Each client has one operation outstanding: its next call comes after
// the previous answer, or after the previous timeout when it had none.
func TestRegistryClientsAreSequential(t *testing.T) {
	wl := runRegistry(t, 2, smallConfig)
	last := map[int]*workload.Op{}
	for i, op := range wl.History().Ops {
		if prev, ok := last[op.Client]; ok {
			end := prev.Call + int64(smallConfig.Timeout)
			if prev.Return != nil {
				end = *prev.Return
			}
			if op.Call < end {
				t.Fatalf("op %d: client %d called at %d before its previous op ended at %d", i, op.Client, op.Call, end)
			}
		}
		last[op.Client] = op
	}
	if len(last) != smallConfig.Clients {
		t.Fatalf("%d of %d clients issued operations", len(last), smallConfig.Clients)
	}
}

// Requests to the paused node cannot be answered before their timeout:
// they must be recorded as unknown, with a nil return and output.
func TestRegistryUnknownOutcomesWhileNodeStalled(t *testing.T) {
	wl := runRegistry(t, 3, smallConfig)
	stalled, known := 0, 0
	for i, op := range wl.History().Ops {
		call := time.Duration(op.Call)
		if op.Node != pausedNode || call <= pauseAt || call >= pauseAt+pauseFor-smallConfig.Timeout {
			if !op.Unknown() {
				known++
			}
			continue
		}
		stalled++
		if op.Return != nil || op.Output != nil {
			t.Fatalf("op %d to the paused node at %v: return %v output %v, want unknown", i, call, *op.Return, op.Output)
		}
	}
	if stalled == 0 {
		t.Fatal("no operation went to the paused node: the test proves nothing")
	}
	if known == 0 {
		t.Fatal("no operation completed")
	}
}

// The history the clients record is one the checker accepts, and the
// registry it ran against is linearizable.
func TestRegistryHistoryLinearizable(t *testing.T) {
	wl := runRegistry(t, 4, smallConfig)
	lin, err := check.Linearizable(wl.History(), 10*time.Second)
	if err != nil {
		t.Fatalf("history not convertible: %v", err)
	}
	if lin.Result != porcupine.Ok {
		t.Fatalf("lincheck %v over %d ops", lin.Result, lin.Ops)
	}
	if res := check.StaleReads(wl.History()); !res.OK {
		t.Fatalf("stale reads: %s", res.Detail)
	}
}

func TestRegistrySameSeedSameHistory(t *testing.T) {
	lines := func(seed uint64) []byte {
		var buf bytes.Buffer
		if err := runRegistry(t, seed, smallConfig).History().WriteJSONLines(&buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	a, b, c := lines(5), lines(5), lines(6)
	if !bytes.Equal(a, b) {
		t.Fatal("two runs of seed 5 wrote different histories")
	}
	if bytes.Equal(a, c) {
		t.Fatal("seeds 5 and 6 wrote the same history")
	}
}

func TestRegistryWithoutClientsIssuesNothing(t *testing.T) {
	cfg := smallConfig
	cfg.Clients = 0
	if ops := runRegistry(t, 1, cfg).History().Ops; len(ops) != 0 {
		t.Fatalf("%d ops without clients", len(ops))
	}
}

// topKeys returns the keys of the JSON object in line, in order.
func topKeys(t *testing.T, line []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("line %s is not an object", line)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// documentedLines returns the example lines of scenarios/README.md's
// Histories section.
func documentedLines(t *testing.T) [][]byte {
	t.Helper()
	data, err := os.ReadFile("../../scenarios/README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n## Histories\n")
	if !ok {
		t.Fatal("scenarios/README.md has no Histories section")
	}
	_, block, ok := strings.Cut(section, "```jsonl\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("the Histories section has no jsonl example")
	}
	var out [][]byte
	sc := bufio.NewScanner(strings.NewReader(block))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			out = append(out, []byte(line))
		}
	}
	return out
}

type docLine struct {
	Op     string         `json:"op"`
	Input  map[string]any `json:"input"`
	Output map[string]any `json:"output"`
	Return *int64         `json:"return"`
}

func sortedKeys(m map[string]any) string {
	return strings.Join(env.SortedKeys(m), ",")
}

// The JSON lines the workload writes have the documented keys in the
// documented order, and every input and output has the shape of a
// documented example of its op.
func TestHistoryJSONLinesMatchREADME(t *testing.T) {
	docs := documentedLines(t)
	if len(docs) == 0 {
		t.Fatal("no documented lines")
	}
	wantKeys := topKeys(t, docs[0])
	shapes := map[string]map[string]bool{} // op -> "in:..|out:.." shapes documented
	for _, line := range docs {
		if got := topKeys(t, line); !slices.Equal(got, wantKeys) {
			t.Fatalf("README examples disagree on keys: %v vs %v", got, wantKeys)
		}
		var d docLine
		if err := json.Unmarshal(line, &d); err != nil {
			t.Fatalf("README line %s: %v", line, err)
		}
		if shapes[d.Op] == nil {
			shapes[d.Op] = map[string]bool{}
		}
		shapes[d.Op]["in:"+sortedKeys(d.Input)] = true
		shapes[d.Op]["out:"+outShape(d.Output)] = true
		// The README documents outputs per family: claim and set answer
		// ok, resolve and stale_resolve answer found.
		family := outputFamily(d.Op)
		if shapes[family] == nil {
			shapes[family] = map[string]bool{}
		}
		shapes[family]["out:"+outShape(d.Output)] = true
	}

	wl := runRegistry(t, 7, smallConfig)
	var buf bytes.Buffer
	if err := wl.History().WriteJSONLines(&buf); err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
	if len(lines) != len(wl.History().Ops) {
		t.Fatalf("%d lines for %d ops", len(lines), len(wl.History().Ops))
	}
	for i, line := range lines {
		if got := topKeys(t, line); !slices.Equal(got, wantKeys) {
			t.Fatalf("line %d keys %v, README documents %v", i, got, wantKeys)
		}
		var d docLine
		if err := json.Unmarshal(line, &d); err != nil {
			t.Fatal(err)
		}
		if shapes[d.Op] == nil {
			t.Fatalf("line %d: op %q is not documented", i, d.Op)
		}
		if in := "in:" + sortedKeys(d.Input); !shapes[d.Op][in] {
			t.Fatalf("line %d: %s %s not documented in README (documented: %v)", i, d.Op, in, shapes[d.Op])
		}
		if out := "out:" + outShape(d.Output); !shapes[outputFamily(d.Op)][out] {
			t.Fatalf("line %d: %s %s not documented in README (documented: %v)", i, d.Op, out, shapes[outputFamily(d.Op)])
		}
		if (d.Output == nil) != (d.Return == nil) {
			t.Fatalf("line %d: output and return disagree on unknown: %s", i, line)
		}
	}
}

func outputFamily(op string) string {
	if op == workload.OpResolve || op == workload.OpStaleResolve {
		return "family:found"
	}
	return "family:ok"
}

// outShape describes an output by its keys and, for ok/found, their value.
func outShape(out map[string]any) string {
	if out == nil {
		return "null"
	}
	shape := sortedKeys(out)
	for _, k := range []string{"ok", "found"} {
		if v, ok := out[k].(bool); ok {
			shape += ";" + k + "=" + map[bool]string{true: "true", false: "false"}[v]
		}
	}
	return shape
}

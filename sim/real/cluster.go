package real

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/internal/loopback"
	"github.com/ron-network/ron/sim/scenario"
)

// Bounds of process handling. They are deadlines, not expectations: on a
// loaded 2-core machine a start can take seconds.
const (
	StartDeadline = 60 * time.Second // /readyz after a start
	ReadyDeadline = 90 * time.Second // every node ready and a leader elected
	ExitDeadline  = 20 * time.Second // a killed process is reaped
	PollInterval  = 100 * time.Millisecond
)

// BuildRond builds ./cmd/rond of the module rooted at moduleDir into dir
// (with -tags tags when not empty) and returns the binary's path.
func BuildRond(moduleDir, dir, tags string) (string, error) {
	bin := filepath.Join(dir, "rond")
	args := []string{"build", "-o", bin}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	cmd := exec.Command("go", append(args, "./cmd/rond")...)
	cmd.Dir = moduleDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("real: go build ./cmd/rond: %v\n%s", err, out)
	}
	return bin, nil
}

// node is one rond macronode. Its identity, data dir and addresses
// persist across restarts of its process, so peers (and their relays)
// find a restarted node where they expect it.
type node struct {
	index   int
	name    string
	dataDir string
	quic    string // fixed UDP host:port
	http    string // fixed TCP host:port
	fpAddr  string // fixed TCP host:port of the failpoint HTTP endpoint
	oap     string // fixed UDP host:port of the OAP/1 client endpoint
	id      proto.NodeID
	args    []string // --bootstrap, --replicas, --registry-replica
	env     []string // GO_FAILPOINTS and the like, for every start
	logPath string

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	token   string
	up      bool // started and not crashed
	ready   bool // answered /readyz since its latest start
	paused  bool
	starts  int
	logFile *os.File
	// failpoints in force (name -> terms), reapplied at every start.
	failpoints map[string]string
	// reserved hold the node's ports until its first start.
	reserved []io.Closer
	// bin is the binary the node runs (the old one until an upgrade) and
	// oldFormat its data dir's format after the first start, which a
	// downgrade migrates back to; the timeline goroutine owns both.
	bin       string
	oldFormat uint32
	// unsyncedSurvive is the node's disk.unsynced_survive now (0 or 1):
	// what its next crash keeps of its unsynced writes.
	unsyncedSurvive float64
}

// newNode makes a data dir holding a fresh node key derived from rand, so
// the id is known before the process starts.
func newNode(index int, workDir string, rand *env.Rand) (*node, error) {
	n := &node{index: index, name: fmt.Sprintf("n%d", index+1)}
	n.dataDir = filepath.Join(workDir, n.name)
	if err := os.MkdirAll(n.dataDir, 0o700); err != nil {
		return nil, err
	}
	seed := make([]byte, ed25519.SeedSize)
	rand.Fill(seed)
	if err := os.WriteFile(filepath.Join(n.dataDir, "node.key"), []byte(hex.EncodeToString(seed)+"\n"), 0o600); err != nil {
		return nil, err
	}
	n.id = proto.NodeIDFromPublicKey(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey))
	var err error
	if n.quic, err = n.reserveUDP(); err != nil {
		n.release()
		return nil, err
	}
	if n.http, err = n.reserveTCP(); err != nil {
		n.release()
		return nil, err
	}
	if n.fpAddr, err = n.reserveTCP(); err != nil {
		n.release()
		return nil, err
	}
	if n.oap, err = n.reserveUDP(); err != nil {
		n.release()
		return nil, err
	}
	n.logPath = filepath.Join(workDir, n.name+".log")
	return n, nil
}

// reserveUDP and reserveTCP pick a free loopback port below the
// ephemeral range (loopback.ListenFixed: the node keeps it across restarts) and
// hold it open until the node's first start (release): a port closed at
// once could be handed to a relay's socket, opened meanwhile, and rond
// would then fail to bind it ("already in use").
func (n *node) reserveUDP() (string, error) { return n.reserve(loopback.UDP) }

func (n *node) reserveTCP() (string, error) { return n.reserve(loopback.TCP) }

func (n *node) reserve(listen func(addr string) (io.Closer, string, error)) (string, error) {
	c, addr, err := loopback.ListenFixed(listen)
	if err != nil {
		return "", err
	}
	n.reserved = append(n.reserved, c)
	return addr, nil
}

// release closes the reservations (called with n.mu held or before the
// node is shared).
func (n *node) release() {
	for _, c := range n.reserved {
		_ = c.Close()
	}
	n.reserved = nil
}

func (n *node) url() string { return "http://" + n.http }

func (n *node) tokenFile() string { return filepath.Join(n.dataDir, "root.token") }

// startArgs are the flags of every start.
func (n *node) startArgs() []string {
	return append([]string{"--data-dir", n.dataDir, "--http-addr", n.http, "--quic-addr", n.quic,
		"--oap-addr", n.oap, "--root-token-file", n.tokenFile(), "--log-level", "debug",
		// No edge cache: the simulator's nodes have none, and cached reads
		// would never meet a disk fault.
		"--edge-cache-bytes", "0"}, n.args...)
}

// start runs the process in its own process group (so a kill reaches
// every child) with a parent-death signal (so it never outlives ronsim).
func (n *node) start(bin string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		return fmt.Errorf("real: %s already running", n.name)
	}
	if n.logFile == nil {
		f, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		n.logFile = f
	}
	_ = os.Remove(n.tokenFile())
	n.release()
	args := n.startArgs()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = n.logFile, n.logFile
	cmd.Env = append(os.Environ(), n.env...)
	cmd.Env = append(cmd.Env, n.failpointEnv()...)
	cmd.Env = append(cmd.Env, "GO_FAILPOINTS_HTTP="+n.fpAddr)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	fmt.Fprintf(n.logFile, "--- ronsim real: start %d: %s %s\n", n.starts+1, bin, strings.Join(args, " "))
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("real: start %s: %w", n.name, err)
	}
	n.starts++
	n.cmd, n.exited, n.up, n.paused, n.ready = cmd, make(chan struct{}), true, false, false
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(n.exited)
	return nil
}

// waitStarted polls /readyz and reads the root token the process wrote;
// the clients send to the node from then on.
func (n *node) waitStarted() error {
	deadline := time.Now().Add(StartDeadline)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		n.mu.Lock()
		exited := n.exited
		n.mu.Unlock()
		select {
		case <-exited:
			return fmt.Errorf("real: %s exited while starting (log: %s)", n.name, n.logPath)
		default:
		}
		if resp, err := client.Get(n.url() + "/readyz"); err == nil {
			serving := resp.StatusCode == http.StatusOK || registryOnlyUnready(resp)
			resp.Body.Close()
			token, err := os.ReadFile(filepath.Join(n.dataDir, "root.token"))
			if serving && err == nil && len(token) > 0 {
				n.mu.Lock()
				n.token = strings.TrimSpace(string(token))
				n.ready = true
				n.mu.Unlock()
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("real: %s not ready within %v (log: %s)", n.name, StartDeadline, n.logPath)
		}
		time.Sleep(PollInterval)
	}
}

// registryOnlyUnready reports whether a /readyz answer is a 503 whose
// only cause is the registry (reason registry_no_leader or
// registry_unreachable: io/runtime's NodeUnready). Such a node has
// started and serves; it is cut off from the registry quorum, as a node
// restarted into a partition is, and the run's checks judge what it then
// answers.
func registryOnlyUnready(resp *http.Response) bool {
	if resp.StatusCode != http.StatusServiceUnavailable {
		return false
	}
	var env struct {
		Reason string `json:"reason"`
	}
	if json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&env) != nil {
		return false
	}
	return env.Reason == "registry_no_leader" || env.Reason == "registry_unreachable"
}

// signalGroup sends sig to the node's process group.
func (n *node) signalGroup(sig syscall.Signal) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return fmt.Errorf("real: %s is not running", n.name)
	}
	return syscall.Kill(-n.cmd.Process.Pid, sig)
}

// waitStopped polls /proc until every thread of the node's process is in
// the stopped state ('T'), within ExitDeadline.
func (n *node) waitStopped() error {
	n.mu.Lock()
	cmd := n.cmd
	n.mu.Unlock()
	if cmd == nil {
		return fmt.Errorf("real: %s is not running", n.name)
	}
	deadline := time.Now().Add(ExitDeadline)
	for {
		stopped, err := allThreadsStopped(cmd.Process.Pid)
		if err != nil || stopped {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("real: %s not stopped %v after SIGSTOP", n.name, ExitDeadline)
		}
		time.Sleep(time.Millisecond)
	}
}

// allThreadsStopped reports whether every thread of pid is stopped, from
// the state field of /proc/PID/task/TID/stat (after the parenthesised
// command name, which may itself hold spaces or parentheses).
func allThreadsStopped(pid int) (bool, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return false, fmt.Errorf("real: reading %s: %w", dir, err)
	}
	for _, task := range tasks {
		stat, err := os.ReadFile(filepath.Join(dir, task.Name(), "stat"))
		if err != nil {
			return false, nil // a thread that just exited: look again
		}
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 || i+2 >= len(stat) {
			return false, fmt.Errorf("real: malformed %s/%s/stat", dir, task.Name())
		}
		if state := stat[i+2]; state != 'T' && state != 't' {
			return false, nil
		}
	}
	return true, nil
}

// kill sends SIGKILL to the process group (no shutdown path runs) and
// reaps the process. A paused process dies too: SIGKILL needs no SIGCONT.
func (n *node) kill() error {
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-exited:
	case <-time.After(ExitDeadline):
		return fmt.Errorf("real: %s not reaped %v after SIGKILL", n.name, ExitDeadline)
	}
	n.mu.Lock()
	n.cmd, n.up, n.paused, n.ready = nil, false, false, false
	if n.logFile != nil {
		fmt.Fprintf(n.logFile, "--- ronsim real: killed\n")
	}
	n.mu.Unlock()
	return nil
}

func (n *node) isUp() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.up
}

// serving reports whether clients should send to the node: up and ready
// since its latest start (a paused node still counts: its clients time out).
func (n *node) serving() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.up && n.ready
}

func (n *node) bearer() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.token
}

func (n *node) pid() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

func (n *node) closeLog() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.logFile != nil {
		_ = n.logFile.Close()
		n.logFile = nil
	}
}

// leaderLine is what etcd raft logs (at debug in rond) when a replica
// wins an election.
var leaderLine = regexp.MustCompile(`became leader at term (\d+)`)

// leaderTerm returns the highest term this node's log says it led, 0 if
// none. Reading the log is the black-box way to find the leader: rond has
// no endpoint that names it.
func (n *node) leaderTerm() (uint64, error) {
	f, err := os.Open(n.logPath)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var best uint64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if m := leaderLine.FindSubmatch(line); m != nil {
			if t, err := strconv.ParseUint(string(m[1]), 10, 64); err == nil && t > best {
				best = t
			}
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		return best, err
	}
	return best, nil
}

// cluster is the scenario's nodes with a relay on every directed link.
type cluster struct {
	bin       string
	old       string // the binary nodes start on (--rond-old; bin without it)
	formatNew uint32 // the format an upgrade migrates to

	nodes    []*node
	replicas int
	net      *netState
	relays   []*relay
	rand     *env.Rand // fault targets; used by the timeline goroutine only
	metrics  metricsBank
}

// newCluster prepares the nodes and relays (nothing runs yet but the
// relays): node i reaches node j through the relay of link i -> j.
func newCluster(bin, workDir string, nodes, replicas int, base scenario.Network, rand *env.Rand) (*cluster, error) {
	c := &cluster{bin: bin, replicas: replicas, net: newNetState(nodes, base), rand: rand.Derive("faults")}
	keys := rand.Derive("keys")
	for i := 0; i < nodes; i++ {
		n, err := newNode(i, workDir, keys)
		if err != nil {
			c.close()
			return nil, err
		}
		c.nodes = append(c.nodes, n)
	}
	var replicaIDs []string
	for i := 0; i < replicas; i++ {
		replicaIDs = append(replicaIDs, c.nodes[i].id.String())
	}
	for _, from := range c.nodes {
		var boot []string
		for _, to := range c.nodes {
			if from == to {
				continue
			}
			r, err := newRelay(from.index, to.index, to.quic, c.net, rand.Derive(fmt.Sprintf("relay/%d/%d", from.index, to.index)))
			if err != nil {
				c.close()
				return nil, err
			}
			// The dialer sends from its QUIC port: open that upstream
			// socket now, while every node's port is still reserved, so it
			// cannot take one of them.
			if src, err := net.ResolveUDPAddr("udp", from.quic); err == nil {
				_, err = r.upstreamFor(src)
				if err != nil {
					r.close()
					c.close()
					return nil, err
				}
			}
			c.relays = append(c.relays, r)
			boot = append(boot, to.id.String()+"@"+r.addr())
		}
		from.args = []string{"--bootstrap", strings.Join(boot, ",")}
		if replicas > 0 {
			from.args = append(from.args, "--replicas", strings.Join(replicaIDs, ","))
		}
	}
	return c, nil
}

// startAll starts every node and waits for each to be ready.
func (c *cluster) startAll() error {
	if c.old == "" {
		c.old = c.bin
	} else if err := checkFlags(c.old, c.nodes[0].startArgs()); err != nil {
		return err
	}
	for _, n := range c.nodes {
		n.bin = c.old
		if err := n.start(n.bin); err != nil {
			return err
		}
	}
	for _, n := range c.nodes {
		if err := n.waitStarted(); err != nil {
			return err
		}
		format, err := readFormat(n.dataDir)
		if err != nil {
			return err
		}
		n.oldFormat = format
	}
	return nil
}

// close kills every process group and stops every relay; it is safe to
// call more than once and on a half-built cluster.
func (c *cluster) close() []error {
	var errs []error
	for _, n := range c.nodes {
		if err := n.kill(); err != nil {
			errs = append(errs, err)
		}
		n.mu.Lock()
		n.release()
		n.mu.Unlock()
		n.closeLog()
	}
	for _, r := range c.relays {
		r.close()
	}
	c.relays = nil
	return errs
}

// pickUp draws an up node, or -1 when every node is down (sim/workload's
// pickNode).
func (c *cluster) pickUp(rand *env.Rand) int {
	n := len(c.nodes)
	start := rand.Intn(n)
	for k := 0; k < n; k++ {
		if i := (start + k) % n; c.nodes[i].serving() {
			return i
		}
	}
	return -1
}

// leader returns the up replica whose log shows the highest term it led,
// or -1 when no up replica has led yet.
func (c *cluster) leader() int {
	best, bestTerm := -1, uint64(0)
	for i := 0; i < c.replicas; i++ {
		if !c.nodes[i].isUp() {
			continue
		}
		if t, err := c.nodes[i].leaderTerm(); err == nil && t > bestTerm {
			best, bestTerm = i, t
		}
	}
	return best
}

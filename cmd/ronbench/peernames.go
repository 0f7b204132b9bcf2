package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/io/gateway"
)

// nameSystem is a replicated key-value store under the name workloads.
// Workers are numbered; worker k talks to member k mod 3.
type nameSystem struct {
	name string
	// create makes the names (claims, or first puts) before a phase.
	create func(c *http.Client, names []string) error
	// write sets name to a fresh value unconditionally as far as the
	// caller knows: seq is the caller's next seq for it (rond needs one,
	// etcd ignores it).
	write func(k int, c *http.Client, name string, seq uint64) error
	// cas sets name if its current seq is seq-1; on a conflict it
	// returns ok false and the current seq (from the refusal itself).
	cas func(k int, c *http.Client, name string, seq uint64) (ok bool, current uint64, err error)
	// resolve reads name linearizably.
	resolve func(k int, c *http.Client, name string) error
	stop    func() error
	// metricsURLs are the members' /metrics; leaderMetric counts the
	// leader changes each member saw, isLeaderMetric is 1 on the leader.
	metricsURLs    []string
	leaderMetric   string
	isLeaderMetric string
	// setFirst makes member i the one worker 0 talks to (worker k talks
	// to member (i+k) mod 3); only the set1 phase moves it from 0.
	setFirst func(i int)
	// pids are the members' processes, whose CPU time each phase
	// reports per 1,000 operations.
	pids []int
}

// cpu sums the members' utime+stime; false when one cannot be read.
func (s *nameSystem) cpu() (time.Duration, bool) {
	var total time.Duration
	for _, pid := range s.pids {
		c, ok := processCPU(pid)
		if !ok {
			return 0, false
		}
		total += c.user + c.sys
	}
	return total, len(s.pids) > 0
}

// measured runs a phase and sets its sample's servers' CPU per 1,000
// counted operations (value x wall time of the phase).
func (s *nameSystem) measured(phase func() (sample, error)) (sample, error) {
	c0, ok0 := s.cpu()
	t0 := time.Now()
	res, err := phase()
	wall := time.Since(t0)
	c1, ok1 := s.cpu()
	// The phase's value is per second of its own timed part; the
	// setup (creating names) is in wall too, so this slightly
	// overstates CPU per op, equally for every system.
	if err == nil && ok0 && ok1 && res.value > 0 {
		res.cpuPerK = (c1 - c0).Seconds() / (res.value * wall.Seconds()) * 1000
	}
	return res, err
}

// leaderChanges sums leaderMetric over the members' /metrics: each
// member counts the changes it saw, so the sum over 3 members is about
// three times the cluster's.
func (s *nameSystem) leaderChanges(c *http.Client) (float64, error) {
	total := 0.0
	for _, u := range s.metricsURLs {
		// Every member counts the first leader it hears of, so a
		// started cluster exports it: absent means a renamed metric,
		// which must not read as "no leader changes".
		v, err := memberMetric(c, u, s.leaderMetric)
		if err != nil {
			return 0, err
		}
		total += v
	}
	return total, nil
}

// memberMetric reads metric (summed over its labels) from one member's
// /metrics; absent is an error.
func memberMetric(c *http.Client, url, metric string) (float64, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	_ = resp.Body.Close()
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %d", url, resp.StatusCode)
	}
	v, found, err := counterValue(raw, metric)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", url, err)
	}
	if !found {
		return 0, fmt.Errorf("%s: no %s", url, metric)
	}
	return v, nil
}

// place makes worker 0 talk to the member where (leader, follower or
// member 0: set1On*) and says which member that is. It waits up to
// placeWaitMax for exactly one member to report itself leader (an
// election, or an old leader not yet stepped down, may be in progress);
// failing that, worker 0 talks to member 0 and the answer says so: a
// placement is not worth the invocation's other figures.
func (s *nameSystem) place(c *http.Client, where string) string {
	if where == set1OnMember0 {
		s.setFirst(0)
		return "member 0"
	}
	leader, err := s.leader(c)
	for deadline := time.Now().Add(placeWaitMax); err != nil && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		leader, err = s.leader(c)
	}
	if err != nil {
		s.setFirst(0)
		return fmt.Sprintf("member 0, whatever its role: no leader found within %v (%v)", placeWaitMax, err)
	}
	if where == set1OnLeader {
		s.setFirst(leader)
		return fmt.Sprintf("member %d, the leader", leader)
	}
	f := (leader + 1) % members
	s.setFirst(f)
	return fmt.Sprintf("member %d, a follower of member %d", f, leader)
}

// placeWaitMax bounds place's wait for a single leader.
const placeWaitMax = 10 * time.Second

// leader is the one member that reports isLeaderMetric 1.
func (s *nameSystem) leader(c *http.Client) (int, error) {
	leader := -1
	for i, u := range s.metricsURLs {
		v, err := memberMetric(c, u, s.isLeaderMetric)
		if err != nil {
			return -1, err
		}
		if v == 1 {
			if leader >= 0 {
				return -1, fmt.Errorf("members %d and %d both report %s 1", leader, i, s.isLeaderMetric)
			}
			leader = i
		}
	}
	if leader < 0 {
		return -1, fmt.Errorf("no member reports %s 1", s.isLeaderMetric)
	}
	return leader, nil
}

// rotated is urls with member first at index 0.
func rotated(urls []string, first int) []string {
	out := make([]string, 0, len(urls))
	for j := range urls {
		out = append(out, urls[(first+j)%len(urls)])
	}
	return out
}

// counterValue sums the samples of metric (any labels) in a Prometheus
// text exposition and reports whether there was one; a sample that does
// not parse is an error.
func counterValue(raw []byte, metric string) (float64, bool, error) {
	total, found := 0.0, false
	for line := range strings.SplitSeq(string(raw), "\n") {
		if !strings.HasPrefix(line, metric) {
			continue
		}
		rest := line[len(metric):]
		if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue // a longer name with this prefix
		}
		f := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
		if len(f) == 0 {
			return 0, false, fmt.Errorf("metric line %q without a value", line)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, false, fmt.Errorf("metric line %q: %w", line, err)
		}
		total += v
		found = true
	}
	return total, found, nil
}

const (
	members      = 3
	nameConns    = 16
	casNameCount = 100
	resolveNames = 100
	clusterMax   = 90 * time.Second
)

// runNamePeers starts a 3-replica rond cluster and a 3-member etcd and
// runs the name workloads on each, o.runs times, order reversed every
// other run. Every phase uses fresh names, so no phase inherits seqs.
func runNamePeers(o peerOptions, scratch string, t *tally, w io.Writer) ([]string, error) {
	names := []string{sysRondThree, sysEtcd}
	var systems []*nameSystem
	defer func() {
		for _, s := range systems {
			_ = s.stop()
		}
	}()
	rs, err := startRondCluster(o.rond, filepath.Join(scratch, "rond-names"))
	if err != nil {
		return names, err
	}
	rs.name = sysRondThree
	systems = append(systems, rs)
	es, err := startEtcd(o.etcd, filepath.Join(scratch, "etcd"))
	if err != nil {
		t.setMissing(sysEtcd, err)
		fmt.Fprintf(w, "%s: MISSING (%v)\n", sysEtcd, err)
	} else {
		es.name = sysEtcd
		systems = append(systems, es)
	}
	byName := map[string]*nameSystem{}
	var sysNames []string
	for _, s := range systems {
		byName[s.name] = s
		sysNames = append(sysNames, s.name)
	}
	leaders := map[string]float64{}
	for _, s := range systems {
		if v, err := s.leaderChanges(newPeerClient()); err == nil {
			leaders[s.name] = v
		} else {
			fmt.Fprintf(os.Stderr, "ronbench: %s leader changes: %v\n", s.name, err)
		}
	}
	namesStart := time.Now()
	defer func() {
		minutes := time.Since(namesStart).Minutes()
		for _, s := range systems {
			before, ok := leaders[s.name]
			after, err := s.leaderChanges(newPeerClient())
			if !ok || err != nil {
				t.notes = append(t.notes, fmt.Sprintf("%s: leader changes not read (%v)", s.name, err))
				continue
			}
			t.notes = append(t.notes, fmt.Sprintf("%s: %.0f leader changes seen by the %d members in %.1f min of name workloads (%s summed over members: %.0f before, %.0f after)",
				s.name, after-before, members, minutes, s.leaderMetric, before, after))
		}
	}()
	for run := range o.runs {
		runOrder := order(sysNames, run)
		t.loads = append(t.loads, fmt.Sprintf("names run %d (order %s): load average %s", run+1, strings.Join(runOrder, ", "), loadAvg()))
		prefix := func(phase string) string { return fmt.Sprintf("r%d-%s", run, phase) }
		on := func(w workload) bool { return len(o.namePhases) == 0 || o.namePhases[w.key] }
		for _, n := range runOrder {
			if !on(wSet1) {
				break
			}
			where := byName[n].place(newPeerClient(), o.set1Member)
			t.notes = append(t.notes, fmt.Sprintf("names run %d: %s's set1 client on %s", run+1, n, where))
			res, err := byName[n].measured(func() (sample, error) { return writePhase(byName[n], prefix("set1"), 1, o.phaseTime) })
			// The 16-client workloads keep worker k on member k mod 3.
			byName[n].setFirst(0)
			if err != nil {
				return names, fmt.Errorf("ronbench: %s: %w", n, err)
			}
			t.add(wSet1, n, res)
		}
		for _, n := range runOrder {
			if !on(wWrite16) {
				break
			}
			res, err := byName[n].measured(func() (sample, error) { return writePhase(byName[n], prefix("w16"), nameConns, o.phaseTime) })
			if err != nil {
				return names, fmt.Errorf("ronbench: %s: %w", n, err)
			}
			t.add(wWrite16, n, res)
		}
		for _, n := range runOrder {
			if !on(wCAS16) {
				break
			}
			res, err := byName[n].measured(func() (sample, error) { return casPeerPhase(byName[n], prefix("cas"), o.phaseTime) })
			if err != nil {
				return names, fmt.Errorf("ronbench: %s: %w", n, err)
			}
			t.add(wCAS16, n, res)
		}
		for _, n := range runOrder {
			if !on(wResolve) {
				break
			}
			s := byName[n]
			keys := nameList(prefix("res"), resolveNames)
			if err := s.create(newPeerClient(), keys); err != nil {
				return names, fmt.Errorf("ronbench: %s: %w", n, err)
			}
			res, _ := s.measured(func() (sample, error) {
				return loadPhase(nameConns, o.phaseTime, func(k int, c *http.Client, r *mrand.Rand) error {
					return s.resolve(k, c, keys[r.IntN(len(keys))])
				}), nil
			})
			t.add(wResolve, n, res)
		}
	}
	return names, nil
}

func nameList(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d.bench", prefix, i)
	}
	return out
}

// writePhase: conns writers, each setting its own name over and over
// (so no write conflicts), for d.
func writePhase(s *nameSystem, prefix string, conns int, d time.Duration) (sample, error) {
	keys := nameList(prefix, conns)
	if err := s.create(newPeerClient(), keys); err != nil {
		return sample{}, err
	}
	seqs := make([]uint64, conns)
	return loadPhase(conns, d, func(k int, c *http.Client, _ *mrand.Rand) error {
		seqs[k]++
		return s.write(k, c, keys[k], seqs[k])
	}), nil
}

// casPeerPhase: 16 writers on 100 names, each setting a random name to
// its idea of the seq plus one and learning the current seq from a
// refusal (no extra read on either system). Successes per second.
func casPeerPhase(s *nameSystem, prefix string, d time.Duration) (sample, error) {
	keys := nameList(prefix, casNameCount)
	if err := s.create(newPeerClient(), keys); err != nil {
		return sample{}, err
	}
	known := make([][]uint64, nameConns)
	for i := range known {
		known[i] = make([]uint64, len(keys))
	}
	return loadPhase(nameConns, d, func(k int, c *http.Client, r *mrand.Rand) error {
		i := r.IntN(len(keys))
		seq := known[k][i] + 1
		ok, cur, err := s.cas(k, c, keys[i], seq)
		if err != nil {
			return err
		}
		if !ok {
			known[k][i] = cur
			return errConflict
		}
		known[k][i] = seq
		return nil
	}), nil
}

// rondNames drives the registry through the gateways of three rond
// processes; one owner key signs every set.
type rondNames struct {
	urls  []string
	ring  *tenantRing
	owner ed25519.PrivateKey
	hex   string
}

// startRondCluster runs three rond macronodes that are all registry
// replicas and know each other, sharing one capability key file so
// ronbench's tokens are valid on every node.
func startRondCluster(bin, dir string) (*nameSystem, error) {
	if bin == "" || bin == inProcess {
		return nil, errors.New("ronbench: the name workloads need --rond the rond binary (or --skip-names)")
	}
	type node struct{ dir, quic, id string }
	nodes := make([]node, members)
	for i := range nodes {
		d := filepath.Join(dir, fmt.Sprintf("n%d", i))
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
		seed := make([]byte, ed25519.SeedSize)
		_, _ = rand.Read(seed)
		if err := os.WriteFile(filepath.Join(d, "node.key"), []byte(hex.EncodeToString(seed)+"\n"), 0o600); err != nil {
			return nil, err
		}
		pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
		q, err := freeUDPAddr()
		if err != nil {
			return nil, err
		}
		nodes[i] = node{dir: d, quic: q, id: proto.NodeIDFromPublicKey(pub).String()}
	}
	var ids []string
	for _, n := range nodes {
		ids = append(ids, n.id)
	}
	var targets []*target
	stopAll := func() error {
		var errs []error
		for _, t := range targets {
			errs = append(errs, t.stop())
		}
		return errors.Join(errs...)
	}
	for i, n := range nodes {
		var boot []string
		for j, p := range nodes {
			if j != i {
				boot = append(boot, p.id+"@"+p.quic)
			}
		}
		// Launched one after the other without waiting for each to be
		// ready: a replica alone is ready for about a second, then 503
		// registry_no_leader until a quorum runs, so gating one start on
		// another's /readyz fails on a loaded machine.
		t, err := launchRondWith(bin, dir, n.dir, "--quic-addr", n.quic, "--node-key", filepath.Join(n.dir, "node.key"),
			"--bootstrap", strings.Join(boot, ","), "--replicas", strings.Join(ids, ","),
			"--anonymous-read-rate", "1e9")
		if err != nil {
			_ = stopAll()
			return nil, err
		}
		targets = append(targets, t)
	}
	for _, t := range targets {
		if err := waitReady(t); err != nil {
			_ = stopAll()
			return nil, err
		}
	}
	ring, err := newTenantRing(targets[0], "names", tenantsPerRing*nameConns)
	if err != nil {
		_ = stopAll()
		return nil, err
	}
	owner := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x5b}, ed25519.SeedSize))
	rn := &rondNames{ring: ring, owner: owner, hex: hex.EncodeToString(owner.Public().(ed25519.PublicKey))}
	for _, t := range targets {
		rn.urls = append(rn.urls, t.url)
	}
	var pids []string
	for _, t := range targets {
		pids = append(pids, strconv.Itoa(t.pid))
	}
	// For an outside profiler (rond serves no /debug/pprof), e.g.
	// perf record -p with these.
	fmt.Fprintf(os.Stderr, "ronbench: rond cluster pids %s\n", strings.Join(pids, ","))
	// The cluster is ready when a claim succeeds (a leader is elected).
	deadline := time.Now().Add(clusterMax)
	c := newPeerClient()
	for {
		err := rn.create(c, []string{"ready.bench"})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			_ = stopAll()
			return nil, fmt.Errorf("ronbench: rond cluster: no claim within %v: %w", clusterMax, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var metrics []string
	for _, u := range rn.urls {
		metrics = append(metrics, u+"/metrics")
	}
	var ps []int
	for _, t := range targets {
		ps = append(ps, t.pid)
	}
	memberURLs := rn.urls
	return &nameSystem{create: rn.create, write: rn.write, cas: rn.cas, resolve: rn.resolve, stop: stopAll,
		metricsURLs: metrics, leaderMetric: "registry_leader_changes_total", isLeaderMetric: registry.MetricIsLeader,
		setFirst: func(i int) { rn.urls = rotated(memberURLs, i) }, pids: ps}, nil
}

func freeUDPAddr() (string, error) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer c.Close()
	return c.LocalAddr().String(), nil
}

func (rn *rondNames) do(c *http.Client, method, url, body string) (int, []byte, error) {
	cl := &client{http: c, token: rn.ring.next()}
	i := strings.Index(url, "/names/")
	return cl.nameWrite(url[:i], method, url[i+len("/names/"):], body)
}

func (rn *rondNames) create(c *http.Client, names []string) error {
	for i, n := range names {
		status, raw, err := rn.do(c, http.MethodPost, rn.urls[i%members]+"/names/"+n, fmt.Sprintf(`{"owner":%q}`, rn.hex))
		if err != nil {
			return err
		}
		if status != http.StatusCreated {
			return fmt.Errorf("claim %s: %d %s", n, status, bytes.TrimSpace(raw))
		}
	}
	return nil
}

func (rn *rondNames) set(k int, c *http.Client, name string, seq uint64) (int, []byte, error) {
	target := proto.AddrOf(fmt.Appendf(nil, "%d/%s/%d", k, name, seq))
	sig := ed25519.Sign(rn.owner, registry.SetSigningBytes(name, target, seq))
	body := fmt.Sprintf(`{"target":%q,"seq":%d,"owner":%q,"sig":%q}`, target, seq, rn.hex, hex.EncodeToString(sig))
	return rn.do(c, http.MethodPut, rn.urls[k%members]+"/names/"+name, body)
}

func (rn *rondNames) write(k int, c *http.Client, name string, seq uint64) error {
	status, raw, err := rn.set(k, c, name, seq)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("set %s seq %d: %d %s", name, seq, status, bytes.TrimSpace(raw))
	}
	return nil
}

func (rn *rondNames) cas(k int, c *http.Client, name string, seq uint64) (bool, uint64, error) {
	status, raw, err := rn.set(k, c, name, seq)
	if err != nil {
		return false, 0, err
	}
	switch status {
	case http.StatusOK:
		return true, seq, nil
	case http.StatusConflict:
		var ce gateway.ConflictEnvelope
		if err := json.Unmarshal(raw, &ce); err != nil {
			return false, 0, fmt.Errorf("409 answer %q: %w", raw, err)
		}
		return false, ce.CurrentSeq, nil
	}
	return false, 0, fmt.Errorf("set %s seq %d: %d %s", name, seq, status, bytes.TrimSpace(raw))
}

func (rn *rondNames) resolve(k int, c *http.Client, name string) error {
	resp, err := c.Get(rn.urls[k%members] + "/names/" + name)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, casBodyBytesMax))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("resolve %s: %d %s", name, resp.StatusCode, bytes.TrimSpace(raw))
	}
	return nil
}

// etcdNames drives etcd's v3 JSON gateway (gRPC-gateway over HTTP:
// /v3/kv/put, /v3/kv/range, /v3/kv/txn) with net/http, so ronbench needs
// no etcd client library. A rond seq s is etcd version s+1 (create is
// version 1).
type etcdNames struct{ urls []string }

// startEtcd runs a 3-member etcd on loopback (defaults otherwise:
// fsync on, 100 ms heartbeat, 1 s election timeout).
func startEtcd(bin, dir string) (*nameSystem, error) {
	bin, err := findPeer("etcd", bin)
	if err != nil {
		return nil, err
	}
	type member struct{ name, client, peer string }
	ms := make([]member, members)
	var initial []string
	for i := range ms {
		cp, err := freeTCPPort()
		if err != nil {
			return nil, err
		}
		pp, err := freeTCPPort()
		if err != nil {
			return nil, err
		}
		ms[i] = member{fmt.Sprintf("e%d", i), fmt.Sprintf("http://127.0.0.1:%d", cp), fmt.Sprintf("http://127.0.0.1:%d", pp)}
		initial = append(initial, ms[i].name+"="+ms[i].peer)
	}
	var cmds []*exec.Cmd
	logs := &bytes.Buffer{}
	stop := func() error {
		var errs []error
		for _, c := range cmds {
			_ = c.Process.Signal(syscall.SIGTERM)
		}
		for _, c := range cmds {
			errs = append(errs, c.Wait())
		}
		_ = errs // etcd exits non-zero on SIGTERM in some versions
		return nil
	}
	for _, m := range ms {
		cmd := exec.Command(bin, "--name", m.name, "--data-dir", filepath.Join(dir, m.name),
			"--listen-client-urls", m.client, "--advertise-client-urls", m.client,
			"--listen-peer-urls", m.peer, "--initial-advertise-peer-urls", m.peer,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "ronbench", "--log-level", "warn")
		dieWithParent(cmd)
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			_ = stop()
			return nil, fmt.Errorf("starting etcd: %w", err)
		}
		cmds = append(cmds, cmd)
	}
	en := &etcdNames{}
	for _, m := range ms {
		en.urls = append(en.urls, m.client)
	}
	deadline := time.Now().Add(clusterMax)
	c := newPeerClient()
	for {
		err := en.create(c, []string{"ready"})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			_ = stop()
			return nil, fmt.Errorf("etcd cluster: no put within %v: %w; log: %s", clusterMax, err, logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var metrics []string
	for _, u := range en.urls {
		metrics = append(metrics, u+"/metrics")
	}
	var ps []int
	for _, c := range cmds {
		ps = append(ps, c.Process.Pid)
	}
	memberURLs := en.urls
	return &nameSystem{create: en.create, write: en.write, cas: en.cas, resolve: en.resolve, stop: stop,
		metricsURLs: metrics, leaderMetric: "etcd_server_leader_changes_seen_total", isLeaderMetric: "etcd_server_is_leader",
		setFirst: func(i int) { en.urls = rotated(memberURLs, i) }, pids: ps}, nil
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// post sends a JSON request to an etcd gateway path and decodes the
// answer into out.
func (en *etcdNames) post(c *http.Client, k int, path string, req, out any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	resp, err := c.Post(en.urls[k%members]+path, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("etcd %s: %d %s", path, resp.StatusCode, bytes.TrimSpace(raw))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("etcd %s: answer %q: %w", path, raw, err)
	}
	return nil
}

func (en *etcdNames) value(k int, name string, seq uint64) string {
	return proto.AddrOf(fmt.Appendf(nil, "%d/%s/%d", k, name, seq)).String()
}

func (en *etcdNames) create(c *http.Client, names []string) error {
	for i, n := range names {
		if err := en.post(c, i, "/v3/kv/put", map[string]string{"key": b64(n), "value": b64(en.value(0, n, 0))}, nil); err != nil {
			return err
		}
	}
	return nil
}

func (en *etcdNames) write(k int, c *http.Client, name string, seq uint64) error {
	return en.post(c, k, "/v3/kv/put", map[string]string{"key": b64(name), "value": b64(en.value(k, name, seq))}, nil)
}

// etcdTxnAnswer is the part of a txn answer the CAS reads: whether the
// compare held, and otherwise the range the failure branch read.
type etcdTxnAnswer struct {
	Succeeded bool `json:"succeeded"`
	Responses []struct {
		ResponseRange struct {
			Kvs []struct {
				Version string `json:"version"`
			} `json:"kvs"`
		} `json:"response_range"`
	} `json:"responses"`
}

// currentSeq is the rond seq the failure branch's range shows (version
// minus one), or an error when the answer has none.
func (a etcdTxnAnswer) currentSeq() (uint64, error) {
	if len(a.Responses) == 0 || len(a.Responses[0].ResponseRange.Kvs) == 0 {
		return 0, errors.New("etcd txn: a failed compare without the key's range")
	}
	v, err := strconv.ParseUint(a.Responses[0].ResponseRange.Kvs[0].Version, 10, 64)
	if err != nil || v == 0 {
		return 0, fmt.Errorf("etcd txn: version %q", a.Responses[0].ResponseRange.Kvs[0].Version)
	}
	return v - 1, nil
}

// cas is one txn: if version == seq then put, else range (the current
// version comes back in the same round trip, as rond's 409 carries the
// current seq).
func (en *etcdNames) cas(k int, c *http.Client, name string, seq uint64) (bool, uint64, error) {
	key := b64(name)
	req := map[string]any{
		"compare": []map[string]any{{"key": key, "result": "EQUAL", "target": "VERSION", "version": strconv.FormatUint(seq, 10)}},
		"success": []map[string]any{{"request_put": map[string]string{"key": key, "value": b64(en.value(k, name, seq))}}},
		"failure": []map[string]any{{"request_range": map[string]string{"key": key}}},
	}
	var a etcdTxnAnswer
	if err := en.post(c, k, "/v3/kv/txn", req, &a); err != nil {
		return false, 0, err
	}
	if a.Succeeded {
		return true, seq, nil
	}
	cur, err := a.currentSeq()
	return false, cur, err
}

func (en *etcdNames) resolve(k int, c *http.Client, name string) error {
	var a struct {
		Kvs []json.RawMessage `json:"kvs"`
	}
	if err := en.post(c, k, "/v3/kv/range", map[string]string{"key": b64(name)}, &a); err != nil {
		return err
	}
	if len(a.Kvs) != 1 {
		return fmt.Errorf("etcd range %s: %d keys, want 1", name, len(a.Kvs))
	}
	return nil
}

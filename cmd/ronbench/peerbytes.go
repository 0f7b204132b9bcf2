package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

var lookPath = exec.LookPath

// errConflict is an operation's expected refusal (a CAS that lost): not
// timed, not counted as a success nor as a failure.
var errConflict = errors.New("conflict")

// byteSystem stores objects and serves them over HTTP GET.
type byteSystem struct {
	name string
	// put stores body and returns the URL a GET of it reads.
	put func(c *http.Client, body []byte) (string, error)
	// header sets what a GET needs (a token), or nil.
	header func(r *http.Request)
	stop   func() error
	// pid is the rond child's, whose CPU is noted per phase (0: none).
	pid int
}

// noteCPU notes the CPU time s's server process spent since c0 per unit of
// work (units of what, e.g. GiB served or requests).
func noteCPU(t *tally, s *byteSystem, run int, phase string, c0 cpuTimes, ok bool, units float64, what string) {
	c1, ok1 := processCPU(s.pid)
	if !ok || !ok1 || units <= 0 {
		return
	}
	c := c1.sub(c0)
	t.notes = append(t.notes, fmt.Sprintf("%s run %d %s: server CPU user %.2f s, sys %.2f s; %.3f CPU s per %s",
		s.name, run+1, phase, c.user.Seconds(), c.sys.Seconds(), (c.user+c.sys).Seconds()/units, what))
}

// Workload sizes of the byte systems.
const (
	smallBytes     = 4 << 10
	byteConns      = 16
	kuboStartMax   = 60 * time.Second
	peerHTTPTimout = 5 * time.Minute
)

func newPeerClient() *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1, DisableCompression: true}
	return &http.Client{Transport: tr, Timeout: peerHTTPTimout}
}

// runBytePeers starts rond (macronode, and micronode with --micronode),
// kubo and a FileServer, then runs the byte workloads o.runs times with
// the order of systems reversed every other run.
func runBytePeers(o peerOptions, scratch string, t *tally, w io.Writer) ([]string, error) {
	var systems []*byteSystem
	names := []string{}
	defer func() {
		for _, s := range systems {
			_ = s.stop()
		}
	}()
	starts := []struct {
		name  string
		start func() (*byteSystem, error)
	}{
		{sysRondMacro, func() (*byteSystem, error) {
			return startRondBytes(o.rond, scratch, filepath.Join(scratch, "rond-macro"))
		}},
	}
	if o.micronode {
		starts = append(starts, struct {
			name  string
			start func() (*byteSystem, error)
		}{sysRondMicro, func() (*byteSystem, error) { return startRondBytes(o.rond, scratch, "") }})
	}
	starts = append(starts, []struct {
		name  string
		start func() (*byteSystem, error)
	}{
		{sysKubo, func() (*byteSystem, error) { return startKubo(o.kubo, filepath.Join(scratch, "kubo")) }},
		{sysFileServer, func() (*byteSystem, error) {
			return startFileServer(filepath.Join(scratch, "files"), o.fileServerInProcess)
		}},
	}...)
	for _, st := range starts {
		names = append(names, st.name)
		s, err := st.start()
		if err != nil {
			if st.name == sysRondMacro || st.name == sysRondMicro {
				return names, err
			}
			t.setMissing(st.name, err)
			fmt.Fprintf(w, "%s: MISSING (%v)\n", st.name, err)
			continue
		}
		s.name = st.name
		systems = append(systems, s)
	}
	// The small objects, stored once per system.
	small := map[string][]string{}
	body := randomBytes(smallBytes, uint64(time.Now().UnixNano()))
	for _, s := range systems {
		c := newPeerClient()
		for i := range smallObjects {
			u, err := s.put(c, payload(body, 7, i))
			if err != nil {
				return names, fmt.Errorf("ronbench: %s: storing small objects: %w", s.name, err)
			}
			small[s.name] = append(small[s.name], u)
		}
	}
	big := randomBytes(o.bigBytes, uint64(time.Now().UnixNano())+1)
	for run := range o.runs {
		sysNames := make([]string, len(systems))
		byName := map[string]*byteSystem{}
		for i, s := range systems {
			sysNames[i] = s.name
			byName[s.name] = s
		}
		runOrder := order(sysNames, run)
		t.loads = append(t.loads, fmt.Sprintf("bytes run %d (order %s): load average %s", run+1, strings.Join(runOrder, ", "), loadAvg()))
		bigURL := map[string]string{}
		for _, n := range runOrder {
			s := byName[n]
			if n == sysFileServer {
				// A file server has no PUT: its file is written
				// directly, and no PUT figure is recorded.
				u, err := s.put(nil, payload(big, 100+uint64(run), run))
				if err != nil {
					return names, err
				}
				bigURL[n] = u
				continue
			}
			c := newPeerClient()
			start := time.Now()
			u, err := s.put(c, payload(big, 100+uint64(run), run))
			if err != nil {
				return names, fmt.Errorf("ronbench: %s: PUT %d MiB: %w", n, o.bigBytes>>20, err)
			}
			t.add(wPutBig, n, sample{value: mib(o.bigBytes) / time.Since(start).Seconds()})
			bigURL[n] = u
		}
		for _, n := range runOrder {
			s := byName[n]
			c := newPeerClient()
			c0, cpuOK := processCPU(s.pid)
			start := time.Now()
			fails := 0
			const wholeGets = 2
			for range wholeGets {
				if _, err := getURL(c, s, bigURL[n], "", o.bigBytes); err != nil {
					fails++
					fmt.Fprintf(os.Stderr, "ronbench: %s whole GET: %v\n", n, err)
				}
			}
			t.add(wGetWhole, n, sample{value: mib(o.bigBytes*(wholeGets-fails)) / time.Since(start).Seconds(), fails: fails})
			noteCPU(t, s, run, "whole GET", c0, cpuOK, float64(o.bigBytes*(wholeGets-fails))/(1<<30), "GiB")
		}
		for _, n := range runOrder {
			s := byName[n]
			size := o.bigBytes
			c0, cpuOK := processCPU(s.pid)
			res := loadPhase(byteConns, o.phaseTime, func(_ int, c *http.Client, r *rand.Rand) error {
				off := r.IntN(size - rangeBytes + 1)
				_, err := getURL(c, s, bigURL[n], fmt.Sprintf("bytes=%d-%d", off, off+rangeBytes-1), rangeBytes)
				return err
			})
			t.add(wRange1M, n, res)
			noteCPU(t, s, run, "1 MiB ranges", c0, cpuOK, res.value*o.phaseTime.Seconds()/1000, "1,000 ranges")
		}
		for _, n := range runOrder {
			s := byName[n]
			urls := small[n]
			c0, cpuOK := processCPU(s.pid)
			res := loadPhase(byteConns, o.phaseTime, func(_ int, c *http.Client, r *rand.Rand) error {
				_, err := getURL(c, s, urls[r.IntN(len(urls))], "", smallBytes)
				return err
			})
			t.add(wGet4K, n, res)
			noteCPU(t, s, run, "4 KiB GETs", c0, cpuOK, res.value*o.phaseTime.Seconds()/1000, "1,000 GETs")
		}
	}
	return names, nil
}

func mib(n int) float64 { return float64(n) / (1 << 20) }

// loadPhase runs op on conns workers, each with its own client (one
// keep-alive connection) and random source, for d, and returns
// operations per second and the p99 latency of the successful ones.
func loadPhase(conns int, d time.Duration, op func(k int, c *http.Client, r *rand.Rand) error) sample {
	var mu sync.Mutex
	var lat []time.Duration
	var fails, conflicts atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for k := range conns {
		wg.Go(func() {
			c := newPeerClient()
			r := rand.New(rand.NewPCG(uint64(k), uint64(start.UnixNano())))
			var mine []time.Duration
			for time.Now().Before(deadline) {
				t0 := time.Now()
				if err := op(k, c, r); err != nil {
					if errors.Is(err, errConflict) {
						conflicts.Add(1)
						continue
					}
					fails.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	wall := time.Since(start)
	if e := firstErr.Load(); e != nil {
		fmt.Fprintf(os.Stderr, "ronbench: first failure: %s\n", e)
	}
	slices.Sort(lat)
	return sample{value: float64(len(lat)) / wall.Seconds(), p99: quantile(lat, 0.99), fails: int(fails.Load()),
		conflicts: int(conflicts.Load()), ops: len(lat)}
}

// getURL reads url (with a Range when rng is set) and checks it got want
// bytes. A nil client takes a pooled one.
func getURL(c *http.Client, s *byteSystem, url, rng string, want int) (int64, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	if s.header != nil {
		s.header(req)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return n, err
	}
	wantStatus := http.StatusOK
	if rng != "" {
		wantStatus = http.StatusPartialContent
	}
	if resp.StatusCode != wantStatus {
		return n, fmt.Errorf("GET %s: %d, want %d", url, resp.StatusCode, wantStatus)
	}
	if n != int64(want) {
		return n, fmt.Errorf("GET %s: %d bytes, want %d", url, n, want)
	}
	return n, nil
}

// startRondBytes runs the rond binary alone (dataDir "" for a
// micronode), with the anonymous read rate raised to its maximum so the
// GET phases read without tokens and no quota binds them; PUTs use
// tokens of many tenants in turn (see tenantRing).
func startRondBytes(bin, scratch, dataDir string) (*byteSystem, error) {
	if bin == "" {
		return nil, errors.New("ronbench: --peers needs --rond (the rond binary)")
	}
	extra := []string{"--anonymous-read-rate", "1e9"}
	if dataDir == "" {
		extra = append(extra, "--memory-max", strconv.Itoa(8<<30))
	}
	var tgt *target
	var err error
	if bin == inProcess {
		tgt, err = startInProcess(scratch, dataDir)
	} else {
		tgt, err = startRondWith(bin, scratch, dataDir, extra...)
	}
	if err != nil {
		return nil, err
	}
	ring, err := newTenantRing(tgt, "bytes", tenantsPerRing)
	if err != nil {
		_ = tgt.stop()
		return nil, err
	}
	put := func(c *http.Client, body []byte) (string, error) {
		cl := &client{http: c, token: ring.next()}
		addr, err := cl.put(tgt.url, body)
		if err != nil {
			return "", err
		}
		return tgt.url + "/o/" + addr, nil
	}
	return &byteSystem{put: put, stop: tgt.stop, pid: tgt.pid}, nil
}

// inProcess as --rond runs the byte workloads on ronbench's in-process
// composition of rond (node.go), so --cpuprofile sees the node's CPU;
// the name workloads need real processes and refuse it.
const inProcess = "in-process"

// tenantsPerRing: a node's per-tenant quota (200 requests/s) is a
// service limit, not the write path; a ring of this many tenants keeps
// it out of the way of one client (6,400 requests/s).
const tenantsPerRing = 32

// tenantRing hands out tokens of several tenants in turn.
type tenantRing struct {
	tokens []string
	n      atomic.Int64
}

func newTenantRing(t *target, prefix string, n int) (*tenantRing, error) {
	r := &tenantRing{}
	for i := range n {
		tok, err := t.token(fmt.Sprintf("%s-%d", prefix, i))
		if err != nil {
			return nil, err
		}
		r.tokens = append(r.tokens, tok)
	}
	return r, nil
}

func (r *tenantRing) next() string {
	return r.tokens[int(r.n.Add(1))%len(r.tokens)]
}

// startFileServer serves dir with net/http's FileServer on loopback, in
// a child process (this binary again, fileServerEnv set) unless inProcess;
// put writes the body as a file (no PUT figure is taken for it). rond,
// kubo and etcd each run in their own process, and so does the
// FileServer by default: in ronbench's own process its requests never
// left the client's Go scheduler, a cross-process wake-up per request
// that no deployed server is spared (--fileserver-in-process keeps the
// old arrangement for comparison).
func startFileServer(dir string, inProcess bool) (*byteSystem, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	var base string
	var stop func() error
	pid := 0
	if inProcess {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		srv := newFileServer(dir)
		go func() { _ = srv.Serve(ln) }()
		base, stop = "http://"+ln.Addr().String()+"/", srv.Close
	} else {
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(self)
		dieWithParent(cmd)
		cmd.Env = append(os.Environ(), fileServerEnv+"="+dir)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("starting the FileServer process: %w", err)
		}
		stop = func() error {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return nil
		}
		// Its first line is the address it listens on.
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			_ = stop()
			return nil, fmt.Errorf("the FileServer process said no address: %w", err)
		}
		base, pid = "http://"+strings.TrimSpace(line)+"/", cmd.Process.Pid
	}
	var n atomic.Int64
	put := func(_ *http.Client, body []byte) (string, error) {
		name := fmt.Sprintf("f%d", n.Add(1))
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o600); err != nil {
			return "", err
		}
		return base + name, nil
	}
	return &byteSystem{put: put, stop: stop, pid: pid}, nil
}

// fileServerEnv names the directory a ronbench child serves with the
// FileServer (startFileServer); set, ronbench does nothing else.
const fileServerEnv = "RONBENCH_FILESERVER_DIR"

func newFileServer(dir string) *http.Server {
	return &http.Server{Handler: http.FileServer(http.Dir(dir)), ReadHeaderTimeout: 10 * time.Second}
}

// serveFiles is the FileServer child: it prints its address and serves
// dir until it is killed.
func serveFiles(dir string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	return newFileServer(dir).Serve(ln)
}

// startKubo initialises a kubo repository in dir with the test profile
// (loopback only, no bootstrap peers), puts its RPC API and gateway on
// free loopback ports and runs `ipfs daemon --offline`. put is the RPC
// API's add with kubo's defaults (CIDv0, 256 KiB chunks, pinned).
func startKubo(bin, dir string) (*byteSystem, error) {
	bin, err := findPeer("kubo (ipfs)", bin)
	if err != nil {
		return nil, err
	}
	env := append(os.Environ(), "IPFS_PATH="+dir)
	ipfs := func(args ...string) error {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("ipfs %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
		return nil
	}
	apiPort, err := freeTCPPort()
	if err != nil {
		return nil, err
	}
	gwPort, err := freeTCPPort()
	if err != nil {
		return nil, err
	}
	if err := ipfs("init", "--profile=test"); err != nil {
		return nil, err
	}
	if err := ipfs("config", "Addresses.API", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", apiPort)); err != nil {
		return nil, err
	}
	if err := ipfs("config", "Addresses.Gateway", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", gwPort)); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "daemon", "--offline")
	dieWithParent(cmd)
	cmd.Env = env
	logs := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting ipfs daemon: %w", err)
	}
	stop := func() error {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			return err
		case <-time.After(stopWaitMax):
			_ = cmd.Process.Kill()
			return <-done
		}
	}
	api := fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	gw := fmt.Sprintf("http://127.0.0.1:%d", gwPort)
	deadline := time.Now().Add(kuboStartMax)
	for {
		resp, err := http.Post(api+"/api/v0/id", "", nil)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			_ = stop()
			return nil, fmt.Errorf("ipfs daemon not answering on %s after %v: %s", api, kuboStartMax, logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	put := func(c *http.Client, body []byte) (string, error) {
		cid, err := kuboAdd(c, api, body)
		if err != nil {
			return "", err
		}
		return gw + "/ipfs/" + cid, nil
	}
	return &byteSystem{put: put, stop: stop}, nil
}

// kuboAdd streams body to the RPC API's add as a multipart file.
func kuboAdd(c *http.Client, api string, body []byte) (string, error) {
	if c == nil {
		c = newPeerClient()
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		part, err := mw.CreateFormFile("file", "obj")
		if err == nil {
			_, err = part.Write(body)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	resp, err := c.Post(api+"/api/v0/add", mw.FormDataContentType(), pr)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("ipfs add: %d %s", resp.StatusCode, bytes.TrimSpace(raw))
	}
	return parseKuboAdd(raw)
}

// parseKuboAdd takes the last object's Hash from add's answer (one JSON
// object per line; with progress there are lines without a Hash).
func parseKuboAdd(raw []byte) (string, error) {
	var hash string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var o struct{ Hash string }
		if err := json.Unmarshal(line, &o); err != nil {
			return "", fmt.Errorf("ipfs add: answer line %q: %w", line, err)
		}
		if o.Hash != "" {
			hash = o.Hash
		}
	}
	if hash == "" {
		return "", fmt.Errorf("ipfs add: no Hash in answer %q", raw)
	}
	return hash, nil
}

func freeTCPPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

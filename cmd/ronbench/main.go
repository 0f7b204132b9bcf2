package main

import (
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"
)

// sizeSpec is one object size and how many PUTs (and GETs) of it to run.
type sizeSpec struct {
	name  string
	bytes int
	count int
}

// sizes: counts chosen so each phase moves 256-512 MiB at most, which
// bounds both the run time and an in-memory node's footprint.
var sizes = []sizeSpec{
	{"4KiB", 4 << 10, 4000},
	{"1MiB", 1 << 20, 300},
	{"64MiB", 64 << 20, 8},
	{"256MiB", 256 << 20, 2},
}

// smallObjects is how many distinct 4 KiB objects the small-GET phase
// cycles through.
const smallObjects = 256

type options struct {
	rond, dataDir, cpuProfile, only string
	ops                             string
	macronode                       bool
	workers, smallConns, count      int
	phaseTime, smallTime            time.Duration
	casNames, casConns              int
	casTime                         time.Duration
	ranges                          int
}

func main() {
	if dir := os.Getenv(fileServerEnv); dir != "" {
		fmt.Fprintln(os.Stderr, serveFiles(dir))
		os.Exit(1)
	}
	var o options
	flag.StringVar(&o.rond, "rond", "", "drive this rond `binary` (a child process) instead of an in-process node")
	flag.StringVar(&o.dataDir, "data-dir", "", "macronode: pebble on disk under `DIR` (must not exist or be empty; a rond data dir is refused); default in memory")
	flag.BoolVar(&o.macronode, "macronode", false, "macronode in a fresh temporary --data-dir (removed at exit)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the load phases to `FILE`")
	flag.StringVar(&o.only, "sizes", "4KiB,1MiB,64MiB", "object sizes to run (comma-separated subset)")
	flag.StringVar(&o.ops, "ops", "put,get", "phases per size: put, get or both (get needs put)")
	flag.IntVar(&o.count, "count", 0, "requests per PUT or GET phase (0: 4000, 300, 8 for 4KiB, 1MiB, 64MiB)")
	flag.IntVar(&o.workers, "workers", 4, "concurrent clients (one connection each) for PUT and GET phases")
	flag.IntVar(&o.smallConns, "small-conns", 16, "connections for the small-GET phase (0 skips it)")
	flag.DurationVar(&o.phaseTime, "phase-time", 30*time.Second, "bound of each PUT or GET phase")
	flag.DurationVar(&o.smallTime, "small-time", 10*time.Second, "length of the small-GET phase")
	flag.IntVar(&o.ranges, "ranges", 0, "after the GETs of each size over 1 MiB, this many 1 MiB Range GETs at random offsets (0 skips them)")
	flag.IntVar(&o.casNames, "cas-names", 0, "compare-and-set phase on this many names (0 skips it)")
	flag.IntVar(&o.casConns, "cas-conns", 16, "concurrent writers of the compare-and-set phase")
	flag.DurationVar(&o.casTime, "cas-time", 10*time.Second, "length of the compare-and-set phase")
	var po peerOptions
	var peerMode bool
	var bigMiB int
	flag.BoolVar(&peerMode, "peers", false, "side by side with kubo, etcd and a net/http FileServer (issue 15's workloads; needs --rond: the binary, or in-process for the byte workloads under --cpuprofile)")
	flag.StringVar(&po.kubo, "kubo", os.Getenv("KUBO"), "--peers: the kubo `ipfs` binary (path or name on PATH; default $KUBO); missing is reported")
	flag.StringVar(&po.etcd, "etcd", envOr("ETCD", "etcd"), "--peers: the `etcd` binary (path or name on PATH; default $ETCD or etcd); missing is reported")
	flag.IntVar(&po.runs, "runs", 3, "--peers: runs of every workload (medians printed; order reversed every other run)")
	flag.DurationVar(&po.phaseTime, "peer-time", 3*time.Second, "--peers: length of each timed phase")
	flag.IntVar(&bigMiB, "big-mib", 256, "--peers: size in MiB of the whole-GET, PUT and Range object")
	flag.BoolVar(&po.micronode, "micronode", false, "--peers: also run the byte workloads on a rond micronode (memory)")
	flag.BoolVar(&po.skipBytes, "skip-bytes", false, "--peers: skip the byte workloads")
	flag.BoolVar(&po.skipNames, "skip-names", false, "--peers: skip the name workloads")
	flag.BoolVar(&po.fileServerInProcess, "fileserver-in-process", false, "--peers: run the net/http FileServer in ronbench's own process (as before 2026-12-06) instead of a child process of its own")
	flag.StringVar(&po.set1Member, "set1-member", set1OnLeader, "--peers: where the sequential set's client talks in each system: `leader`, follower or member0 (the same role in both systems)")
	namePhases := flag.String("name-phases", "", "--peers: run only these name workloads, `set1,write16,cas16,resolve16` (comma-separated subset; default all)")
	flag.Parse()
	if *namePhases != "" {
		po.namePhases = map[string]bool{}
		for p := range strings.SplitSeq(*namePhases, ",") {
			switch p {
			case wSet1.key, wWrite16.key, wCAS16.key, wResolve.key:
				po.namePhases[p] = true
			default:
				fmt.Fprintf(os.Stderr, "ronbench: --name-phases: unknown workload %q (set1, write16, cas16, resolve16)\n", p)
				os.Exit(2)
			}
		}
	}
	switch po.set1Member {
	case set1OnLeader, set1OnFollower, set1OnMember0:
	default:
		fmt.Fprintf(os.Stderr, "ronbench: --set1-member: %q is not leader, follower or member0\n", po.set1Member)
		os.Exit(2)
	}
	if peerMode {
		po.rond, po.bigBytes = o.rond, bigMiB<<20
		if bigMiB < 2 {
			fmt.Fprintln(os.Stderr, "ronbench: --big-mib must be at least 2")
			os.Exit(2)
		}
		if o.cpuProfile != "" {
			f, err := os.Create(o.cpuProfile)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			err = peers(po, os.Stdout)
			pprof.StopCPUProfile()
			_ = f.Close()
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			return
		}
		if err := peers(po, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if err := bench(o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func bench(o options, w io.Writer) error {
	scratch, err := os.MkdirTemp("", "ronbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	if o.macronode && o.dataDir == "" {
		o.dataDir = filepath.Join(scratch, "data")
	}
	var t *target
	if o.rond != "" {
		t, err = startRond(o.rond, scratch, o.dataDir)
	} else {
		t, err = startInProcess(scratch, o.dataDir)
	}
	if err != nil {
		return err
	}
	defer func() { _ = t.stop() }()
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Fprintf(w, "node: %s at %s\n\n", t.label, t.url)
	fmt.Fprintln(w, "| op | size | workers | ok | failed | MB/s | req/s | p50 | p95 | p99 | max |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	clients, err := newClients(t, o.workers)
	if err != nil {
		return err
	}
	var stored int64
	for _, s := range sizes {
		if o.count > 0 {
			s.count = o.count
		}
		if strings.Contains(","+o.only+",", ","+s.name+",") {
			stored += sizePhases(w, t, clients, s, o.phaseTime, strings.Contains(o.ops, "get"), o.ranges)
		}
	}
	if t.pid != 0 && stored > 0 {
		memoryReport(w, t.pid, stored)
	}
	if o.smallConns > 0 {
		if err := smallGets(w, t, o.smallConns, o.smallTime); err != nil {
			return err
		}
	}
	if o.casNames > 0 {
		casClients, err := newClients(t, o.casConns)
		if err != nil {
			return err
		}
		res, err := casPhase(t, casClients, o.casNames, o.casTime, nil)
		if err != nil {
			return err
		}
		casReport(w, o.casNames, res)
	}
	return nil
}

// sizePhases PUTs s.count distinct objects of s.bytes, then GETs each
// object the PUT phase stored (a PUT phase cut short by its time bound
// stored fewer), then, for objects over 1 MiB, ranges 1 MiB Range GETs at
// offsets drawn from a fixed seed (so every run asks the same ranges). It
// returns the bytes the PUT phase stored.
func sizePhases(w io.Writer, t *target, clients []*client, s sizeSpec, limit time.Duration, gets bool, ranges int) int64 {
	bufs := make([][]byte, len(clients))
	index := map[*client]int{}
	for i, c := range clients {
		bufs[i] = randomBytes(s.bytes, uint64(time.Now().UnixNano())+uint64(i))
		index[c] = i
	}
	addrs := make([]string, s.count)
	cpu0, cpuOK := processCPU(t.pid)
	res := run("PUT", s.bytes, clients, s.count, limit, func(c *client, i int) (int64, error) {
		buf := payload(bufs[index[c]], uint64(index[c]), i)
		addr, err := c.put(t.url, buf)
		addrs[i] = addr
		return int64(len(buf)), err
	})
	report(w, res)
	if cpu1, ok := processCPU(t.pid); ok && cpuOK && res.bytes > 0 {
		cpuReport(w, "PUT", res, cpu1.sub(cpu0))
	}
	storedBytes := int64(res.ok) * int64(s.bytes)
	if !gets {
		return storedBytes
	}
	stored := slices.DeleteFunc(addrs, func(a string) bool { return a == "" })
	cpu0, cpuOK = processCPU(t.pid)
	res = run("GET", s.bytes, clients, len(stored), limit, func(c *client, i int) (int64, error) {
		return c.get(t.url, stored[i], s.bytes)
	})
	report(w, res)
	if cpu1, ok := processCPU(t.pid); ok && cpuOK && res.bytes > 0 {
		cpuReport(w, "GET", res, cpu1.sub(cpu0))
	}
	if ranges == 0 || s.bytes <= rangeBytes || len(stored) == 0 {
		return storedBytes
	}
	offsets := rangeOffsets(ranges, s.bytes)
	cpu0, cpuOK = processCPU(t.pid)
	res = run("GET 1 MiB range of", s.bytes, clients, ranges, limit, func(c *client, i int) (int64, error) {
		return c.getRange(t.url, stored[i%len(stored)], offsets[i], rangeBytes)
	})
	report(w, res)
	if cpu1, ok := processCPU(t.pid); ok && cpuOK && res.bytes > 0 {
		cpuReport(w, "GET 1 MiB ranges of", res, cpu1.sub(cpu0))
	}
	return storedBytes
}

// rangeBytes is the length of a Range GET phase's requests.
const rangeBytes = 1 << 20

// rangeOffsets draws n offsets of 1 MiB ranges inside an object of size
// bytes, from a fixed seed.
func rangeOffsets(n, size int) []int {
	r := rand.New(rand.NewPCG(15, 1))
	out := make([]int, n)
	for i := range out {
		out[i] = r.IntN(size - rangeBytes + 1)
	}
	return out
}

// memoryReport prints the rond child's resident memory (VmRSS, and its
// peak VmHWM, from /proc) against the bytes the PUT phases stored: for a
// micronode, whose store is in memory, the ratio is what each stored byte
// costs. It prints nothing where /proc is missing.
func memoryReport(w io.Writer, pid int, stored int64) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return
	}
	kib := map[string]int64{}
	for _, line := range strings.Split(string(raw), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if f := strings.Fields(rest); ok && len(f) == 2 && f[1] == "kB" {
			if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				kib[name] = n
			}
		}
	}
	rss := kib["VmRSS"] << 10
	fmt.Fprintf(w, "\nrond memory after the phases: VmRSS %.1f MiB, VmHWM %.1f MiB, stored %.1f MiB by PUT (RSS %.2fx stored)\n",
		float64(rss)/(1<<20), float64(kib["VmHWM"]<<10)/(1<<20), float64(stored)/(1<<20), float64(rss)/float64(stored))
	// write_bytes: what the process sent to the block layer so far (a
	// macronode's WAL, tables and segments; background compactions that
	// have not run yet are not in it).
	if raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid)); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
				if n, err := strconv.ParseInt(v, 10, 64); err == nil {
					fmt.Fprintf(w, "rond wrote %.1f MiB to storage (write_bytes): %.2f bytes per stored byte\n",
						float64(n)/(1<<20), float64(n)/float64(stored))
				}
			}
		}
	}
}

// smallGets stores smallObjects 4 KiB objects, then GETs them round robin
// on conns connections for d.
func smallGets(w io.Writer, t *target, conns int, d time.Duration) error {
	clients, err := newClients(t, conns)
	if err != nil {
		return err
	}
	body := randomBytes(4<<10, uint64(time.Now().UnixNano()))
	addrs := make([]string, smallObjects)
	for i := range addrs {
		if addrs[i], err = clients[0].put(t.url, payload(body, 0, i)); err != nil {
			return fmt.Errorf("ronbench: storing small objects: %w", err)
		}
	}
	const unbounded = 1 << 40
	res := run("GET small", 4<<10, clients, unbounded, d, func(c *client, i int) (int64, error) {
		return c.get(t.url, addrs[i%smallObjects], 4<<10)
	})
	report(w, res)
	return nil
}

func report(w io.Writer, r result) {
	secs := r.wall.Seconds()
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }
	l := r.latencies
	fmt.Fprintf(w, "| %s | %s | %d | %d | %d | %.1f | %.0f | %s | %s | %s | %s |\n",
		r.op, sizeName(r.size), r.workers, r.ok, r.fails, float64(r.bytes)/secs/1e6, float64(r.ok)/secs,
		ms(quantile(l, 0.50)), ms(quantile(l, 0.95)), ms(quantile(l, 0.99)), ms(quantile(l, 1)))
	if r.firstErr != "" {
		fmt.Fprintf(os.Stderr, "ronbench: %s %s: first failure: %s\n", r.op, sizeName(r.size), r.firstErr)
	}
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	default:
		return fmt.Sprintf("%d KiB", n>>10)
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestTallyMedianAndRatio: medians of odd and even run counts (value and
// p99 separately), and a goal's ratio formed from the two medians.
func TestTallyMedianAndRatio(t *testing.T) {
	tl := newTally()
	for _, v := range []float64{300, 100, 200} {
		tl.add(wCAS16, sysRondThree, sample{value: v, p99: time.Duration(v) * time.Millisecond})
	}
	for _, v := range []float64{100, 50, 400, 150} {
		tl.add(wCAS16, sysEtcd, sample{value: v, p99: time.Duration(v) * time.Millisecond})
	}
	v, p99, ok := tl.median(wCAS16, sysRondThree)
	if !ok || v != 200 || p99 != 200*time.Millisecond {
		t.Fatalf("odd median = %v %v %v, want 200 200ms", v, p99, ok)
	}
	v, p99, ok = tl.median(wCAS16, sysEtcd)
	if !ok || v != 125 || p99 != 125*time.Millisecond {
		t.Fatalf("even median = %v %v %v, want 125 125ms", v, p99, ok)
	}
	if _, _, ok := tl.median(wCAS16, sysKubo); ok {
		t.Fatal("median of no samples: ok")
	}
	var cas verdict
	for _, vd := range tl.judge() {
		if vd.g.w == wCAS16 {
			cas = vd
		}
	}
	if cas.reason != "" || cas.ratio != 1.6 || !cas.met {
		t.Fatalf("CAS verdict = %+v, want ratio 1.6 met (goal 1.5x)", cas)
	}
}

// TestGoalP99: the sequential set goal needs the ratio and a p99 no
// worse than the peer's; a faster median with a worse p99 misses it.
func TestGoalP99(t *testing.T) {
	tl := newTally()
	tl.add(wSet1, sysRondThree, sample{value: 700, p99: 9 * time.Millisecond})
	tl.add(wSet1, sysEtcd, sample{value: 680, p99: 4 * time.Millisecond})
	for _, vd := range tl.judge() {
		if vd.g.w == wSet1 {
			if vd.met || vd.reason != "" {
				t.Fatalf("set1 verdict = %+v: want not met (p99 worse)", vd)
			}
			return
		}
	}
	t.Fatal("no set1 goal")
}

// TestMissingPeerReported: a peer that could not start has no figure; its
// goals are "not judged" with the reason, and the printed report says
// MISSING, with no ratio for it.
func TestMissingPeerReported(t *testing.T) {
	tl := newTally()
	tl.add(wPutBig, sysRondMacro, sample{value: 100})
	tl.setMissing(sysKubo, errors.New("kubo (ipfs) binary: stat /nope: no such file or directory"))
	for _, vd := range tl.judge() {
		if vd.g.peer == sysKubo && (vd.reason == "" || vd.ratio != 0 || vd.met) {
			t.Fatalf("goal against a missing kubo judged: %+v", vd)
		}
	}
	var out bytes.Buffer
	tl.print(&out, []string{sysRondMacro, sysKubo})
	s := out.String()
	if !strings.Contains(s, "kubo: MISSING (kubo (ipfs) binary: stat /nope") {
		t.Fatalf("report does not say kubo is missing:\n%s", s)
	}
	for line := range strings.SplitSeq(s, "\n") {
		if strings.HasPrefix(line, "| PUT") && strings.Contains(line, "| kubo |") {
			t.Fatalf("a figure printed for a missing kubo: %s", line)
		}
		if strings.Contains(line, "/ kubo |") && !strings.Contains(line, "not judged: kubo missing") {
			t.Fatalf("a ratio against a missing kubo: %s", line)
		}
	}
}

// TestFindPeer: an empty flag, a path that does not exist and a name not
// on PATH are errors naming the peer; an existing path is taken as is.
func TestFindPeer(t *testing.T) {
	if _, err := findPeer("kubo (ipfs)", ""); err == nil || !strings.Contains(err.Error(), "no kubo (ipfs) binary given") {
		t.Fatalf("empty: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "ipfs")
	if _, err := findPeer("kubo (ipfs)", missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("missing path: %v", err)
	}
	if _, err := findPeer("etcd", "ronbench-no-such-binary-on-path"); err == nil || !strings.Contains(err.Error(), "not on PATH") {
		t.Fatalf("missing name: %v", err)
	}
	present := filepath.Join(t.TempDir(), "etcd")
	if err := os.WriteFile(present, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := findPeer("etcd", present); err != nil || got != present {
		t.Fatalf("present: %q %v", got, err)
	}
}

// TestParseKuboAdd: the last Hash of add's JSON lines (progress lines
// have none); an answer without one, or a line that is not JSON, is an
// error.
func TestParseKuboAdd(t *testing.T) {
	raw := []byte(`{"Name":"obj","Bytes":262144}
{"Name":"obj","Bytes":524288}
{"Name":"obj","Hash":"QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG","Size":"524302"}
`)
	got, err := parseKuboAdd(raw)
	if err != nil || got != "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG" {
		t.Fatalf("parseKuboAdd = %q, %v", got, err)
	}
	if _, err := parseKuboAdd([]byte(`{"Name":"obj","Bytes":1}`)); err == nil {
		t.Fatal("no Hash: want an error")
	}
	if _, err := parseKuboAdd([]byte("Error: merkledag: not found\n")); err == nil {
		t.Fatal("not JSON: want an error")
	}
}

// TestEtcdTxnAnswer: a failed compare's range gives the current seq
// (version minus one, since create is version 1); no range, or version
// 0, is an error rather than seq 0.
func TestEtcdTxnAnswer(t *testing.T) {
	var a etcdTxnAnswer
	raw := []byte(`{"header":{"revision":"42"},"responses":[{"response_range":{"kvs":[{"key":"Y2FzLTE=","version":"7","value":"eA=="}],"count":"1"}}]}`)
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatal(err)
	}
	if a.Succeeded {
		t.Fatal("succeeded absent: want false")
	}
	if seq, err := a.currentSeq(); err != nil || seq != 6 {
		t.Fatalf("currentSeq = %d, %v; want 6", seq, err)
	}
	for _, bad := range []string{`{"responses":[]}`, `{"responses":[{"response_range":{"kvs":[{"version":"0"}]}}]}`} {
		var b etcdTxnAnswer
		if err := json.Unmarshal([]byte(bad), &b); err != nil {
			t.Fatal(err)
		}
		if _, err := b.currentSeq(); err == nil {
			t.Fatalf("%s: want an error", bad)
		}
	}
}

// TestOrderAlternates: every other run reverses the systems, and the
// input is not changed.
func TestOrderAlternates(t *testing.T) {
	in := []string{"a", "b", "c"}
	if got := order(in, 0); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("run 0: %v", got)
	}
	if got := order(in, 1); !slices.Equal(got, []string{"c", "b", "a"}) {
		t.Fatalf("run 1: %v", got)
	}
	if !slices.Equal(in, []string{"a", "b", "c"}) {
		t.Fatalf("input changed: %v", in)
	}
}

// TestCounterValue: samples of the metric are summed across labels; a
// longer name sharing the prefix, comments and other metrics are not; an
// absent metric is reported absent (not 0); a sample without a number
// is an error.
func TestCounterValue(t *testing.T) {
	raw := []byte(`# HELP registry_leader_changes_total Leader changes seen.
# TYPE registry_leader_changes_total counter
registry_leader_changes_total 3
registry_leader_changes_total_extra 100
etcd_server_leader_changes_seen_total{member="a"} 2
etcd_server_leader_changes_seen_total{member="b"} 1.5
other_metric 9
`)
	for _, c := range []struct {
		metric string
		want   float64
		found  bool
	}{{"registry_leader_changes_total", 3, true}, {"etcd_server_leader_changes_seen_total", 3.5, true}, {"absent_total", 0, false}} {
		got, found, err := counterValue(raw, c.metric)
		if err != nil || got != c.want || found != c.found {
			t.Errorf("counterValue(%s) = %v, %v, %v; want %v, %v", c.metric, got, found, err, c.want, c.found)
		}
	}
	if _, _, err := counterValue([]byte("registry_leader_changes_total x\n"), "registry_leader_changes_total"); err == nil {
		t.Error("a sample that is not a number: want an error")
	}
}

// TestPlaceSet1Client: the sequential client goes to the member that
// reports itself leader, to a follower of it, or to member 0, whichever
// member leads; with no single leader (none, or two) it talks to member 0
// and the placement says so.
func TestPlaceSet1Client(t *testing.T) {
	var leader atomic.Int64 // the handlers run on the servers' goroutines
	leader.Store(1)
	var urls []string
	for i := range members {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			v := 0
			if l := leader.Load(); int64(i) == l || (l == 3 && i > 0) { // 3: members 1 and 2 both
				v = 1
			}
			fmt.Fprintf(w, "# TYPE x_is_leader gauge\nx_is_leader %d\nx_is_leader_other 7\n", v)
		}))
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	var first []string
	s := &nameSystem{metricsURLs: urls, isLeaderMetric: "x_is_leader",
		setFirst: func(i int) { first = rotated([]string{"m0", "m1", "m2"}, i) }}
	cases := []struct {
		where string
		want  []string
	}{
		{set1OnLeader, []string{"m1", "m2", "m0"}},
		{set1OnFollower, []string{"m2", "m0", "m1"}},
		{set1OnMember0, []string{"m0", "m1", "m2"}},
	}
	for _, c := range cases {
		first = nil
		if where := s.place(http.DefaultClient, c.where); strings.Contains(where, "whatever") {
			t.Fatalf("%s: %s", c.where, where)
		}
		if !slices.Equal(first, c.want) {
			t.Fatalf("%s: workers talk to %v, want %v", c.where, first, c.want)
		}
	}
	for _, l := range []int64{-1, 3} { // an election in progress; two leaders
		leader.Store(l)
		if _, err := s.leader(http.DefaultClient); err == nil {
			t.Fatalf("leader %d: a single leader found", l)
		}
	}
}

// TestMain lets this test binary be the FileServer child that
// startFileServer starts (it re-executes os.Executable).
func TestMain(m *testing.M) {
	if dir := os.Getenv(fileServerEnv); dir != "" {
		fmt.Fprintln(os.Stderr, serveFiles(dir))
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// TestFileServerInItsOwnProcess: the FileServer peer runs as a child
// process whose CPU can be read, and serves what put wrote, whole and as a
// range; in-process it serves the same.
func TestFileServerInItsOwnProcess(t *testing.T) {
	for _, inProcess := range []bool{false, true} {
		s, err := startFileServer(t.TempDir(), inProcess)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.stop() })
		if (s.pid != 0) == inProcess {
			t.Fatalf("in process %v: pid %d", inProcess, s.pid)
		}
		if s.pid != 0 {
			if _, ok := processCPU(s.pid); !ok {
				t.Fatalf("cannot read the CPU time of the FileServer process %d", s.pid)
			}
		}
		u, err := s.put(nil, []byte("0123456789"))
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Range", "bytes=2-4")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusPartialContent || string(body) != "234" {
			t.Fatalf("in process %v: range GET %d %q", inProcess, resp.StatusCode, body)
		}
	}
}

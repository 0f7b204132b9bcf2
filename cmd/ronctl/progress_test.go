package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ron-network/ron/core/proto"
)

func TestFormatBytes(t *testing.T) {
	cases := []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"},
		{10 << 20, "10.0 MiB"}, {3 << 29, "1.5 GiB"},
	}
	for _, c := range cases {
		if got := formatBytes(c.n); got != c.want {
			t.Errorf("formatBytes(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}

// TestFormatProgress: the expected lines are worked out by hand: 5 of 10
// MiB fills 15 of 30 cells, 5 MiB in 2 s is 2.5 MiB/s, and the other 5 MiB
// at that rate take 2 s more.
func TestFormatProgress(t *testing.T) {
	cases := []struct {
		done, total int64
		elapsed     time.Duration
		want        string
	}{
		{5 << 20, 10 << 20, 2 * time.Second, "[" + strings.Repeat("#", 15) + strings.Repeat("-", 15) + "]  50.0%  5.0 MiB / 10.0 MiB  2.5 MiB/s  ETA 2s"},
		{1 << 20, 100 << 20, time.Second, "[" + strings.Repeat("-", 30) + "]   1.0%  1.0 MiB / 100.0 MiB  1.0 MiB/s  ETA 1m39s"},
		// 0.05% left at this rate is under half a second: no "ETA 0s".
		{10<<20 - 5<<10, 10 << 20, time.Second, "[" + strings.Repeat("#", 29) + "-] 100.0%  10.0 MiB / 10.0 MiB  10.0 MiB/s"},
		{0, 10 << 20, 0, "[" + strings.Repeat("-", 30) + "]   0.0%  0 B / 10.0 MiB  --"},
		{20 << 20, 10 << 20, 4 * time.Second, "[" + strings.Repeat("#", 30) + "] 100.0%  10.0 MiB / 10.0 MiB  5.0 MiB/s"},
		{3 << 20, -1, time.Second, "3.0 MiB  3.0 MiB/s"},
	}
	for _, c := range cases {
		if got := formatProgress(c.done, c.total, c.elapsed); got != c.want {
			t.Errorf("formatProgress(%d, %d, %v) =\n  %q\nwant\n  %q", c.done, c.total, c.elapsed, got, c.want)
		}
	}
}

func TestFormatETA(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 1500 * time.Millisecond: "2s", 59 * time.Second: "59s", 65 * time.Second: "1m05s",
		3599 * time.Second: "59m59s", 2*time.Hour + 14*time.Minute + 3*time.Second: "2h14m",
	} {
		if got := formatETA(d); got != want {
			t.Errorf("formatETA(%v) = %q, want %q", d, got, want)
		}
	}
}

// fakeClock advances by step on every reading.
type fakeClock struct {
	t    time.Time
	step time.Duration
}

func (c *fakeClock) now() time.Time { c.t = c.t.Add(c.step); return c.t }

// TestProgressRedrawsArePaced: 4 MiB read in 64 KiB pieces, 10 ms apart
// on the clock, redraws at most once per progressRedrawInterval and ends
// with a full bar and a newline.
func TestProgressRedrawsArePaced(t *testing.T) {
	var out bytes.Buffer
	clock := &fakeClock{step: 10 * time.Millisecond}
	const total = 4 << 20
	p := newProgress(&out, bytes.NewReader(make([]byte, total)), total, clock.now)
	buf := make([]byte, 64<<10)
	reads := 0
	for {
		_, err := p.Read(buf)
		reads++
		if err == io.EOF {
			break
		}
	}
	draws := strings.Count(out.String(), "\r")
	// reads*10ms of clock; one draw per 100 ms, plus the first and the final.
	if maxDraws := reads/10 + 2; draws < 2 || draws > maxDraws {
		t.Fatalf("%d reads drew %d times; want between 2 and %d", reads, draws, maxDraws)
	}
	lines := strings.Split(out.String(), "\r")
	if last := lines[len(lines)-1]; !strings.Contains(last, "100.0%") || !strings.HasSuffix(last, "\n") {
		t.Fatalf("last draw %q is not a full bar ending the line", last)
	}
	p.finish()
	if strings.Count(out.String(), "\n") != 1 {
		t.Fatal("finish after EOF ended the line again")
	}
}

func TestSmallTransferDrawsNothing(t *testing.T) {
	var out bytes.Buffer
	clock := &fakeClock{step: time.Second}
	p := newProgress(&out, bytes.NewReader(make([]byte, progressBytesMin)), -1, clock.now)
	if _, err := io.Copy(io.Discard, p); err != nil {
		t.Fatal(err)
	}
	p.finish()
	if out.Len() != 0 {
		t.Fatalf("a transfer of %d bytes drew %q", progressBytesMin, out.String())
	}
}

func TestIsTerminal(t *testing.T) {
	file, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	for name, w := range map[string]io.Writer{"buffer": &bytes.Buffer{}, "file": file, "null device": null} {
		if isTerminal(w) {
			t.Errorf("isTerminal(%s) = true", name)
		}
	}
}

// objectServer is a minimal PUT /o and GET /o/{addr} for transfer tests.
func objectServer(t *testing.T) *httptest.Server {
	var mu sync.Mutex
	objects := map[proto.Addr][]byte{}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /o", func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		addr := proto.AddrOf(data)
		mu.Lock()
		objects[addr] = data
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"addr": addr.String(), "size": len(data)})
	})
	mux.HandleFunc("GET /o/{addr}", func(w http.ResponseWriter, r *http.Request) {
		addr, _ := proto.ParseAddr(r.PathValue("addr"))
		mu.Lock()
		data, ok := objects[addr]
		mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(data))) // as the gateway does
		_, _ = w.Write(data)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// TestTransfersWithoutTerminalDrawNoBar: put and get of 2 MiB with stderr
// a buffer (not a terminal) write nothing to stderr, while the same
// commands with a bar output draw one for each transfer.
func TestTransfersWithoutTerminalDrawNoBar(t *testing.T) {
	srv := objectServer(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "big")
	data := bytes.Repeat([]byte("ron "), 512<<10) // 2 MiB
	if err := os.WriteFile(in, data, 0o600); err != nil {
		t.Fatal(err)
	}
	addr := proto.AddrOf(data).String()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--node", srv.URL, "--token", "t", "put", in}, nil, &stdout, &stderr); code != 0 || strings.TrimSpace(stdout.String()) != addr {
		t.Fatalf("put: exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	out := filepath.Join(dir, "copy")
	if code := run([]string{"--node", srv.URL, "get", addr, "-o", out}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("get: exit %d, stderr %q", code, stderr.String())
	}
	if stderr.Len() != 0 {
		t.Fatalf("stderr is not a terminal, yet got %q", stderr.String())
	}

	var bar bytes.Buffer
	for _, args := range [][]string{{"put", in}, {"get", addr}} {
		c := &client{node: srv.URL, token: "t", out: out, stdout: io.Discard, http: srv.Client(), barOut: &bar}
		if err := c.dispatch(args); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	// put says "waiting for the node" once the last byte is sent and ends
	// with "stored"; get says "verifying" once the last byte is in and
	// ends with "verified".
	lines := strings.SplitAfter(bar.String(), "\n")
	if len(lines) != 3 || lines[2] != "" {
		t.Fatalf("with a bar output, put and get drew %q; want two bars, each ending its line", bar.String())
	}
	putLast, getLast := lastDraw(lines[0]), lastDraw(lines[1])
	if !strings.Contains(lines[0], "100.0%  2.0 MiB / 2.0 MiB  --  waiting for the node") && !strings.Contains(lines[0], "/s  waiting for the node") {
		t.Fatalf("put never said it waits for the node: %q", lines[0])
	}
	if !strings.Contains(putLast, "100.0%  2.0 MiB / 2.0 MiB") || !strings.HasSuffix(putLast, "stored\x1b[K\n") {
		t.Fatalf("put's last draw %q", putLast)
	}
	if !strings.Contains(lines[1], "100.0%  2.0 MiB / 2.0 MiB  --  verifying") && !strings.Contains(lines[1], "/s  verifying") {
		t.Fatalf("get never said verifying: %q", lines[1])
	}
	if !strings.Contains(getLast, "100.0%  2.0 MiB / 2.0 MiB") || !strings.HasSuffix(getLast, "verified\x1b[K\n") {
		t.Fatalf("get's last draw %q", getLast)
	}
}

// lastDraw returns the last redraw of one bar's line.
func lastDraw(line string) string {
	draws := strings.Split(line, "\r")
	return draws[len(draws)-1]
}

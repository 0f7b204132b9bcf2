package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"lukechampine.com/blake3"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/io/gateway"
)

func TestHelpOnStdoutForEveryCommand(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--help"}, "Commands:"},
		{[]string{"-h"}, "Commands:"},
		{[]string{"help"}, "Commands:"},
		{[]string{"help", "put"}, "Usage: ronctl put FILE|-"},
		{[]string{"put", "--help"}, "Usage: ronctl put FILE|-"},
		{[]string{"get", "-h"}, "Usage: ronctl get ADDR [-o FILE]"},
		{[]string{"cat", "--help"}, "Usage: ronctl cat ADDR"},
		{[]string{"status", "--help"}, "Usage: ronctl status"},
		{[]string{"providers", "--help"}, "Usage: ronctl providers ADDR"},
		{[]string{"name", "--help"}, "name set NAME ADDR"},
		{[]string{"name", "claim", "--help"}, "Usage: ronctl name claim NAME --key FILE"},
		{[]string{"token", "--help"}, "token attenuate"},
		{[]string{"token", "issue", "--help"}, "Usage: ronctl token issue --key FILE"},
		{[]string{"help", "token", "revoke"}, "Usage: ronctl token revoke"},
		{[]string{"key", "rotate", "--help"}, "Usage: ronctl key rotate --cap-key-file FILE"},
		{[]string{"audit", "verify", "--help"}, "Usage: ronctl audit verify"},
		{[]string{"version", "--help"}, "Usage: ronctl version"},
		{[]string{"help", "help"}, "Usage: ronctl help [COMMAND]"},
	}
	for _, c := range cases {
		out, errText, code := ronctl(t, "", c.args...)
		if code != 0 || errText != "" || !strings.Contains(out, c.want) {
			t.Errorf("ronctl %v: exit %d, stderr %q, stdout:\n%s\nwant exit 0 and %q", c.args, code, errText, out, c.want)
		}
	}
	// A command's help carries its examples and the global flags.
	out, _, _ := ronctl(t, "", "help", "get")
	if !strings.Contains(out, "Examples:\n  ronctl get b3:... -o copy.md") || !strings.Contains(out, "--node URL") {
		t.Errorf("help get:\n%s", out)
	}
}

func TestUnknownFlagIsOneLinePointingToHelp(t *testing.T) {
	out, errText, code := ronctl(t, "", "put", "x", "--bogus")
	if code != 2 || out != "" || strings.Count(errText, "\n") != 1 || !strings.Contains(errText, "-bogus") || !strings.Contains(errText, "ronctl --help") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errText)
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}, {"--json", "--version"}} {
		out, errText, code := ronctl(t, "", args...)
		if code != 0 || !strings.HasPrefix(out, "ronctl ") || !strings.Contains(out, "go1.") || !strings.Contains(out, "revision ") {
			t.Errorf("ronctl %v: exit %d %q %q", args, code, out, errText)
		}
	}
}

func TestNodeWithoutScheme(t *testing.T) {
	url, token := startNode(t)
	bare := strings.TrimPrefix(url, "http://")
	out, errText, code := ronctl(t, "bare", "--node", bare, "--token", token, "put", "-")
	if code != 0 || strings.TrimSpace(out) != proto.AddrOf([]byte("bare")).String() {
		t.Fatalf("put with --node %s: exit %d %q %q", bare, code, out, errText)
	}
	if _, errText, code := ronctl(t, "", "--node", "ftp://"+bare, "status"); code != 2 || !strings.Contains(errText, "http://HOST:PORT") {
		t.Fatalf("ftp scheme: exit %d %q", code, errText)
	}
}

// get without -o writes to stdout when it is not a terminal, refuses a
// terminal, and never names a file after the address.
func TestGetDestination(t *testing.T) {
	url, token := startNode(t)
	out, _, _ := ronctl(t, "object bytes", "--node", url, "--token", token, "put", "-")
	addr := strings.TrimSpace(out)
	t.Chdir(t.TempDir())
	if out, errText, code := ronctl(t, "", "--node", url, "get", addr); code != 0 || out != "object bytes" {
		t.Fatalf("get to a pipe: exit %d, stdout %q, stderr %q", code, out, errText)
	}
	stdoutIsTerminal = func(io.Writer) bool { return true }
	defer func() { stdoutIsTerminal = isTerminal }()
	if out, errText, code := ronctl(t, "", "--node", url, "get", addr); code != 2 || out != "" || !strings.Contains(errText, "-o FILE") {
		t.Fatalf("get to a terminal: exit %d, stdout %q, stderr %q", code, out, errText)
	}
	if out, _, code := ronctl(t, "", "--node", url, "cat", addr); code != 0 || out != "object bytes" {
		t.Fatalf("cat to a terminal: exit %d %q", code, out)
	}
	if entries, _ := os.ReadDir("."); len(entries) != 0 {
		t.Fatalf("get wrote %s into the current directory", entries[0].Name())
	}
	if _, errText, code := ronctl(t, "", "--node", url, "get", addr, "-o", "copy"); code != 0 {
		t.Fatalf("get -o: %d %s", code, errText)
	}
	if b, _ := os.ReadFile("copy"); string(b) != "object bytes" {
		t.Fatalf("get -o wrote %q", b)
	}
}

func TestStatusShowsTheNode(t *testing.T) {
	url, token, id := startNodeWithID(t)
	g := []string{"--node", url, "--token", token}
	if _, errText, code := ronctl(t, "status bytes", append(g, "put", "-")...); code != 0 {
		t.Fatal(errText)
	}
	keyFile := filepath.Join(t.TempDir(), "owner.key")
	ronctl(t, "", "key", "gen", keyFile)
	if _, errText, code := ronctl(t, "", append(g, "name", "claim", "status.example", "--key", keyFile)...); code != 0 {
		t.Fatal(errText)
	}
	// The names gauge is set on the registry's tick: poll.
	var s gateway.Status
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		out, errText, code := ronctl(t, "", "--node", url, "--json", "status")
		if code != 0 {
			t.Fatalf("status --json: exit %d %q %q", code, out, errText)
		}
		s = gateway.Status{}
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatalf("status --json is not one object: %v\n%s", err, out)
		}
		if s.Names != nil && *s.Names >= 1 && s.Objects != nil && *s.Objects >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never counted the object and the name: %s", out)
		}
	}
	if s.NodeID != id.String() || !s.Ready || s.ReadyReason != "ready" || s.Version != "test" || s.Profile != "micronode (test)" {
		t.Fatalf("status %+v", s)
	}
	out, _, code := ronctl(t, "", "--node", url, "status")
	for _, want := range []string{"node      " + id.String(), "ready     yes", "peers     0 active", "objects   1 (", "names     1", "version   test"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("status: exit %d, want %q in:\n%s", code, want, out)
		}
	}
}

// With --json, errors are JSON on stdout too (and one line on stderr).
func TestErrorsAsJSON(t *testing.T) {
	url, _ := startNode(t)
	for _, c := range []struct {
		args []string
		code int
		want func(map[string]any) bool
	}{
		{[]string{"--json", "--node", "http://127.0.0.1:1", "status"}, 1, func(m map[string]any) bool {
			return strings.Contains(m["error"].(string), "cannot reach")
		}},
		{[]string{"--json", "--node", url, "cat", "b3:" + strings.Repeat("0", 64)}, 1, func(m map[string]any) bool {
			h, _ := m["http"].(map[string]any)
			return h["code"] == "NOT_FOUND" && h["status"] == float64(404)
		}},
		{[]string{"--json", "frobnicate"}, 2, func(m map[string]any) bool { return m["usage"] == true }},
	} {
		out, errText, code := ronctl(t, "", c.args...)
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil || code != c.code || m["ok"] != false || !c.want(m) || strings.Count(errText, "\n") != 1 {
			t.Errorf("%v: exit %d, stdout %q (%v), stderr %q", c.args, code, out, err, errText)
		}
	}
}

// A token minted with another node's cap key fails with bad_mac and a
// hint saying so.
func TestBadMACHintsAtAnotherNodesKey(t *testing.T) {
	url, _ := startNode(t)
	keys := auth.NewKeyring(nil)
	secret, _ := auth.NewSecret(bytes.Repeat([]byte{9}, auth.KeyBytes)) // not the node's key
	_ = keys.Create("root", auth.KindMAC, secret)
	key, _ := keys.CurrentMACKey("root")
	tok, _ := auth.Mint(key, "root", auth.OpsAll, [auth.NonceBytes]byte{})
	_, errText, code := ronctl(t, "x", "--node", url, "--token", tok.Encode(), "put", "-")
	if code != 1 || !strings.Contains(errText, "bad_mac") || !strings.Contains(errText, "minted with another node's key?") {
		t.Fatalf("exit %d, stderr %q", code, errText)
	}
}

// patternReader yields n deterministic bytes without holding them.
type patternReader struct{ n, off int64 }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n-p.off)]
	for i := range b {
		b[i] = byte((p.off + int64(i)) * 7 >> 3)
	}
	p.off += int64(len(b))
	return len(b), nil
}

func hashOf(t *testing.T, r io.Reader) (proto.Addr, int64) {
	t.Helper()
	h := blake3.New(proto.IDBytes, nil)
	n, err := io.Copy(h, r)
	if err != nil {
		t.Fatal(err)
	}
	var a proto.Addr
	copy(a[:], h.Sum(nil))
	return a, n
}

// streamServer is PUT /o and GET /o/{addr} that hash and generate bytes
// instead of keeping them: the only copies of an object in memory are
// ronctl's.
func streamServer(t *testing.T, size int64, corrupt bool) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /o", func(w http.ResponseWriter, r *http.Request) {
		h := blake3.New(proto.IDBytes, nil)
		n, _ := io.Copy(h, r.Body)
		var a proto.Addr
		copy(a[:], h.Sum(nil))
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"addr": a.String(), "size": n})
	})
	mux.HandleFunc("GET /o/{addr}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		src := io.Reader(&patternReader{n: size})
		if corrupt {
			src = io.MultiReader(io.LimitReader(src, size-1), strings.NewReader("!"))
		}
		_, _ = io.Copy(w, src)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// peakHeapDuring returns how far the live heap (HeapAlloc, sampled every
// millisecond) rose above its level before f ran. Total allocations would
// not do: the BLAKE3 library allocates short-lived buffers per write,
// which the collector reclaims as it goes.
func peakHeapDuring(f func()) uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	base, peak := m.HeapAlloc, m.HeapAlloc
	done := make(chan struct{})
	sampled := make(chan uint64)
	go func() {
		highest := uint64(0)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			highest = max(highest, m.HeapAlloc)
			select {
			case <-done:
				sampled <- highest
				return
			case <-tick.C:
			}
		}
	}()
	f()
	close(done)
	peak = max(peak, <-sampled)
	return peak - base
}

// put (a file and stdin), get -o, get to stdout and cat of a 64 MiB object
// each keep far less than the object in memory: ronctl streams both ways.
// The old ReadAll/ReadFile code held the whole object (and more).
func TestTransfersStreamInBoundedMemory(t *testing.T) {
	const size = 64 << 20
	const heapRiseMax = size / 4
	srv := streamServer(t, size, false)
	want, _ := hashOf(t, &patternReader{n: size})
	dir := t.TempDir()
	sparse := filepath.Join(dir, "zeros")
	if err := os.WriteFile(sparse, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(sparse, size); err != nil { // a sparse file: no disk I/O to speak of
		t.Fatal(err)
	}
	zeros, _ := hashOf(t, io.LimitReader(zeroReader{}, size))
	copyFile := filepath.Join(dir, "copy")
	cases := []struct {
		name  string
		args  []string
		stdin io.Reader
		check func(stdout []byte) bool
	}{
		{"put FILE", []string{"put", sparse}, nil, func(out []byte) bool { return strings.TrimSpace(string(out)) == zeros.String() }},
		{"put -", []string{"put", "-"}, &patternReader{n: size}, func(out []byte) bool { return strings.TrimSpace(string(out)) == want.String() }},
		{"get -o", []string{"get", want.String(), "-o", copyFile}, nil, func([]byte) bool {
			f, err := os.Open(copyFile)
			if err != nil {
				return false
			}
			defer f.Close()
			got, _ := hashOf(t, f)
			return got == want
		}},
		{"cat", []string{"cat", want.String()}, nil, nil},
		{"get to stdout", []string{"get", want.String()}, nil, nil},
	}
	for _, c := range cases {
		stdout := &hashingWriter{h: blake3.New(proto.IDBytes, nil)}
		var stderr bytes.Buffer
		code := -1
		rise := peakHeapDuring(func() {
			code = run(append([]string{"--node", srv.URL, "--token", "t"}, c.args...), c.stdin, stdout, &stderr)
		})
		t.Logf("%s of %d MiB: live heap rose by at most %.1f MiB", c.name, size>>20, float64(rise)/(1<<20))
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", c.name, code, stderr.String())
		}
		if c.check == nil && (stdout.n != size || stdout.sum() != want) {
			t.Fatalf("%s: stdout got %d bytes hashing to %s", c.name, stdout.n, stdout.sum())
		}
		if c.check != nil && !c.check(stdout.buf.Bytes()) {
			t.Fatalf("%s: wrong result, stdout %q", c.name, stdout.buf.String())
		}
		if rise > heapRiseMax {
			t.Errorf("%s of %d MiB raised the live heap by %d MiB (limit %d MiB): not streaming", c.name, size>>20, rise>>20, heapRiseMax>>20)
		}
	}
}

type zeroReader struct{}

func (zeroReader) Read(b []byte) (int, error) { clear(b); return len(b), nil }

// hashingWriter hashes what it is given and keeps only a short prefix.
type hashingWriter struct {
	h interface {
		Write([]byte) (int, error)
		Sum([]byte) []byte
	}
	n   int64
	buf bytes.Buffer
}

func (w *hashingWriter) Write(b []byte) (int, error) {
	w.n += int64(len(b))
	if w.buf.Len() < 4096 {
		w.buf.Write(b[:min(len(b), 4096-w.buf.Len())])
	}
	return w.h.Write(b)
}

func (w *hashingWriter) sum() proto.Addr {
	var a proto.Addr
	copy(a[:], w.h.Sum(nil))
	return a
}

// Bytes that do not hash to the address: get -o leaves no file, cat and
// get to stdout exit 1 saying to discard what they wrote.
func TestGetRefusesBytesThatDoNotHash(t *testing.T) {
	const size = 3 << 20
	srv := streamServer(t, size, true)
	want, _ := hashOf(t, &patternReader{n: size})
	out := filepath.Join(t.TempDir(), "copy")
	_, errText, code := ronctl(t, "", "--node", srv.URL, "get", want.String(), "-o", out)
	if code != 1 || !strings.Contains(errText, "integrity") || !strings.Contains(errText, "was not written") {
		t.Fatalf("get -o: exit %d %q", code, errText)
	}
	if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 0 {
		t.Fatalf("get -o of bad bytes left %s behind", entries[0].Name())
	}
	_, errText, code = ronctl(t, "", "--node", srv.URL, "cat", want.String())
	if code != 1 || !strings.Contains(errText, "discard them") {
		t.Fatalf("cat: exit %d %q", code, errText)
	}
}

// A node without GET /status (an older rond) still gets a status: the
// probes of /healthz, /readyz and /version, exit 1 when not ready.
func TestStatusFallsBackToProbes(t *testing.T) {
	var notReady atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, `{"status":"ok"}`) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if notReady.Load() {
			http.Error(w, `{"code":"UNAVAILABLE","message":"node not ready"}`, http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, `{"status":"ready"}`)
	})
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, `{"version":"old"}`) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	out, errText, code := ronctl(t, "", "--node", srv.URL, "status")
	if code != 0 || !strings.Contains(out, "/readyz   200") || !strings.Contains(out, `"old"`) {
		t.Fatalf("ready: exit %d %q %q", code, out, errText)
	}
	notReady.Store(true)
	out, errText, code = ronctl(t, "", "--node", srv.URL, "--json", "status")
	var probes []map[string]any
	if code != 1 || json.Unmarshal([]byte(out), &probes) != nil || len(probes) != 3 || !strings.Contains(errText, "node not ready") {
		t.Fatalf("not ready: exit %d, stdout %q, stderr %q; want the three probes as JSON and exit 1", code, out, errText)
	}
}

// get -o into something that is not a regular file writes into it, never
// renames a file over it: `ronctl get ADDR -o /dev/null` once replaced the
// machine's /dev/null with a regular file. A symbolic link keeps being a
// link; its target gets the bytes.
func TestGetOutputKeepsSpecialFilesAndLinks(t *testing.T) {
	url, token := startNode(t)
	out, _, _ := ronctl(t, "special bytes", "--node", url, "--token", token, "put", "-")
	addr := strings.TrimSpace(out)
	dir := t.TempDir()

	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	read := make(chan []byte, 1)
	go func() {
		b, _ := os.ReadFile(fifo) // blocks until ronctl opens it for writing
		read <- b
	}()
	if _, errText, code := ronctl(t, "", "--node", url, "get", addr, "-o", fifo); code != 0 {
		t.Fatalf("get -o FIFO: exit %d %s", code, errText)
	}
	select {
	case b := <-read:
		if string(b) != "special bytes" {
			t.Fatalf("the FIFO's reader got %q", b)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the FIFO's reader got nothing within 30s")
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("get -o replaced the FIFO: %v %v", fi.Mode(), err)
	}

	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if _, errText, code := ronctl(t, "", "--node", url, "get", addr, "-o", link); code != 0 {
		t.Fatalf("get -o LINK: exit %d %s", code, errText)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("get -o replaced the link with a file: %v %v", fi.Mode(), err)
	}
	if b, _ := os.ReadFile(target); string(b) != "special bytes" {
		t.Fatalf("the link's target holds %q", b)
	}

	if _, errText, code := ronctl(t, "", "--node", url, "get", addr, "-o", dir); code != 2 || !strings.Contains(errText, "is a directory") {
		t.Fatalf("get -o DIR: exit %d %q", code, errText)
	}
}

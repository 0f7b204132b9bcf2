package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"lukechampine.com/blake3"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/storage"
	"github.com/ron-network/ron/io/datadir"
	"github.com/ron-network/ron/io/pebbledisk"
)

// The golden data dirs: one per format, made by TestGoldenDataDirs with
// -update-golden from a real rond process, committed, and opened or
// migrated by every later build. Format 0 is format 1 without its record
// (migration 1 changes nothing else), which is exactly what the build
// before the record wrote.
var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/datadir/format*")

const (
	goldenRoot   = "testdata/datadir"
	goldenName   = "golden.example"
	goldenObject = "an object stored by the golden data dir generator"
)

// goldenOwnerSeed fixes the name owner's key so the check knows it.
var goldenOwnerSeed = bytes.Repeat([]byte{7}, ed25519.SeedSize)

func goldenDir(format uint32) string {
	return filepath.Join(goldenRoot, fmt.Sprintf("format%d", format))
}

// TestGoldenDataDirs opens every golden data dir with this build: the
// object and the name it holds are served, and a format 0 dir is opened
// as is (no record appears without rond migrate).
func TestGoldenDataDirs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	if *updateGolden {
		writeGolden(t)
	}
	for format := uint32(0); format <= datadir.FormatCurrent; format++ {
		t.Run(fmt.Sprintf("format%d", format), func(t *testing.T) {
			n := goldenNode(t, format)
			if format < datadir.FormatCurrent {
				// Format 2 renamed the store's chunks and format 3 reads
				// segment pointers: an older dir is refused in one line
				// until rond migrate brings it up.
				_, errOut, code := runRond("--data-dir", n.dataDir, "--http-addr", "127.0.0.1:0", "--quic-addr", "127.0.0.1:0")
				if code != 2 || !strings.Contains(errOut, fmt.Sprintf("rond migrate --data-dir %s --to %d", n.dataDir, datadir.FormatCurrent)) {
					t.Fatalf("format %d opened without a migration: exit %d %q", format, code, errOut)
				}
				if got, _, _ := datadir.Format(n.dataDir); got != format {
					t.Fatalf("a refused start changed the format to %d", got)
				}
				if _, errOut, code := runRond("migrate", "--data-dir", n.dataDir, "--to", fmt.Sprint(datadir.FormatCurrent)); code != 0 {
					t.Fatalf("migrate: %d %s", code, errOut)
				}
			}
			n.start(t)
			n.waitReady(t)
			code, body := n.do(t, "GET", "/o/"+proto.AddrOf([]byte(goldenObject)).String(), nil, false)
			if code != http.StatusOK || string(body) != goldenObject {
				t.Fatalf("GET the golden object: %d %q", code, body)
			}
			if format >= datadir.FormatSideFiles {
				large := goldenLargeObject()
				code, body := n.do(t, "GET", "/o/"+proto.AddrOf(large).String(), nil, false)
				if code != http.StatusOK || !bytes.Equal(body, large) {
					t.Fatalf("GET the golden large object: %d, %d bytes", code, len(body))
				}
			}
			rec := resolveName(t, n, goldenName)
			if rec.Target != proto.AddrOf([]byte(goldenObject)).String() || rec.Seq != 1 {
				t.Fatalf("resolve %s: %+v", goldenName, rec)
			}
			n.kill(t)
			if got, _, err := datadir.Format(n.dataDir); err != nil || got != datadir.FormatCurrent {
				t.Fatalf("format after a run: %d %v, want %d", got, err, datadir.FormatCurrent)
			}
		})
	}
}

// goldenLargeObject is stored in the golden dirs from format
// FormatSideFiles on: its chunks are large enough for segment files.
func goldenLargeObject() []byte {
	b := make([]byte, 100<<10)
	for i := range b {
		b[i] = byte(i*7 + i>>10)
	}
	return b
}

// goldenNode copies the golden dir of format into a temp dir (git keeps
// no file modes; key files must be 0600) and returns a node on it.
func goldenNode(t *testing.T, format uint32) *procNode {
	t.Helper()
	// A golden node starts once and has no peers: rond picks its QUIC port
	// (a free port picked and released here could be taken meanwhile).
	n := &procNode{name: fmt.Sprintf("golden%d", format), dataDir: t.TempDir(), quic: "127.0.0.1:0", logs: &lockedBuffer{}}
	copyDir(t, goldenDir(format), n.dataDir)
	t.Cleanup(func() {
		n.kill(t)
		if t.Failed() {
			t.Logf("=== log of %s\n%s", n.name, n.logs)
		}
	})
	return n
}

// writeGolden runs a real macronode, stores an object, claims and sets a
// name, stops it with SIGTERM and keeps its dir as the golden dir of every
// format that has none yet (migrated down to it). Existing golden dirs are
// frozen: delete one by hand to regenerate it.
func writeGolden(t *testing.T) {
	n := newProcNode(t, "G")
	n.start(t)
	n.waitReady(t)
	addr := putObject(t, n, []byte(goldenObject))
	putObject(t, n, goldenLargeObject())
	priv := ed25519.NewKeyFromSeed(goldenOwnerSeed)
	o := owner{priv: priv, pub: hex.EncodeToString(priv.Public().(ed25519.PublicKey))}
	claimName(t, n, goldenName, o)
	if code, body := n.do(t, "PUT", "/names/"+goldenName, o.setBody(goldenName, addr, 1), true); code != http.StatusOK {
		t.Fatalf("PUT /names: %d %s", code, body)
	}
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-n.exited:
	case <-time.After(exitDeadline):
		t.Fatal("rond did not exit after SIGTERM")
	}
	n.cmd = nil
	_ = os.Remove(filepath.Join(n.dataDir, "root.token"))
	for format := uint32(0); format <= datadir.FormatCurrent; format++ {
		dst := goldenDir(format)
		if _, err := os.Stat(dst); err == nil {
			continue // frozen: a golden dir is what an old build wrote, never rewritten
		}
		copyDir(t, n.dataDir, dst)
		if _, err := datadir.Migrate(dst, format, datadir.MigrateOptions{Binary: "golden"}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMigrateUpThenDownKeepsTheLogicalState migrates every golden dir to
// every format and back with the rond binary: the store's pairs (objects,
// names, the audit chain) and the key files are byte-equal throughout.
func TestMigrateUpThenDownKeepsTheLogicalState(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildRond(t)
	for from := uint32(0); from <= datadir.FormatCurrent; from++ {
		dir := t.TempDir()
		copyDir(t, goldenDir(from), dir)
		want := logicalDigest(t, dir)
		for to := uint32(0); to <= datadir.FormatCurrent; to++ {
			for _, target := range []uint32{to, from} {
				out, err := exec.Command(bin, "migrate", "--data-dir", dir, "--to", fmt.Sprint(target)).CombinedOutput()
				if err != nil {
					t.Fatalf("migrate %d: %v\n%s", target, err, out)
				}
				if got, _, _ := datadir.Format(dir); got != target {
					t.Fatalf("after migrate --to %d: format %d\n%s", target, got, out)
				}
				if got := logicalDigest(t, dir); got != want {
					t.Fatalf("migrate --to %d changed the logical state", target)
				}
			}
		}
	}
}

// TestMigrateKilledAtEveryStep kills `rond migrate` (SIGKILL, through the
// datadir failpoint) before every step of every migration, up and down:
// the dir is then exactly the old format or the new one, its logical state
// is untouched, and running the migration again finishes it.
func TestMigrateKilledAtEveryStep(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildRond(t)
	side := datadir.FormatSideFiles
	for _, m := range []struct{ from, to uint32 }{{0, 1}, {1, 0}, {1, 2}, {2, 1}, {side - 1, side}, {side, side - 1}} {
		steps := migrationSteps(t, m.from, m.to)
		if len(steps) < 4 && m.to > m.from || len(steps) < 2 {
			t.Fatalf("%d -> %d: only steps %v", m.from, m.to, steps)
		}
		for _, step := range steps {
			dir := migrationStart(t, m.from, m.to)
			want := logicalDigest(t, dir)
			cmd := exec.Command(bin, "migrate", "--data-dir", dir, "--to", fmt.Sprint(m.to))
			cmd.Env = append(os.Environ(), fmt.Sprintf("GO_FAILPOINTS=%s=return(%q)", datadir.FailpointKill, step))
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("%d -> %d at %s: not killed: %v\n%s", m.from, m.to, step, err, out)
			}
			got, _, err := datadir.Check(dir, "test")
			if err != nil || got != m.from && got != m.to {
				t.Fatalf("%d -> %d killed at %s: format %d, %v", m.from, m.to, step, got, err)
			}
			if logicalDigest(t, dir) != want {
				t.Fatalf("%d -> %d killed at %s: logical state changed", m.from, m.to, step)
			}
			if out, err := exec.Command(bin, "migrate", "--data-dir", dir, "--to", fmt.Sprint(m.to)).CombinedOutput(); err != nil {
				t.Fatalf("rerun after a kill at %s: %v\n%s", step, err, out)
			}
			if got, _, _ := datadir.Format(dir); got != m.to {
				t.Fatalf("rerun after a kill at %s: format %d", step, got)
			}
		}
	}
}

// migrationSteps records the step names of one migration on a scratch
// copy, so the kill test covers every step the code has, not a list kept
// by hand.
func migrationSteps(t *testing.T, from, to uint32) []string {
	dir := migrationStart(t, from, to)
	var steps []string
	if _, err := datadir.Migrate(dir, to, datadir.MigrateOptions{Step: func(s string) { steps = append(steps, s) }}); err != nil {
		t.Fatal(err)
	}
	return steps
}

// migrationStart copies the golden dir a migration from -> to starts from.
// The way up to side files starts from the side-files golden migrated
// down (the older goldens hold no value large enough to move).
func migrationStart(t *testing.T, from, to uint32) string {
	t.Helper()
	dir := t.TempDir()
	if from == datadir.FormatSideFiles-1 && to == datadir.FormatSideFiles {
		copyDir(t, goldenDir(to), dir)
		if _, err := datadir.Migrate(dir, from, datadir.MigrateOptions{Binary: "test"}); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	copyDir(t, goldenDir(from), dir)
	return dir
}

func TestMigrateCommandLine(t *testing.T) {
	dir := t.TempDir()
	copyDir(t, goldenDir(0), dir)
	out, errOut, code := runRond("migrate", "--data-dir", dir, "--to", "1", "--dry-run")
	if code != 0 || !strings.Contains(out, "would run: up 0 -> 1") || errOut != "" {
		t.Fatalf("dry run: %d %q %q", code, out, errOut)
	}
	if f, _, _ := datadir.Format(dir); f != 0 {
		t.Fatalf("dry run changed the format to %d", f)
	}
	if _, errOut, code := runRond("migrate", "--data-dir", dir); code != 2 || !strings.Contains(errOut, "--to N") {
		t.Fatalf("no --to: %d %q", code, errOut)
	}
	if _, errOut, code := runRond("migrate", "--data-dir", dir, "--to", "9"); code != 1 || !strings.Contains(errOut, fmt.Sprintf("formats 0 to %d", datadir.FormatCurrent)) {
		t.Fatalf("--to 9: %d %q", code, errOut)
	}
	out, _, code = runRond("migrate", "--data-dir", dir, "--to", "1")
	rec, present, err := datadir.Read(dir)
	if code != 0 || !present || err != nil || rec.Format != 1 || !strings.Contains(rec.WrittenBy, "rond ") {
		t.Fatalf("migrate: %d %q, record %+v %v %v", code, out, rec, present, err)
	}
	id, _ := migrateNodeID(dir, "")
	if id == "" || rec.NodeID != id {
		t.Fatalf("record names node %q, the key is %q", rec.NodeID, id)
	}
}

// TestNewerFormatIsRefusedInOneLine: rond started on a dir of a newer
// format exits 2 with one line naming both versions and what to do, and
// touches nothing.
func TestNewerFormatIsRefusedInOneLine(t *testing.T) {
	dir := t.TempDir()
	copyDir(t, goldenDir(datadir.FormatCurrent), dir)
	newer := datadir.Record{Format: datadir.FormatCurrent + 1, WrittenBy: "rond v99.0.0"}
	if err := datadir.Write(dir, newer, nil); err != nil {
		t.Fatal(err)
	}
	before := logicalDigest(t, dir)
	out, errOut, code := runRond("--data-dir", dir, "--http-addr", "127.0.0.1:0", "--quic-addr", "127.0.0.1:0")
	if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("exit %d, stdout %q, stderr %q; want exit 2 and one line", code, out, errOut)
	}
	for _, want := range []string{fmt.Sprintf("format %d", newer.Format), "rond v99.0.0", versionLine(), "rond migrate --data-dir"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q: %s", want, errOut)
		}
	}
	if logicalDigest(t, dir) != before {
		t.Fatal("a refused start changed the dir")
	}
}

// logicalDigest hashes what a data dir means: every pair of its store
// (objects, names, raft log, audit chain) and every file outside the store
// but the format record. It opens a scratch copy, since opening a store
// rewrites its files.
func logicalDigest(t *testing.T, dir string) string {
	t.Helper()
	h := blake3.New(32, nil)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		// The lock file (holding its holder's pid) is not state.
		if e.IsDir() || e.Name() == datadir.RecordName || e.Name() == datadir.LockName || strings.HasSuffix(e.Name(), ".tmp") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(h, "file %s %d\n", e.Name(), len(data))
		h.Write(data)
	}
	scratch := t.TempDir()
	copyDir(t, filepath.Join(dir, datadir.StoreName), scratch)
	format, _, err := datadir.Format(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Opened as the build of its format opens it: inline before side files.
	disk, err := pebbledisk.Open(pebbledisk.Options{Dir: scratch, Legacy: format < datadir.FormatSideFiles})
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	res := disk.Do(env.DiskOp{Kind: env.DiskScan, Limit: env.DiskScanLimitMax})
	if res.Err != nil || res.More || len(res.Pairs) == 0 {
		t.Fatalf("scan: %d pairs, more %v, %v", len(res.Pairs), res.More, res.Err)
	}
	manifests, decode := storage.DiskPrefixManifest, storage.DecodeManifest
	if format < 2 {
		manifests, decode = storage.DiskPrefixManifestV1, storage.DecodeManifestV1
	}
	for _, kv := range res.Pairs {
		// Chunks and manifests are named differently by each format
		// (migration 2): they count as the objects they make, read
		// and verified as that format's build reads them.
		switch {
		case bytes.HasPrefix(kv.Key, []byte(manifests)):
			addr, _ := storage.AddrFromDiskKey(manifests, kv.Key)
			obj := readObject(t, disk, addr, kv.Value, decode, format)
			fmt.Fprintf(h, "object %s %d\n", addr, len(obj))
			h.Write(obj)
			continue
		case bytes.HasPrefix(kv.Key, []byte(storage.DiskPrefixChunk)), bytes.HasPrefix(kv.Key, []byte(storage.DiskPrefixManifest)),
			bytes.HasPrefix(kv.Key, []byte(storage.DiskPrefixManifestV1)):
			continue
		}
		fmt.Fprintf(h, "kv %d %d\n", len(kv.Key), len(kv.Value))
		h.Write(kv.Key)
		h.Write(kv.Value)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// readObject reassembles one object from its manifest and chunks and
// checks it hashes to its address.
func readObject(t *testing.T, disk *pebbledisk.Disk, addr proto.Addr, sealed []byte, decode func([]byte) (storage.Manifest, error), format uint32) []byte {
	t.Helper()
	raw, err := env.Unseal(sealed)
	if err != nil {
		t.Fatal(err)
	}
	m, err := decode(raw)
	if err != nil {
		t.Fatalf("manifest of %s (format %d): %v", addr, format, err)
	}
	var obj []byte
	for _, c := range m.Chunks {
		res := disk.Do(env.DiskOp{Kind: env.DiskGet, Key: storage.DiskKey(storage.DiskPrefixChunk, c.Addr)})
		if res.Err != nil || !res.Found {
			t.Fatalf("object %s (format %d): chunk %s missing: %v", addr, format, c.Addr.Short(), res.Err)
		}
		obj = append(obj, res.Value...)
	}
	if proto.AddrOf(obj) != addr {
		t.Fatalf("object %s (format %d) does not hash to its address", addr, format)
	}
	return obj
}

// copyDir copies a tree, files 0600 and directories 0700.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

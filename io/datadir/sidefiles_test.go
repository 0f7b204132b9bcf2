package datadir

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/io/pebbledisk"
)

// sideStoreDir makes a data dir of format FormatSideFiles-1 whose store
// holds large values (inline, as that format keeps them) and small ones,
// and returns its pairs.
func sideStoreDir(t *testing.T) (string, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	d, err := pebbledisk.Open(pebbledisk.Options{Dir: filepath.Join(dir, StoreName), Legacy: true})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i := range 10 {
		size := 50
		if i%2 == 0 {
			size = pebbledisk.SideValueBytesDefault + i
		}
		v := make([]byte, size)
		for j := range v {
			v[j] = byte(i + j)
		}
		k := fmt.Sprintf("k%d", i)
		want[k] = string(v)
		if res := d.Do(env.DiskOp{Kind: env.DiskPut, Key: []byte(k), Value: v}); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	if res := d.Do(env.DiskOp{Kind: env.DiskSync}); res.Err != nil {
		t.Fatal(res.Err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	for v := uint32(1); v < FormatSideFiles; v++ {
		if _, err := Migrate(dir, v, MigrateOptions{Binary: "rond test"}); err != nil {
			t.Fatal(err)
		}
	}
	return dir, want
}

// pairsOf reads every pair of dir's store the way rond opens it for the
// dir's format, and counts the segment pointers.
func pairsOf(t *testing.T, dir string) map[string]string {
	t.Helper()
	format, _, err := Format(dir)
	if err != nil {
		t.Fatal(err)
	}
	d, err := pebbledisk.Open(pebbledisk.Options{Dir: filepath.Join(dir, StoreName), Legacy: format < FormatSideFiles})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	res := d.Do(env.DiskOp{Kind: env.DiskScan, Limit: env.DiskScanLimitMax})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	out := map[string]string{}
	for _, kv := range res.Pairs {
		out[string(kv.Key)] = string(kv.Value)
	}
	return out
}

// TestSideFilesMigrationStopsAtEveryStep: the side-files migration, up and
// down, stopped before each of its steps (the hook panics, as a crash
// would) leaves the old format or the new one, each reading the same
// pairs the way rond opens it, and a rerun finishes it. The store is
// opened and closed inside the migration, so a stop leaks its lock and
// files only within this test process; the rerun runs on a copy.
func TestSideFilesMigrationStopsAtEveryStep(t *testing.T) {
	for _, m := range []struct{ from, to uint32 }{{FormatSideFiles - 1, FormatSideFiles}, {FormatSideFiles, FormatSideFiles - 1}} {
		var steps []string
		{
			dir, _ := sideStoreDir(t)
			if m.from == FormatSideFiles {
				if _, err := Migrate(dir, m.from, MigrateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := Migrate(dir, m.to, MigrateOptions{Step: func(s string) { steps = append(steps, s) }}); err != nil {
				t.Fatal(err)
			}
		}
		if len(steps) < 4 {
			t.Fatalf("%d -> %d: steps %v", m.from, m.to, steps)
		}
		for i, stop := range steps {
			t.Run(fmt.Sprintf("%d-%d/%d-%s", m.from, m.to, i, stop), func(t *testing.T) {
				dir, want := sideStoreDir(t)
				if m.from == FormatSideFiles {
					if _, err := Migrate(dir, m.from, MigrateOptions{}); err != nil {
						t.Fatal(err)
					}
				}
				var snapshot string
				n := 0
				func() {
					defer func() { _ = recover() }()
					_, _ = Migrate(dir, m.to, MigrateOptions{Step: func(string) {
						if n == i {
							snapshot = snapshotTree(t, dir)
							panic("stop")
						}
						n++
					}})
				}()
				f, _, err := Check(snapshot, "rond test")
				if err != nil || (f != m.from && f != m.to) {
					t.Fatalf("stopped before %s: format %d err %v", stop, f, err)
				}
				if got := pairsOf(t, snapshot); !maps.Equal(got, want) {
					t.Fatalf("stopped before %s: %d pairs, want %d", stop, len(got), len(want))
				}
				if _, err := Migrate(snapshot, m.to, MigrateOptions{Binary: "rond test"}); err != nil {
					t.Fatalf("rerun after %s: %v", stop, err)
				}
				if f, _, _ := Format(snapshot); f != m.to {
					t.Fatalf("rerun after %s: format %d", stop, f)
				}
				if got := pairsOf(t, snapshot); !maps.Equal(got, want) {
					t.Fatalf("rerun after %s: %d pairs, want %d", stop, len(got), len(want))
				}
			})
		}
	}
}

// snapshotTree copies the files under src into a new directory (a kill -9
// snapshot: what the files hold now, synced or not). Pebble may still be
// removing obsolete files in the background when the step runs: a copy
// that meets a vanished file starts over, until a deadline.
func snapshotTree(t *testing.T, src string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		dst := t.TempDir()
		err := os.CopyFS(dst, os.DirFS(src))
		if err == nil {
			return dst
		}
		if !errors.Is(err, fs.ErrNotExist) || time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

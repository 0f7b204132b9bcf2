package pebbledisk

import (
	"errors"
	"fmt"
	"maps"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ron-network/ron/core/env"
)

// legacyStore writes a legacy store (every value inline) with large and
// small values and returns its pairs.
func legacyStore(t *testing.T, fs vfs.FS) map[string]string {
	t.Helper()
	d, err := Open(Options{Dir: testDir, FS: fs, CacheBytes: 1 << 20, Legacy: true})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i := range 150 { // more than one scan page of the conversion
		size := 100
		if i%3 != 0 {
			size = SideValueBytesDefault + i*10
		}
		k, v := fmt.Sprintf("k%03d", i), string(sideValue(i, size))
		want[k] = v
		if res := d.Do(env.DiskOp{Kind: env.DiskPut, Key: []byte(k), Value: []byte(v)}); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	if res := d.Do(env.DiskOp{Kind: env.DiskSync}); res.Err != nil {
		t.Fatal(res.Err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	return want
}

// readStore opens the store in fs (legacy or not) and returns its pairs,
// and how many values pebble holds as pointers.
func readStore(t *testing.T, fs vfs.FS, legacy bool) (map[string]string, int) {
	t.Helper()
	d, err := Open(Options{Dir: testDir, FS: fs, CacheBytes: 1 << 20, Legacy: legacy})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got := map[string]string{}
	for start := []byte(nil); ; {
		res := d.Do(env.DiskOp{Kind: env.DiskScan, Start: start, Limit: 100})
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		for _, kv := range res.Pairs {
			got[string(kv.Key)] = string(kv.Value)
			start = append([]byte(string(kv.Key)), 0)
		}
		if !res.More {
			break
		}
	}
	recount := &sideStore{live: map[uint64]int{}}
	if err := recount.countPointers(d.db); err != nil {
		t.Fatal(err)
	}
	pointers := 0
	for _, n := range recount.live {
		pointers += n
	}
	return got, pointers
}

// TestConvertRoundTrip: a legacy store converted to side files reads the
// same pairs with its large values in segments; converted back, a legacy
// open reads the same pairs again and no segment is left.
func TestConvertRoundTrip(t *testing.T) {
	fs := vfs.NewMem()
	want := legacyStore(t, fs)
	if err := ConvertToSide(testDir, fs, nil, nil); err != nil {
		t.Fatal(err)
	}
	got, pointers := readStore(t, fs, false)
	if !maps.Equal(got, want) || pointers != 100 {
		t.Fatalf("after ConvertToSide: %d pairs (want %d), %d pointers (want 100)", len(got), len(want), pointers)
	}
	if err := ConvertToInline(testDir, fs, nil, nil); err != nil {
		t.Fatal(err)
	}
	got, pointers = readStore(t, fs, true)
	if !maps.Equal(got, want) || pointers != 0 {
		t.Fatalf("after ConvertToInline: %d pairs (want %d), %d pointers", len(got), len(want), pointers)
	}
	if _, err := fs.Stat(testDir + "/" + SideDirName); err == nil {
		t.Fatalf("the segment directory survived ConvertToInline")
	}
}

// TestConvertCrashAtEachStep crashes each conversion before each of its
// steps (dropping unsynced data): the store then reads the same pairs
// with side files on, and running the conversion again finishes it.
func TestConvertCrashAtEachStep(t *testing.T) {
	for _, dir := range []string{"up", "down"} {
		base := vfs.NewCrashableMem()
		want := legacyStore(t, base)
		if dir == "down" {
			if err := ConvertToSide(testDir, base, nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		convert := func(dir string, fs vfs.FS, step func(string)) error { return ConvertToSide(dir, fs, nil, step) }
		if dir == "down" {
			convert = func(dir string, fs vfs.FS, step func(string)) error { return ConvertToInline(dir, fs, nil, step) }
		}
		var steps []string
		probe := base.CrashClone(vfs.CrashCloneCfg{})
		if err := convert(testDir, probe, func(s string) { steps = append(steps, s) }); err != nil {
			t.Fatal(err)
		}
		if len(steps) < 3 {
			t.Fatalf("%s: steps %v", dir, steps)
		}
		for i, step := range steps {
			t.Run(fmt.Sprintf("%s/%d-%s", dir, i, step), func(t *testing.T) {
				fs := base.CrashClone(vfs.CrashCloneCfg{})
				var crashed *vfs.MemFS
				n := 0
				_ = convert(testDir, fs, func(string) {
					if n == i {
						crashed = fs.CrashClone(vfs.CrashCloneCfg{})
					}
					n++
				})
				if got, _ := readStore(t, crashed, false); !maps.Equal(got, want) {
					t.Fatalf("crash before %s: %d pairs, want %d", step, len(got), len(want))
				}
				if err := convert(testDir, crashed, nil); err != nil {
					t.Fatalf("rerun: %v", err)
				}
				got, pointers := readStore(t, crashed, dir == "down")
				if !maps.Equal(got, want) || (dir == "up") != (pointers == 100) || (dir == "down" && pointers != 0) {
					t.Fatalf("rerun: %d pairs, %d pointers", len(got), pointers)
				}
			})
		}
	}
}

// TestConvertRefusesMarkerValues: a legacy value starting with the side
// marker stops the conversion before it changes anything; an escaped
// value stops the way back.
func TestConvertRefusesMarkerValues(t *testing.T) {
	fs := vfs.NewMem()
	d, err := Open(Options{Dir: testDir, FS: fs, CacheBytes: 1 << 20, Legacy: true})
	if err != nil {
		t.Fatal(err)
	}
	d.Do(env.DiskOp{Kind: env.DiskPut, Key: []byte("m"), Value: append(sideMagic[:], 1, 2, 3)})
	d.Do(env.DiskOp{Kind: env.DiskSync})
	_ = d.Close()
	if err := ConvertToSide(testDir, fs, nil, nil); !errors.Is(err, ErrMarkerValue) {
		t.Fatalf("ConvertToSide over a marker value: %v", err)
	}
	if _, err := fs.Stat(testDir + "/" + SideDirName); err == nil {
		t.Fatalf("a refused conversion created the segment directory")
	}
	fs = vfs.NewMem()
	s := openSyncOn(t, fs)
	s.put("m", string(append(sideMagic[:], 1, 2, 3)))
	s.sync()
	_ = s.disk.Close()
	if err := ConvertToInline(testDir, fs, nil, nil); !errors.Is(err, ErrMarkerValue) {
		t.Fatalf("ConvertToInline over an escaped value: %v", err)
	}
}

package pebbledisk

import (
	"bytes"
	"os"
	"path"
	"testing"

	"github.com/ron-network/ron/core/env"
)

// TestSideDirectWrites: on a real directory whose file system takes
// O_DIRECT, segments are written directly; values aligned in memory and
// not (a slice one byte into a buffer, an odd length, a value under a
// page) all start at a multiple of directAlign, read back exactly, before
// and after a reopen, and the segment files' sizes stay multiples of it.
// BufferedSegments turns direct writes off.
func TestSideDirectWrites(t *testing.T) {
	dir := t.TempDir()
	if !probeDirect(dir) {
		t.Skipf("%s does not take O_DIRECT writes", dir)
	}
	d, err := Open(Options{Dir: dir, SideValueBytesMin: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if !d.side.direct || d.side.align != directAlign {
		t.Fatalf("direct %v, align %d on a file system that takes O_DIRECT", d.side.direct, d.side.align)
	}
	big := alignedBuffer(3<<20, directAlign)
	for i := range big {
		big[i] = byte(i * 31)
	}
	values := map[string][]byte{
		"aligned":   big[:256<<10],
		"unaligned": big[1 : 1+256<<10],
		"odd":       big[8192 : 8192+70001],
		"small":     big[5 : 5+1500],
		"pages":     big[1<<20 : 2<<20],
	}
	var batch []env.DiskWrite
	for _, k := range []string{"aligned", "unaligned", "odd", "small"} {
		batch = append(batch, env.DiskWrite{Key: []byte(k), Value: values[k]})
	}
	if res := d.Do(env.DiskOp{Kind: env.DiskBatch, Batch: batch}); res.Err != nil {
		t.Fatal(res.Err)
	}
	if res := d.Do(env.DiskOp{Kind: env.DiskPut, Key: []byte("pages"), Value: values["pages"]}); res.Err != nil {
		t.Fatal(res.Err)
	}
	check := func(d *Disk, when string) {
		t.Helper()
		for k, want := range values {
			res := d.Do(env.DiskOp{Kind: env.DiskGet, Key: []byte(k)})
			if res.Err != nil || !res.Found || !bytes.Equal(res.Value, want) {
				t.Fatalf("%s: %s reads %d bytes (found %v, err %v), want %d", when, k, len(res.Value), res.Found, res.Err, len(want))
			}
			raw, closer, err := d.db.Get([]byte(k))
			if err != nil {
				t.Fatal(err)
			}
			_, p, isPointer, err := decodeStored(raw)
			_ = closer.Close()
			if err != nil || !isPointer || p.offset%directAlign != 0 {
				t.Fatalf("%s: %s stored as pointer %v at offset %d (err %v), want a pointer at a multiple of %d", when, k, isPointer, p.offset, err, directAlign)
			}
		}
	}
	check(d, "written")
	if res := d.Do(env.DiskOp{Kind: env.DiskSync}); res.Err != nil {
		t.Fatal(res.Err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range listSegments(t, path.Join(dir, SideDirName)) {
		info, err := os.Stat(path.Join(dir, SideDirName, segmentSubdir(0), name))
		if err != nil {
			t.Fatal(err)
		}
		if info.Size()%directAlign != 0 {
			t.Fatalf("segment %s holds %d bytes, not a multiple of %d", name, info.Size(), directAlign)
		}
	}
	d, err = Open(Options{Dir: dir, SideValueBytesMin: 1000, BufferedSegments: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = d.Close() }()
	if d.side.direct || d.side.align != 1 {
		t.Fatalf("BufferedSegments: direct %v, align %d", d.side.direct, d.side.align)
	}
	check(d, "reopened")
	// The buffered store appends to a new segment, unpadded.
	if res := d.Do(env.DiskOp{Kind: env.DiskPut, Key: []byte("later"), Value: values["odd"]}); res.Err != nil {
		t.Fatal(res.Err)
	}
	if res := d.Do(env.DiskOp{Kind: env.DiskGet, Key: []byte("later")}); !bytes.Equal(res.Value, values["odd"]) {
		t.Fatalf("a buffered value after direct ones: %v", res.Err)
	}
}

// TestAlignedBuffer: alignedBuffer starts at a multiple of the alignment
// and has the length asked for.
func TestAlignedBuffer(t *testing.T) {
	for _, n := range []int{0, 1, 4095, 4096, 70001, 1 << 20} {
		b := alignedBuffer(n, directAlign)
		if len(b) != n || !aligned(b, directAlign) {
			t.Fatalf("alignedBuffer(%d): %d bytes, aligned %v", n, len(b), aligned(b, directAlign))
		}
	}
}

package pebbledisk

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ron-network/ron/core/env"
)

// countingFS counts the bytes read from the files it opens.
type countingFS struct {
	vfs.FS
	read *atomic.Int64
}

func (fs countingFS) Open(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := fs.FS.Open(name, opts...)
	if err != nil {
		return nil, err
	}
	return countingFile{File: f, read: fs.read}, nil
}

type countingFile struct {
	vfs.File
	read *atomic.Int64
}

func (f countingFile) Read(p []byte) (int, error) {
	n, err := f.File.Read(p)
	f.read.Add(int64(n))
	return n, err
}

func (f countingFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.File.ReadAt(p, off)
	f.read.Add(int64(n))
	return n, err
}

// TestKeysOnlyScanSkipsSeparatedValues writes incompressible chunk-sized
// values, reopens the store (which flushes them to sstables and blob
// files) and counts the bytes a scan reads from files: a full scan must
// read every value byte (the counter sees reads), a keys-only scan less
// than a tenth of one value.
func TestKeysOnlyScanSkipsSeparatedValues(t *testing.T) {
	const values, valueBytes = 64, 256 << 10
	mem := vfs.NewMem()
	d, err := Open(Options{Dir: testDir, FS: mem, CacheBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for i := range values {
		value := make([]byte, valueBytes)
		env.NewRand(uint64(i)).Fill(value)
		if res := d.Do(env.DiskOp{Kind: env.DiskPut, Key: fmt.Appendf(nil, "c/%04d", i), Value: value}); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	if res := d.Do(env.DiskOp{Kind: env.DiskSync}); res.Err != nil {
		t.Fatal(res.Err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	scanRead := func(keysOnly bool) int64 {
		var read atomic.Int64
		d, err := Open(Options{Dir: testDir, FS: countingFS{FS: mem, read: &read}, CacheBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		before := read.Load()
		res := d.Do(env.DiskOp{Kind: env.DiskScan, Prefix: []byte("c/"), Limit: env.DiskScanLimitMax, KeysOnly: keysOnly})
		if res.Err != nil || len(res.Pairs) != values || res.More {
			t.Fatalf("scan (keysOnly=%v): %d pairs, more=%v, err %v", keysOnly, len(res.Pairs), res.More, res.Err)
		}
		return read.Load() - before
	}
	keysOnly, full := scanRead(true), scanRead(false)
	t.Logf("bytes read: keys-only scan %d, full scan %d", keysOnly, full)
	if full < values*valueBytes {
		t.Fatalf("a full scan read %d bytes, less than the %d value bytes: the counter misses reads", full, values*valueBytes)
	}
	if keysOnly > valueBytes/10 {
		t.Fatalf("a keys-only scan read %d bytes, want < %d: values are read", keysOnly, valueBytes/10)
	}
}

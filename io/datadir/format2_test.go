package datadir

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/storage"
	"github.com/ron-network/ron/io/pebbledisk"
)

// format1Objects are the objects of the format 1 store the tests build:
// empty, one chunk, and larger ones cut as format 1 allowed (any chunk
// size, here 100 KiB, which format 2 must re-cut into subtrees).
func format1Objects() [][]byte {
	r := rand.New(rand.NewPCG(15, 1))
	var out [][]byte
	for _, n := range []int{0, 1, 5000, 256 << 10, 300 << 10, 700<<10 + 3} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		out = append(out, b)
	}
	return out
}

// format1Store writes a format 1 data dir (record included) holding
// format1Objects, each pinned.
func format1Store(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	d, err := pebbledisk.Open(pebbledisk.Options{Dir: filepath.Join(dir, StoreName), ReserveBytes: -1, Legacy: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range format1Objects() {
		addr := proto.AddrOf(obj)
		m := storage.Manifest{Size: uint64(len(obj))}
		for off := 0; off < len(obj); off += 100 << 10 {
			part := obj[off:min(off+100<<10, len(obj))]
			key := proto.AddrOf(part)
			m.Chunks = append(m.Chunks, storage.ChunkRef{Addr: key, Size: uint32(len(part))})
			mustDo(t, d, env.DiskOp{Kind: env.DiskPut, Key: storage.DiskKey(storage.DiskPrefixChunk, key), Value: part})
		}
		mustDo(t, d, env.DiskOp{Kind: env.DiskPut, Key: storage.DiskKey(storage.DiskPrefixManifestV1, addr), Value: env.Seal(storage.AppendManifestV1(nil, &m))})
		mustDo(t, d, env.DiskOp{Kind: env.DiskPut, Key: storage.DiskKey(storage.DiskPrefixPin, addr), Value: []byte{1}})
	}
	mustDo(t, d, env.DiskOp{Kind: env.DiskSync})
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := Write(dir, Record{Format: 1, WrittenBy: "rond test"}, nil); err != nil {
		t.Fatal(err)
	}
	return dir
}

func mustDo(t *testing.T, d *pebbledisk.Disk, op env.DiskOp) env.DiskResult {
	t.Helper()
	res := d.Do(op)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	return res
}

// readObjects reads every object of dir the way its format's build does
// (format 2: manifests under s/n/, each chunk verified at its offset and
// the keys merged to the address; format 1: s/m/, chunks by their own
// hash) and fails on anything that does not verify.
func readObjects(t *testing.T, dir string) map[proto.Addr][]byte {
	t.Helper()
	format, _, err := Format(dir)
	if err != nil {
		t.Fatal(err)
	}
	d, err := pebbledisk.Open(pebbledisk.Options{Dir: filepath.Join(dir, StoreName), ReserveBytes: -1, Legacy: format < FormatSideFiles})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	prefix, decode := storage.DiskPrefixManifest, storage.DecodeManifest
	if format < 2 {
		prefix, decode = storage.DiskPrefixManifestV1, storage.DecodeManifestV1
	}
	out := map[proto.Addr][]byte{}
	err = forEach(d, prefix, func(kv env.KV) error {
		addr, _ := storage.AddrFromDiskKey(prefix, kv.Key)
		raw, err := env.Unseal(kv.Value)
		if err != nil {
			return err
		}
		m, err := decode(raw)
		if err != nil {
			return err
		}
		if format >= 2 {
			if err := storage.CheckManifest(addr, &m); err != nil {
				return err
			}
		}
		var obj []byte
		for i, c := range m.Chunks {
			res := d.Do(env.DiskOp{Kind: env.DiskGet, Key: storage.DiskKey(storage.DiskPrefixChunk, c.Addr)})
			ok := res.Found && (format >= 2 && storage.ChunkMatches(c.Addr, uint64(len(obj)), res.Value) || format < 2 && proto.AddrOf(res.Value) == c.Addr)
			if !ok {
				return fmt.Errorf("object %s chunk %d does not verify (format %d)", addr.Short(), i, format)
			}
			obj = append(obj, res.Value...)
		}
		if proto.AddrOf(obj) != addr {
			return fmt.Errorf("object %s does not hash to its address", addr.Short())
		}
		out[addr] = obj
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameObjects(t *testing.T, got map[proto.Addr][]byte, what string) {
	t.Helper()
	want := format1Objects()
	if len(got) != len(want) {
		t.Fatalf("%s: %d objects, want %d", what, len(got), len(want))
	}
	for _, obj := range want {
		if !bytes.Equal(got[proto.AddrOf(obj)], obj) {
			t.Fatalf("%s: object of %d bytes lost or changed", what, len(obj))
		}
	}
}

// TestMigration2UpAndDown: every object survives 1 -> 2 -> 1 -> 2, and
// through the side-files format (FormatSideFiles, after 2) 2 -> 3 -> 1 ->
// 3 -> 2, read and verified the way each format's build reads it (format
// 3 with side files, older ones Legacy), and the other format's manifests
// are gone after each commit. The chunks are 100 KiB, so format 3 holds
// them in segment files and its migrations move them.
func TestMigration2UpAndDown(t *testing.T) {
	dir := format1Store(t)
	sameObjects(t, readObjects(t, dir), "format 1")
	for _, to := range []uint32{2, 1, 2, FormatSideFiles, 1, FormatSideFiles, 2} {
		if _, err := Migrate(dir, to, MigrateOptions{Binary: "rond test"}); err != nil {
			t.Fatalf("to %d: %v", to, err)
		}
		sameObjects(t, readObjects(t, dir), fmt.Sprintf("after migrating to %d", to))
		_, err := os.Stat(filepath.Join(dir, StoreName, pebbledisk.SideDirName))
		if segments := err == nil; segments != (to >= FormatSideFiles) {
			t.Fatalf("to %d: segment directory present: %v", to, segments)
		}
		d, err := pebbledisk.Open(pebbledisk.Options{Dir: filepath.Join(dir, StoreName), ReserveBytes: -1, Legacy: to < FormatSideFiles})
		if err != nil {
			t.Fatal(err)
		}
		other := storage.DiskPrefixManifestV1
		if to == 1 {
			other = storage.DiskPrefixManifest
		}
		res := d.Do(env.DiskOp{Kind: env.DiskScan, Prefix: []byte(other), Limit: 1, KeysOnly: true})
		pins := d.Do(env.DiskOp{Kind: env.DiskScan, Prefix: []byte(storage.DiskPrefixPin), Limit: 100, KeysOnly: true})
		_ = d.Close()
		if len(res.Pairs) != 0 || len(pins.Pairs) != len(format1Objects()) {
			t.Fatalf("to %d: %d manifests of the other format left, %d pins", to, len(res.Pairs), len(pins.Pairs))
		}
	}
}

// TestMigration2StopsAtEveryStep: stopped before any step, up or down,
// the dir is the old format with every object readable by the old build,
// or the new one readable by the new build; a rerun finishes.
func TestMigration2StopsAtEveryStep(t *testing.T) {
	for _, dirn := range []struct{ from, to uint32 }{{1, 2}, {2, 1}} {
		var steps []string
		scratch := format1Store(t)
		if dirn.from == 2 {
			if _, err := Migrate(scratch, 2, MigrateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := Migrate(scratch, dirn.to, MigrateOptions{Step: func(s string) { steps = append(steps, s) }}); err != nil {
			t.Fatal(err)
		}
		if len(steps) < 6 {
			t.Fatalf("%d -> %d: steps %v", dirn.from, dirn.to, steps)
		}
		for _, stop := range steps {
			dir := format1Store(t)
			if dirn.from == 2 {
				if _, err := Migrate(dir, 2, MigrateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			func() {
				defer func() { _ = recover() }()
				_, _ = Migrate(dir, dirn.to, MigrateOptions{Step: func(name string) {
					if name == stop {
						panic("crash at " + name)
					}
				}})
				t.Fatalf("step %s never ran", stop)
			}()
			f, _, err := Check(dir, "rond test")
			if err != nil || (f != dirn.from && f != dirn.to) {
				t.Fatalf("stopped at %s: format %d err %v", stop, f, err)
			}
			sameObjects(t, readObjects(t, dir), fmt.Sprintf("%d -> %d stopped at %s (format %d)", dirn.from, dirn.to, stop, f))
			if _, err := Migrate(dir, dirn.to, MigrateOptions{}); err != nil {
				t.Fatalf("rerun after %s: %v", stop, err)
			}
			sameObjects(t, readObjects(t, dir), "rerun after "+stop)
		}
	}
}

// TestMigration2RefusesACorruptObject: a chunk that does not verify
// stops the migration naming the object, and nothing is committed.
func TestMigration2RefusesACorruptObject(t *testing.T) {
	dir := format1Store(t)
	d, err := pebbledisk.Open(pebbledisk.Options{Dir: filepath.Join(dir, StoreName), ReserveBytes: -1, Legacy: true})
	if err != nil {
		t.Fatal(err)
	}
	big := format1Objects()[5]
	key := proto.AddrOf(big[100<<10 : 200<<10])
	bad := bytes.Clone(big[100<<10 : 200<<10])
	bad[7] ^= 1
	mustDo(t, d, env.DiskOp{Kind: env.DiskPut, Key: storage.DiskKey(storage.DiskPrefixChunk, key), Value: bad})
	_ = d.Close()
	_, err = Migrate(dir, 2, MigrateOptions{})
	if !errors.Is(err, env.ErrCorruption) || !bytes.Contains([]byte(err.Error()), []byte(proto.AddrOf(big).String())) {
		t.Fatalf("migrating a corrupt object: %v", err)
	}
	if f, _, _ := Format(dir); f != 1 {
		t.Fatalf("format %d after a refused migration", f)
	}
}

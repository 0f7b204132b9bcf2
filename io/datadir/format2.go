package datadir

import (
	"bytes"
	"fmt"
	"path/filepath"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/storage"
	"github.com/ron-network/ron/io/pebbledisk"
)

// Migration 2 renames the store's chunks to format 2 (core/storage: a
// chunk is keyed by its BLAKE3 chaining value in the object's tree, and
// version 2 manifests live under storage.DiskPrefixManifest) and back.
//
// Up, beside the live format 1 data: it deletes format 2 manifests left by
// an interrupted run (a format 1 build may have deleted their objects
// since), then for every format 1 manifest reads the object's chunks,
// verifies each against its format 1 key, cuts the bytes into format 2
// chunks of storage.ChunkBytesDefault (hashing them once, as subtrees),
// checks they merge to the object address, and writes the new chunks and
// the version 2 manifest; then syncs. A format 1 build ignores all of it
// (its orphan sweep deletes the new chunks). The format record then
// commits; after it the format 1 manifests are deleted (a crash before
// that leaves them unread by format 2, and format 2's orphan sweep
// deletes the format 1 chunks nothing references).
//
// Down is the mirror: format 1 manifests are rebuilt from the version 2
// ones, each chunk re-keyed by the BLAKE3 of its own bytes, then the
// record commits and the version 2 manifests are deleted.
//
// Up needs free space for a second copy of every object's bytes until the
// old chunks are swept; the store's full-disk reserve applies, so a disk
// that fills stops the migration with the old format intact.
//
// An object whose chunks are missing or do not verify stops the migration
// with an error naming it and nothing committed; restore it (start the
// node on the old build so repair heals it from a replica, or delete it)
// and run the migration again.
//
// Formats 1 and 2 both keep every value inline in pebble (side files came
// with FormatSideFiles), so the store is opened with
// pebbledisk.Options.Legacy, under the lock Migrate holds.
var migration2 = Migration{
	To:   2,
	What: "rename chunks to their BLAKE3 chaining values and rewrite manifests as version 2 (verified ranges)",
	Up: func(dir string, rec Record, step Step) error {
		return rewriteStore(dir, rec, step, "up2", storage.DiskPrefixManifestV1, storage.DiskPrefixManifest, upgradeObject)
	},
	Down: func(dir string, rec Record, step Step) error {
		return rewriteStore(dir, rec, step, "down2", storage.DiskPrefixManifest, storage.DiskPrefixManifestV1, downgradeObject)
	},
}

// pageKeys bounds one scan of the migration.
const pageKeys = 256

// rewriteStore builds the manifests under to from those under from with
// convert, syncs, commits rec and deletes the manifests under from. A dir
// without a store only gets rec; the store is opened with MustExist, so
// that it is never created here.
func rewriteStore(dir string, rec Record, step Step, name, from, to string,
	convert func(d *pebbledisk.Disk, addr proto.Addr, sealed []byte) error) error {
	step = orKill(step)
	exists, err := storeExists(dir)
	if err != nil {
		return err
	}
	if !exists {
		return writeSteps(dir, rec, name, step) // no store: nothing to rewrite
	}
	store := filepath.Join(dir, StoreName)
	d, err := pebbledisk.Open(pebbledisk.Options{Dir: store, Legacy: true, Lock: storeLock(store), MustExist: true})
	if err != nil {
		return fmt.Errorf("datadir: opening the store: %w", err)
	}
	defer d.Close()
	step(name + ":clear")
	if err := deletePrefix(d, to); err != nil {
		return err
	}
	step(name + ":build")
	err = forEach(d, from, func(kv env.KV) error {
		addr, ok := storage.AddrFromDiskKey(from, kv.Key)
		if !ok {
			return fmt.Errorf("datadir: malformed manifest key %q", kv.Key)
		}
		return convert(d, addr, kv.Value)
	})
	if err != nil {
		return err
	}
	step(name + ":sync")
	if err := do(d, env.DiskOp{Kind: env.DiskSync}); err != nil {
		return err
	}
	if err := writeSteps(dir, rec, name, step); err != nil {
		return err
	}
	step(name + ":cleanup")
	if err := deletePrefix(d, from); err != nil {
		return err
	}
	return do(d, env.DiskOp{Kind: env.DiskSync})
}

// upgradeObject writes the format 2 chunks and manifest of one object.
func upgradeObject(d *pebbledisk.Disk, addr proto.Addr, sealed []byte) error {
	m, err := openManifest(sealed, addr, storage.DecodeManifestV1)
	if err != nil {
		return err
	}
	rc := storage.NewRechunker(addr, m.Size, func(key proto.Addr, chunk []byte) error {
		return do(d, env.DiskOp{Kind: env.DiskPut, Key: storage.DiskKey(storage.DiskPrefixChunk, key), Value: chunk})
	})
	for i, c := range m.Chunks {
		data, err := readChunk(d, addr, i, c)
		if err != nil {
			return err
		}
		if proto.AddrOf(data) != c.Addr {
			return fmt.Errorf("datadir: object %s: chunk %d (%s) does not hash to its key: %w", addr, i, c.Addr.Short(), env.ErrCorruption)
		}
		if err := rc.Write(data); err != nil {
			return err
		}
	}
	man, err := rc.Finish()
	if err != nil {
		return fmt.Errorf("datadir: object %s: %w", addr, err)
	}
	return do(d, env.DiskOp{Kind: env.DiskPut, Key: storage.DiskKey(storage.DiskPrefixManifest, addr), Value: env.Seal(storage.AppendManifest(nil, &man))})
}

// downgradeObject writes the format 1 chunks and manifest of one object:
// the same cuts, each keyed by the BLAKE3 of its bytes.
func downgradeObject(d *pebbledisk.Disk, addr proto.Addr, sealed []byte) error {
	m, err := openManifest(sealed, addr, storage.DecodeManifest)
	if err == nil {
		err = storage.CheckManifest(addr, &m) // the keys merge to the address
	}
	if err != nil {
		return err
	}
	old := storage.Manifest{Size: m.Size, Chunks: make([]storage.ChunkRef, len(m.Chunks))}
	var off uint64
	for i, c := range m.Chunks {
		data, err := readChunk(d, addr, i, c)
		if err != nil {
			return err
		}
		if !storage.ChunkMatches(c.Addr, off, data) {
			return fmt.Errorf("datadir: object %s: chunk %d (%s) does not hash to its key: %w", addr, i, c.Addr.Short(), env.ErrCorruption)
		}
		key := proto.AddrOf(data)
		old.Chunks[i] = storage.ChunkRef{Addr: key, Size: c.Size}
		if err := do(d, env.DiskOp{Kind: env.DiskPut, Key: storage.DiskKey(storage.DiskPrefixChunk, key), Value: data}); err != nil {
			return err
		}
		off += uint64(c.Size)
	}
	if len(old.Chunks) == 1 && old.Chunks[0].Addr != addr {
		return fmt.Errorf("datadir: object %s does not hash to its address: %w", addr, env.ErrCorruption)
	}
	return do(d, env.DiskOp{Kind: env.DiskPut, Key: storage.DiskKey(storage.DiskPrefixManifestV1, addr), Value: env.Seal(storage.AppendManifestV1(nil, &old))})
}

func openManifest(sealed []byte, addr proto.Addr, decode func([]byte) (storage.Manifest, error)) (storage.Manifest, error) {
	raw, err := env.Unseal(sealed)
	if err != nil {
		return storage.Manifest{}, fmt.Errorf("datadir: manifest of %s: %w", addr, err)
	}
	m, err := decode(raw)
	if err != nil {
		return storage.Manifest{}, fmt.Errorf("datadir: manifest of %s: %w", addr, err)
	}
	return m, nil
}

func readChunk(d *pebbledisk.Disk, addr proto.Addr, i int, c storage.ChunkRef) ([]byte, error) {
	res := d.Do(env.DiskOp{Kind: env.DiskGet, Key: storage.DiskKey(storage.DiskPrefixChunk, c.Addr)})
	switch {
	case res.Err != nil:
		return nil, fmt.Errorf("datadir: object %s: reading chunk %d (%s): %w", addr, i, c.Addr.Short(), res.Err)
	case !res.Found:
		return nil, fmt.Errorf("datadir: object %s: chunk %d (%s) is missing", addr, i, c.Addr.Short())
	case len(res.Value) != int(c.Size):
		return nil, fmt.Errorf("datadir: object %s: chunk %d (%s) holds %d bytes, want %d: %w", addr, i, c.Addr.Short(), len(res.Value), c.Size, env.ErrCorruption)
	}
	return res.Value, nil
}

// forEach calls fn for every pair under prefix, in key order, a page at
// a time.
func forEach(d *pebbledisk.Disk, prefix string, fn func(env.KV) error) error {
	var start []byte
	for {
		res := d.Do(env.DiskOp{Kind: env.DiskScan, Prefix: []byte(prefix), Start: start, Limit: pageKeys})
		if res.Err != nil {
			return fmt.Errorf("datadir: scanning %s: %w", prefix, res.Err)
		}
		for _, kv := range res.Pairs {
			if err := fn(kv); err != nil {
				return err
			}
		}
		if !res.More || len(res.Pairs) == 0 {
			return nil
		}
		start = append(bytes.Clone(res.Pairs[len(res.Pairs)-1].Key), 0)
	}
}

// deletePrefix deletes every key under prefix.
func deletePrefix(d *pebbledisk.Disk, prefix string) error {
	for {
		res := d.Do(env.DiskOp{Kind: env.DiskScan, Prefix: []byte(prefix), Limit: pageKeys, KeysOnly: true})
		if res.Err != nil {
			return fmt.Errorf("datadir: scanning %s: %w", prefix, res.Err)
		}
		if len(res.Pairs) == 0 {
			return nil
		}
		batch := make([]env.DiskWrite, len(res.Pairs))
		for i, kv := range res.Pairs {
			batch[i] = env.DiskWrite{Key: kv.Key, Delete: true}
		}
		if err := do(d, env.DiskOp{Kind: env.DiskBatch, Batch: batch}); err != nil {
			return err
		}
	}
}

func do(d *pebbledisk.Disk, op env.DiskOp) error {
	if res := d.Do(op); res.Err != nil {
		return fmt.Errorf("datadir: %s: %w", op.Kind, res.Err)
	}
	return nil
}

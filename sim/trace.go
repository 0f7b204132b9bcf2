package sim

import (
	"encoding/binary"
	"encoding/hex"
	"io"
	"math/bits"
	"strconv"

	"github.com/ron-network/ron/core/env"
	"lukechampine.com/blake3"
)

// EventDigest identifies one processed event: its position, virtual time,
// node, kind and a 64-bit hash of its contents.
type EventDigest struct {
	Index uint64 // 0-based position among processed events
	At    int64  // virtual nanoseconds
	Node  int32  // -1 for world callbacks and world-wide faults
	Kind  EventKind
	Hash  uint64
}

func (d EventDigest) String() string {
	return "#" + strconv.FormatUint(d.Index, 10) + " t=" + strconv.FormatInt(d.At, 10) +
		"ns node=" + strconv.Itoa(int(d.Node)) + " " + d.Kind.String() + " h=" + strconv.FormatUint(d.Hash, 16)
}

// FirstDivergence returns the first position at which two digest lists
// differ. When one list is a prefix of the other, index is the shorter
// length and the missing side is the zero EventDigest. ok is false when the
// lists are identical.
func FirstDivergence(a, b []EventDigest) (index int, da, db EventDigest, ok bool) {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i, a[i], b[i], true
		}
	}
	if len(a) == len(b) {
		return 0, EventDigest{}, EventDigest{}, false
	}
	if len(a) > n {
		da = a[n]
	} else {
		db = b[n]
	}
	return n, da, db, true
}

// traceRecordBytes is one event's record in the BLAKE3 stream:
// time u64 | node u32 | kind u8 | content hash u64.
const traceRecordBytes = 21

// traceFlushBytes batches records before they are fed to BLAKE3.
const traceFlushBytes = 4096

// tracer folds every processed event into the trace hash, and optionally
// into the digest list and the JSON-lines trace.
type tracer struct {
	hasher  *blake3.Hasher
	buf     []byte
	digests []EventDigest
	keep    bool
	out     io.Writer
	line    []byte
	err     error // first write error of out; tracing stops there
}

func (t *tracer) init(out io.Writer, keepDigests bool) {
	t.hasher = blake3.New(32, nil)
	t.buf = make([]byte, 0, traceFlushBytes+traceRecordBytes)
	t.keep = keepDigests
	t.out = out
}

// record adds one event; w.events has already counted it.
func (t *tracer) record(w *World, kind EventKind, node int32, h uint64) {
	at := int64(w.now)
	var rec [traceRecordBytes]byte
	binary.LittleEndian.PutUint64(rec[0:], uint64(at))
	binary.LittleEndian.PutUint32(rec[8:], uint32(node))
	rec[12] = byte(kind)
	binary.LittleEndian.PutUint64(rec[13:], h)
	t.buf = append(t.buf, rec[:]...)
	if len(t.buf) >= traceFlushBytes {
		t.flush()
	}
	if t.keep || t.out != nil {
		d := EventDigest{Index: w.events - 1, At: at, Node: node, Kind: kind, Hash: h}
		if t.keep {
			t.digests = append(t.digests, d)
		}
		if t.out != nil && t.err == nil {
			t.writeLine(d)
		}
	}
}

// traceHashChunkBytes is BLAKE3's chunk size. Writes of at most one chunk
// take the hasher's serial path; a longer write makes lukechampine's hasher
// start a goroutine per subtree and allocate a 16 KiB buffer, which cost
// more than the hashing at one flush per 200 events. The hash is the same
// however the stream is split.
const traceHashChunkBytes = 1024

// flush feeds the batched records to the hasher one chunk at a time.
func (t *tracer) flush() {
	for b := t.buf; len(b) > 0; {
		n := min(len(b), traceHashChunkBytes)
		t.hasher.Write(b[:n])
		b = b[n:]
	}
	t.buf = t.buf[:0]
}

// writeLine writes {"i":..,"t":ns,"node":i,"kind":"msg","h":"<hex>"}. The
// event's contents appear only as their 64-bit hash (h): frames are not
// written out in full, which keeps traces of long runs small.
func (t *tracer) writeLine(d EventDigest) {
	b := t.line[:0]
	b = append(b, `{"i":`...)
	b = strconv.AppendUint(b, d.Index, 10)
	b = append(b, `,"t":`...)
	b = strconv.AppendInt(b, d.At, 10)
	b = append(b, `,"node":`...)
	b = strconv.AppendInt(b, int64(d.Node), 10)
	b = append(b, `,"kind":"`...)
	b = append(b, d.Kind.String()...)
	b = append(b, `","h":"`...)
	b = strconv.AppendUint(b, d.Hash, 16)
	b = append(b, "\"}\n"...)
	t.line = b
	if _, err := t.out.Write(b); err != nil {
		t.err = err
	}
}

// TraceHash is the hex BLAKE3-256 over every event processed so far (see
// the package comment for what each event contributes).
func (w *World) TraceHash() string {
	t := &w.tracer
	t.flush()
	return hex.EncodeToString(t.hasher.Sum(nil))
}

// Digests returns the per-event digests (Config.RecordDigests), in order.
func (w *World) Digests() []EventDigest { return w.tracer.digests }

// TraceErr is the first error writing Config.Trace, if any.
func (w *World) TraceErr() error { return w.tracer.err }

// The content hash. Each event's contents are hashed into 64 bits with a
// multiply-fold mix (in the spirit of wyhash): fast enough to run on every
// frame, deterministic across processes and platforms, and not meant to
// resist an adversary, only to make accidental collisions negligible.
const (
	hashKey0 = 0xa0761d6478bd642f
	hashKey1 = 0xe7037ed1a0b428db
	hashKey2 = 0x8ebc6af09c88c6e3
)

// mix folds v into h.
func mix(h, v uint64) uint64 {
	hi, lo := bits.Mul64(h^hashKey0, v^hashKey1)
	return hi ^ lo
}

// hashBytes folds b (and its length) into h.
func hashBytes(h uint64, b []byte) uint64 {
	h = mix(h, uint64(len(b))^hashKey2)
	for len(b) >= 16 {
		h = mix(h^binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:]))
		b = b[16:]
	}
	if len(b) >= 8 {
		h = mix(h, binary.LittleEndian.Uint64(b))
		b = b[8:]
	}
	if len(b) > 0 {
		var tail [8]byte
		copy(tail[:], b)
		h = mix(h, binary.LittleEndian.Uint64(tail[:]))
	}
	return h
}

func hashString(h uint64, s string) uint64 {
	h = mix(h, uint64(len(s))^hashKey2)
	for len(s) >= 8 {
		h = mix(h, uint64(s[0])|uint64(s[1])<<8|uint64(s[2])<<16|uint64(s[3])<<24|
			uint64(s[4])<<32|uint64(s[5])<<40|uint64(s[6])<<48|uint64(s[7])<<56)
		s = s[8:]
	}
	var tail uint64
	for i := 0; i < len(s); i++ {
		tail |= uint64(s[i]) << (8 * i)
	}
	return mix(h, tail)
}

// hashDiskDone covers the op (kind, tag, key, value, batch, prefix, start,
// limit) and its result (found, value, pairs, more, error text).
func hashDiskDone(d *env.DiskDone) uint64 {
	op := &d.Op
	h := mix(uint64(d.ID), uint64(op.Kind))
	h = mix(h, op.Tag)
	h = hashBytes(h, op.Key)
	h = hashBytes(h, op.Value)
	for i := range op.Batch {
		h = hashBytes(h, op.Batch[i].Key)
		h = hashBytes(h, op.Batch[i].Value)
		if op.Batch[i].Delete {
			h = mix(h, 1)
		}
	}
	h = hashBytes(h, op.Prefix)
	h = hashBytes(h, op.Start)
	h = mix(h, uint64(op.Limit))
	r := &d.Result
	flags := uint64(0)
	if r.Found {
		flags |= 1
	}
	if r.More {
		flags |= 2
	}
	h = mix(h, flags)
	h = hashBytes(h, r.Value)
	for i := range r.Pairs {
		h = hashBytes(h, r.Pairs[i].Key)
		h = hashBytes(h, r.Pairs[i].Value)
	}
	if r.Err != nil {
		h = hashString(h, r.Err.Error())
	}
	return h
}

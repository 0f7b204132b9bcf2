package storage

import (
	"fmt"
	"slices"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// Streaming limits (see "Streaming uploads" in the package doc).
const (
	// SessionsMax bounds the upload sessions open on this node. The edge
	// (core/admission's session table) holds the same number in all and
	// fewer per tenant, so a client meets a typed, counted refusal there
	// and this limit is the backstop. A session costs the gateway at most
	// two StreamChunkBytes pieces in memory (512 KiB) and storage a few
	// hundred bytes plus its staged chunks on disk.
	SessionsMax = 64
	// StreamObjectBytesMax bounds one streamed object: ManifestChunksMax
	// chunks of ChunkBytesDefault (4 GiB). A whole Put stays bounded by
	// ObjectBytesMax because it holds the object in memory.
	StreamObjectBytesMax = ManifestChunksMax * ChunkBytesDefault
	// SessionChunksMax bounds the chunks one session stages; with chunks of
	// at most ChunkBytesMax it also bounds a session's staged bytes (see
	// SessionBytesMax).
	SessionChunksMax = ManifestChunksMax
	// SessionBytesMax bounds the bytes one session stages on disk.
	SessionBytesMax = StreamObjectBytesMax
	// SessionTTLDefault is Config.SessionTTL when zero: a session that
	// received nothing for this long is abandoned and collected.
	SessionTTLDefault = time.Minute
	// SessionWriteBytesMax bounds the chunk bytes one session has being
	// written: a PutChunk is answered once its chunk is hashed and its
	// write queued, unless the session's writes in flight exceed this,
	// in which case the answer waits for them to drain below it. The
	// writes of a session thus overlap its hashing and the client's next
	// chunk, and the disk groups them under one sync (see "Streaming
	// uploads" in doc.go); the bound keeps the bytes queued per session,
	// like the gateway's pieces, to a few MiB.
	SessionWriteBytesMax = 4 << 20
	// commitTimePerChunk extends a commit's deadline beyond PutTimeout:
	// a commit pushes every chunk to the other placement nodes, so its
	// time grows with the object.
	commitTimePerChunk = 50 * time.Millisecond
)

// Streaming requests (env.Request.Body; pointers are accepted too).
type (
	// PutBegin opens an upload session; Pin keeps a local copy at commit.
	PutBegin struct{ Pin bool }
	// PutChunk stages one chunk (1..ChunkBytesMax bytes) at the end of
	// the session's object. The machine takes ownership of Data.
	PutChunk struct {
		Session uint64
		Data    []byte
	}
	// PutCommit makes the staged chunks the object Addr of Size bytes and
	// replicates it. Addr is the client's claim: the machine cannot hash
	// the whole object without holding it, so the caller (the gateway,
	// which hashes the stream incrementally) vouches for it. Replies with
	// a PutResult.
	PutCommit struct {
		Session uint64
		Addr    proto.Addr
		Size    uint64
	}
	// PutAbort drops a session and the chunks only it referenced.
	PutAbort struct{ Session uint64 }
	// GetManifest returns the manifest of Addr (local, else from a
	// replica or provider). Replies with a ManifestResult.
	GetManifest struct{ Addr proto.Addr }
	// GetChunk reads one chunk of object Addr, at object offset Offset,
	// verified against Chunk.Addr (a chunk key is bound to its offset).
	// Replies with a GetResult whose Size is Chunk.Size. The key binds the
	// chunk's length too: bytes that match it but are not Chunk.Size long
	// fail the request with ErrBadRequest (the claim is wrong, the chunk
	// healthy: nothing counted as corruption).
	//
	// Into, when set, is lent to the local disk read (env.DiskOp.Into):
	// the reply's Data may share its array. The caller may reuse it once a
	// reply without error arrived (the read completed then); after an
	// error or without a reply the read may still be writing into it.
	GetChunk struct {
		Addr   proto.Addr
		Chunk  ChunkRef
		Offset uint64
		Into   []byte
	}
	// GetChunks reads consecutive chunks of object Addr, the first at
	// object offset Offset, each verified against its key at its offset
	// as GetChunk does; at most GetChunksMax of them. Their reads are
	// submitted in one step and the reply comes once all are verified: a
	// GetResult with Parts (one whole chunk each, in order) and Size their
	// total, or Data for a single chunk. A streamed GET asks for a window
	// of chunks in one call instead of one call per chunk. A run that
	// cannot be consecutive chunks at Offset (checkRun; GetChunk's chunk
	// likewise) is refused with ErrBadRequest before any read.
	//
	// Into[i], when set, is lent to chunk i's local read, as GetChunk.Into.
	GetChunks struct {
		Addr   proto.Addr
		Chunks []ChunkRef
		Offset uint64
		Into   [][]byte
	}
)

// Streaming replies.
type (
	PutBeginResult struct {
		Session uint64
		Err     error
	}
	// PutChunkResult: Chunk is the staged chunk's reference; Addr and
	// Size are the address and size of the object if this chunk is its
	// last, from the chunks' chaining values (so a client learns the
	// address of what it streamed without hashing it again).
	PutChunkResult struct {
		Chunk ChunkRef
		Addr  proto.Addr
		Size  uint64
		Err   error
	}
	PutAbortResult struct{ Err error }
	// ManifestResult: Manifest passed DecodeManifest and checkFor(Addr).
	ManifestResult struct {
		Manifest Manifest
		Err      error
	}
)

// session is one streamed upload. Its chunks are written to the local disk
// as they arrive and counted in index.sessionRefs, which keeps them from
// being pruned or deleted until the session ends: at commit the refs move
// to the put, which releases them when it finishes.
type session struct {
	id     uint64
	pin    bool
	chunks []ChunkRef // keyed by chaining value, in order
	// root is the first chunk's root hash: the object address if the
	// session commits one chunk.
	root proto.Addr
	// first holds the first chunk's bytes, not yet written, while it is
	// the only one: its key is known only when a second chunk follows
	// (its chaining value; it is written then) or the commit comes (the
	// object address: the commit stores it as a whole put). Nil once
	// written.
	first []byte
	// firstCVs are the first chunk's group CVs while first is held.
	firstCVs []proto.CV
	// refs are the keys this session holds in index.sessionRefs: the
	// chunks it wrote.
	refs []ChunkRef
	// tree merges the chunks' chaining values: the address so far.
	tree         proto.TreeBuilder
	size         uint64
	writing      int         // chunk writes in flight
	writingBytes int         // their bytes (SessionWriteBytesMax)
	held         []heldReply // PutChunk answers waiting for writingBytes to drain
	commit       *heldCommit // a commit waiting for the writes in flight
	failed       error       // sticky: a chunk write failed
	touched      env.Time    // last request of the session
}

// heldReply is a PutChunk answer held back while the session's writes
// exceed SessionWriteBytesMax.
type heldReply struct {
	req    env.RequestID
	result PutChunkResult
}

// heldCommit is a PutCommit that arrived while chunk writes were in
// flight; it runs when the last one completes.
type heldCommit struct {
	req  env.RequestID
	body PutCommit
}

func (s *Storage) sessionTTL() time.Duration { return s.cfg.SessionTTL }

func (s *Storage) onPutBegin(req env.RequestID, body PutBegin) {
	switch {
	case !s.ready:
		s.reject(ReasonRecovering)
		s.env.Reply(req, PutBeginResult{Err: fmt.Errorf("%w: recovering", ErrUnavailable)})
		return
	case len(s.sessions) >= SessionsMax:
		s.gcSessions()
		if len(s.sessions) >= SessionsMax {
			s.reject(ReasonOverload)
			s.env.Reply(req, PutBeginResult{Err: fmt.Errorf("%w: %d upload sessions open", ErrBusy, SessionsMax)})
			return
		}
	}
	// A random id, not a counter: ids from before a restart must not name
	// a new session.
	id := s.env.Rand().Uint64()
	for id == 0 || s.sessions[id] != nil {
		id = s.env.Rand().Uint64()
	}
	s.sessions[id] = &session{id: id, pin: body.Pin, touched: s.env.Now()}
	s.env.Reply(req, PutBeginResult{Session: id})
}

// lookupSession finds an open session; the error is the reply's.
func (s *Storage) lookupSession(id uint64) (*session, error) {
	if !s.ready {
		s.reject(ReasonRecovering)
		return nil, fmt.Errorf("%w: recovering", ErrUnavailable)
	}
	ss := s.sessions[id]
	if ss == nil {
		s.reject(ReasonBadRequest)
		return nil, fmt.Errorf("%w: no upload session %d (ended, expired or lost to a restart)", ErrBadRequest, id)
	}
	ss.touched = s.env.Now()
	return ss, nil
}

func (s *Storage) onPutChunk(req env.RequestID, body PutChunk) {
	ss, err := s.lookupSession(body.Session)
	switch {
	case err != nil:
	case len(body.Data) == 0 || len(body.Data) > ChunkBytesMax:
		err = fmt.Errorf("%w: chunk of %d bytes outside 1..%d", ErrBadRequest, len(body.Data), ChunkBytesMax)
	case len(ss.chunks) >= SessionChunksMax || ss.size+uint64(len(body.Data)) > SessionBytesMax:
		s.reject(ReasonTooLarge)
		err = fmt.Errorf("%w: session exceeds %d chunks or %d bytes", ErrTooLarge, SessionChunksMax, SessionBytesMax)
	case ss.failed != nil:
		err = ss.failed
	case ss.commit != nil:
		s.reject(ReasonBadRequest)
		err = fmt.Errorf("%w: chunk after the session's commit", ErrBadRequest)
	case len(s.jobs) >= DiskJobsMax:
		s.reject(ReasonOverload)
		err = fmt.Errorf("%w: disk queue full", ErrBusy)
	}
	if err != nil {
		s.env.Reply(req, PutChunkResult{Err: err})
		return
	}
	off := ss.size
	if n := len(ss.chunks); n > 0 && !proto.IsFullSubtree(off-uint64(ss.chunks[n-1].Size), uint64(ss.chunks[n-1].Size)) {
		s.reject(ReasonBadRequest)
		s.env.Reply(req, PutChunkResult{Err: fmt.Errorf("%w: chunk %d follows a chunk of %d bytes: every chunk but the last must be a power of two of at least %d bytes at a multiple of its size",
			ErrBadRequest, n, ss.chunks[n-1].Size, proto.TreeChunkBytes)})
		return
	}
	if !proto.IsSubtree(off, uint64(len(body.Data))) {
		s.reject(ReasonBadRequest)
		s.env.Reply(req, PutChunkResult{Err: fmt.Errorf("%w: a chunk of %d bytes at offset %d is not a BLAKE3 subtree", ErrBadRequest, len(body.Data), off)})
		return
	}
	// One pass: the chunk's chaining value names it, and for the first
	// chunk the root is the address of a one-chunk object. It is hashed
	// as its groups, whose CVs are cached: they merge to the key by
	// construction, so a range get of the new object reads and checks only
	// the groups it touches from the first (see "Granularity" in doc.go).
	// They are cached when the chunk is staged under its final key
	// (stageChunk; the commit of a one-chunk session), not before: the
	// first chunk's key is not known yet.
	cvs, cv, root := chunkHash(body.Data, off)
	ref := ChunkRef{Addr: proto.Addr(cv), Size: uint32(len(body.Data))}
	ss.chunks = append(ss.chunks, ref)
	ss.size += uint64(ref.Size)
	if err := ss.tree.Push(proto.TreePart{CV: cv, Size: uint64(ref.Size)}); err != nil {
		panic("storage: a chunk checked as a subtree does not extend the tree: " + err.Error())
	}
	if off == 0 {
		ss.root, ss.first, ss.firstCVs = root, body.Data, cvs
	}
	addr, err := ss.addr()
	if err != nil {
		panic("storage: the session's tree has no root: " + err.Error())
	}
	result := PutChunkResult{Chunk: ref, Addr: addr, Size: ss.size}
	if off == 0 {
		s.env.Reply(req, result) // the first chunk waits for its key (see session.first)
		return
	}
	var ops []env.DiskOp
	n := 0
	if ss.first != nil {
		ops, n = s.stageChunk(ss, ss.chunks[0], 0, ss.first, ss.firstCVs, ops, n)
		ss.first, ss.firstCVs = nil, nil
	}
	ops, n = s.stageChunk(ss, ref, off, body.Data, cvs, ops, n)
	if len(ops) > 0 {
		ss.writing++
		ss.writingBytes += n
		written := len(ops)
		submitted := s.submitJob(ops, func(res []env.DiskResult) {
			ss.writing--
			ss.writingBytes -= n
			if err := firstErr(res); err != nil && ss.failed == nil {
				ss.failed = fmt.Errorf("%w: writing chunk %s: %w", ErrUnavailable, ref.Addr.Short(), err)
			} else if err == nil {
				s.stats.ChunksWritten += uint64(written)
			}
			s.sessionWritten(ss)
		})
		if !submitted {
			panic("storage: a disk job refused after its bound was checked")
		}
	}
	if len(ss.held) > 0 || ss.writingBytes > SessionWriteBytesMax {
		ss.held = append(ss.held, heldReply{req: req, result: result})
		return
	}
	s.env.Reply(req, result)
}

// stageChunk appends the write of one session chunk to ops (none when
// the key is already held: by another object, a staged push, or an
// earlier write ahead in the FIFO disk; a held copy marked damaged at
// off is healed with data instead) and takes the session's
// reference on it; n counts the bytes written. The chunk's group CVs
// (cvs, nil for a chunk of one group), derived from data as it was
// hashed, are cached under its key at its object offset off.
func (s *Storage) stageChunk(ss *session, ref ChunkRef, off uint64, data []byte, cvs []proto.CV, ops []env.DiskOp, n int) ([]env.DiskOp, int) {
	if cvs != nil {
		s.groups.put(ref.Addr, off, uint64(len(data)), cvs)
	}
	if !s.index.hasChunk(ref.Addr) {
		ops = append(ops, env.DiskOp{Kind: env.DiskPut, Key: diskKey(prefixChunk, ref.Addr), Value: data})
		n += len(data)
	} else if s.damagedAt(ref.Addr, off) {
		// Held, but its copy failed its check at this offset: the bytes
		// were hashed here (they are the chunk), so they heal it. The
		// commit waits for the heal like for a write; a heal that fails
		// fails the session at once. One not queued leaves the mark (the
		// commit then fails on it, and a repair tick heals it from a
		// replica): it is queued only while a disk job slot stays free
		// for the PutChunk's own write, whose refusal onPutChunk's bound
		// rules out (a PutChunk may stage two chunks: the held first one
		// and the current one).
		if len(s.jobs) < DiskJobsMax-1 {
			ss.writing++
			if !s.healWith(ref.Addr, data, HealSession, func(err error) {
				ss.writing--
				if err != nil && ss.failed == nil {
					ss.failed = fmt.Errorf("%w: healing chunk %s: %w", ErrUnavailable, ref.Addr.Short(), err)
				}
				s.sessionWritten(ss)
			}) {
				ss.writing--
			}
		}
	}
	r := s.index.sessionRefs[ref.Addr]
	if r.refs == 0 {
		r.off = off // a key binds its offset: any session holding it hashed it there
	}
	r.refs++
	s.index.sessionRefs[ref.Addr] = r
	ss.refs = append(ss.refs, ref)
	return ops, n
}

// sessionWritten runs after one of the session's chunk writes completed:
// it releases the answers held for the window (with the failure, if a
// write failed) and runs a commit that waited for the writes.
func (s *Storage) sessionWritten(ss *session) {
	for len(ss.held) > 0 && (ss.failed != nil || ss.writingBytes <= SessionWriteBytesMax) {
		h := ss.held[0]
		ss.held = ss.held[1:]
		if ss.failed != nil {
			h.result = PutChunkResult{Err: ss.failed}
		}
		s.env.Reply(h.req, h.result)
	}
	if ss.writing == 0 && ss.commit != nil && s.sessions[ss.id] == ss {
		c := ss.commit
		ss.commit = nil
		s.commitSession(ss, c.req, c.body)
	}
}

// onPutCommit checks the claim against the staged chunks and starts a put
// whose bytes are read back from the local disk. A commit that arrives
// while chunk writes are in flight waits for them.
func (s *Storage) onPutCommit(req env.RequestID, body PutCommit) {
	ss, err := s.lookupSession(body.Session)
	if err == nil && ss.commit != nil {
		s.reject(ReasonBadRequest)
		err = fmt.Errorf("%w: the session's commit is already waiting for its writes", ErrBadRequest)
	}
	if err != nil {
		s.env.Reply(req, PutResult{Err: err})
		return
	}
	if ss.writing > 0 && ss.failed == nil {
		ss.commit = &heldCommit{req: req, body: body}
		return
	}
	s.commitSession(ss, req, body)
}

// commitSession checks a commit once no chunk write is in flight (or one
// failed) and starts its put. A session whose one chunk was never written
// commits as a whole put of that chunk's bytes.
func (s *Storage) commitSession(ss *session, req env.RequestID, body PutCommit) {
	err := s.checkCommit(ss, body)
	if err == nil && s.activePuts() >= InflightPutsMax {
		s.reject(ReasonOverload)
		err = fmt.Errorf("%w: %d puts in flight", ErrBusy, InflightPutsMax)
	}
	if err != nil {
		s.env.Reply(req, PutResult{Err: err})
		return
	}
	delete(s.sessions, ss.id)
	man := ss.manifest()
	if ss.first != nil {
		data := ss.first
		if ss.firstCVs != nil {
			// Its key is the object address (the manifest's one chunk).
			s.groups.put(man.Chunks[0].Addr, 0, uint64(len(data)), ss.firstCVs)
		}
		ss.first, ss.firstCVs = nil, nil
		s.startPut(req, body.Addr, man, data, ss.pin, nil, 0)
		return
	}
	extra := time.Duration(len(man.Chunks)) * commitTimePerChunk
	s.startPut(req, body.Addr, man, nil, ss.pin, ss.refs, extra)
}

// manifest is the session's object: its chunks by chaining value, or its
// one chunk by the root (the object address).
func (ss *session) manifest() Manifest {
	man := Manifest{Size: ss.size, Chunks: ss.chunks}
	if len(ss.chunks) == 1 {
		man.Chunks = []ChunkRef{{Addr: ss.root, Size: ss.chunks[0].Size}}
	}
	return man
}

// Addr is the address of the object the session staged so far, from the
// chunks' chaining values (no byte is read or hashed again).
func (ss *session) addr() (proto.Addr, error) {
	switch len(ss.chunks) {
	case 0:
		return emptyAddr, nil
	case 1:
		return ss.root, nil
	}
	return ss.tree.Root()
}

// checkCommit verifies the claim: every write finished and succeeded,
// the size matches, and the chunks' chaining values merge to the claimed
// address (the machine hashed every byte once, at PutChunk).
func (s *Storage) checkCommit(ss *session, body PutCommit) error {
	switch {
	case ss.failed != nil:
		return ss.failed
	case ss.writing > 0:
		s.reject(ReasonBadRequest)
		return fmt.Errorf("%w: commit while %d chunks are being written", ErrBadRequest, ss.writing)
	case body.Size != ss.size:
		s.reject(ReasonBadRequest)
		return fmt.Errorf("%w: commit claims %d bytes, session staged %d", ErrBadRequest, body.Size, ss.size)
	case len(ss.chunks) > ManifestChunksMax:
		s.reject(ReasonTooLarge)
		return fmt.Errorf("%w: %d chunks exceed %d", ErrTooLarge, len(ss.chunks), ManifestChunksMax)
	}
	got, err := ss.addr()
	if err != nil {
		s.reject(ReasonBadRequest)
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if got != body.Addr {
		s.reject(ReasonBadRequest)
		return fmt.Errorf("%w: commit claims %s, the staged chunks hash to %s", ErrBadRequest, body.Addr.Short(), got.Short())
	}
	for _, c := range ss.chunks {
		if ss.first == nil && !s.index.hasChunk(c.Addr) {
			panic("storage: a session chunk is not held although the session references it")
		}
	}
	return nil
}

func (s *Storage) onPutAbort(req env.RequestID, body PutAbort) {
	ss, err := s.lookupSession(body.Session)
	if err == nil {
		s.endSession(ss)
	}
	s.env.Reply(req, PutAbortResult{Err: err})
}

// endSession forgets an uncommitted session and deletes its chunks;
// answers it still held are answered with an error.
func (s *Storage) endSession(ss *session) {
	delete(s.sessions, ss.id)
	ss.first, ss.firstCVs = nil, nil
	ended := fmt.Errorf("%w: upload session %d ended", ErrBadRequest, ss.id)
	for _, h := range ss.held {
		s.env.Reply(h.req, PutChunkResult{Err: ended})
	}
	ss.held = nil
	if ss.commit != nil {
		s.env.Reply(ss.commit.req, PutResult{Err: ended})
		ss.commit = nil
	}
	s.releaseSessionChunks(ss.refs)
}

// releaseSessionChunks drops one session reference per listed chunk and
// deletes the chunks nothing else holds. Not synced: a crash may keep
// them, unreferenced, until the orphan sweep after the restart. A delete
// that fails (a disk error) or finds the job table full leaves them
// too, on a node that may run for long without a restart: it marks a
// sweep due, which the next tick starts (sweepIfDue).
func (s *Storage) releaseSessionChunks(chunks []ChunkRef) {
	var batch []env.DiskWrite
	for _, c := range chunks {
		r := s.index.sessionRefs[c.Addr]
		r.refs--
		if r.refs > 0 {
			s.index.sessionRefs[c.Addr] = r
			continue
		}
		delete(s.index.sessionRefs, c.Addr)
		if !s.index.hasChunk(c.Addr) {
			delete(s.damaged, c.Addr)
			batch = append(batch, env.DiskWrite{Key: diskKey(prefixChunk, c.Addr), Delete: true})
		}
	}
	for len(batch) > 0 {
		n := min(len(batch), env.DiskBatchWritesMax)
		if !s.submitJob([]env.DiskOp{{Kind: env.DiskBatch, Batch: batch[:n]}}, func(res []env.DiskResult) {
			if firstErr(res) != nil {
				s.sweepDue = true
			}
		}) {
			s.reject(ReasonOverload)
			s.sweepDue = true
		}
		batch = batch[n:]
	}
}

// gcSessions ends the sessions idle for longer than SessionTTL; the tick
// and a full session table call it.
func (s *Storage) gcSessions() {
	now := s.env.Now()
	for _, id := range env.SortedKeys(s.sessions) {
		if ss := s.sessions[id]; ss.writing == 0 && now.Sub(ss.touched) >= s.sessionTTL() {
			s.stats.SessionsExpired++
			s.endSession(ss)
		}
	}
}

// onGetManifest, onGetChunk and onGetChunks run as gets: the first stops
// at the manifest, the others skip it.
func (s *Storage) onGetManifest(req env.RequestID, body GetManifest) {
	if g := s.newGet(req, body.Addr, 0, 0, true); g != nil {
		s.findManifest(g)
	}
}

func (s *Storage) onGetChunk(req env.RequestID, body GetChunk) {
	if _, err := checkRun([]ChunkRef{body.Chunk}, body.Offset); err != nil {
		s.reject(ReasonBadRequest)
		s.env.Reply(req, GetResult{Err: err})
		return
	}
	if g := s.newGet(req, body.Addr, 0, 0, false); g != nil {
		g.base, g.into, g.chunkReq = body.Offset, body.Into, true
		s.startChunks(g, Manifest{Size: uint64(body.Chunk.Size), Chunks: []ChunkRef{body.Chunk}})
	}
}

// onGetChunks reads a run of consecutive chunks as a get of a manifest
// that lists only them, at their object offsets (base).
func (s *Storage) onGetChunks(req env.RequestID, body GetChunks) {
	var end uint64
	var err error
	if len(body.Chunks) == 0 || len(body.Chunks) > GetChunksMax {
		err = fmt.Errorf("%w: %d chunks, not 1..%d", ErrBadRequest, len(body.Chunks), GetChunksMax)
	} else {
		end, err = checkRun(body.Chunks, body.Offset) // after the count: it walks the list
	}
	if err != nil {
		s.reject(ReasonBadRequest)
		s.env.Reply(req, GetResult{Err: err})
		return
	}
	size := end - body.Offset
	if g := s.newGet(req, body.Addr, 0, 0, false); g != nil {
		g.base, g.intos, g.wantParts, g.chunkReq = body.Offset, body.Into, true, true
		s.startChunks(g, Manifest{Size: size, Chunks: slices.Clone(body.Chunks)})
	}
}

// checkRun refuses (ErrBadRequest) chunks that cannot be consecutive
// chunks of an object, the first at object offset offset (runShape), and
// returns the offset where the run ends. The read of a chunk that breaks
// this would fail its check (chunkMatches) and be taken for corruption of
// a healthy chunk, healed from a replica. A run that passes can still
// name a chunk at an aligned offset that is not its own (only the
// object's manifest tells): that read fails its check as before.
func checkRun(chunks []ChunkRef, offset uint64) (uint64, error) {
	end, err := runShape(chunks, offset)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return end, nil
}

// runShape checks that chunks can sit one after the other from object
// offset offset where a manifest may put them (Manifest's invariant):
// each 1..ChunkBytesMax bytes, ending within 2^64, every one but the last
// a full subtree at its offset, the last a subtree there. It returns the
// offset where they end.
func runShape(chunks []ChunkRef, offset uint64) (uint64, error) {
	off := offset
	for i, c := range chunks {
		size := uint64(c.Size)
		switch {
		case c.Size == 0 || c.Size > ChunkBytesMax:
			return 0, fmt.Errorf("chunk %d of %d bytes, not 1..%d", i, size, ChunkBytesMax)
		case off+size < off:
			return 0, fmt.Errorf("chunk %d of %d bytes at offset %d ends past 2^64", i, size, off)
		case i < len(chunks)-1 && !proto.IsFullSubtree(off, size), i == len(chunks)-1 && !proto.IsSubtree(off, size):
			return 0, fmt.Errorf("chunk %d of %d bytes at offset %d is not a BLAKE3 subtree there", i, size, off)
		}
		off += size
	}
	return off, nil
}

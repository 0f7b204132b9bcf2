package storage

import (
	"fmt"
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
	// GetChunk reads one chunk of object Addr, verified against
	// Chunk.Addr. Replies with a GetResult whose Size is Chunk.Size.
	GetChunk struct {
		Addr  proto.Addr
		Chunk ChunkRef
	}
)

// Streaming replies.
type (
	PutBeginResult struct {
		Session uint64
		Err     error
	}
	// PutChunkResult: Chunk is the staged chunk's reference.
	PutChunkResult struct {
		Chunk ChunkRef
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
	id      uint64
	pin     bool
	chunks  []ChunkRef
	size    uint64
	writing int      // chunk writes in flight
	failed  error    // sticky: a chunk write failed
	touched env.Time // last request of the session
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
			s.env.Reply(req, PutBeginResult{Err: fmt.Errorf("%w: %d upload sessions open", ErrUnavailable, SessionsMax)})
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
	case len(s.jobs) >= DiskJobsMax:
		s.reject(ReasonOverload)
		err = fmt.Errorf("%w: disk queue full", ErrUnavailable)
	}
	if err != nil {
		s.env.Reply(req, PutChunkResult{Err: err})
		return
	}
	ref := ChunkRef{Addr: proto.AddrOf(body.Data), Size: uint32(len(body.Data))}
	held := s.index.hasChunk(ref.Addr)
	ss.chunks = append(ss.chunks, ref)
	ss.size += uint64(ref.Size)
	s.index.sessionRefs[ref.Addr]++
	if held {
		// Already on disk (another object, a staged push or an earlier
		// chunk of this session whose write is ahead in the FIFO disk).
		s.env.Reply(req, PutChunkResult{Chunk: ref})
		return
	}
	ss.writing++
	op := env.DiskOp{Kind: env.DiskPut, Key: diskKey(prefixChunk, ref.Addr), Value: body.Data}
	submitted := s.submitJob([]env.DiskOp{op}, func(res []env.DiskResult) {
		ss.writing--
		if res[0].Err != nil {
			ss.failed = fmt.Errorf("%w: writing chunk %s: %w", ErrUnavailable, ref.Addr.Short(), res[0].Err)
			s.env.Reply(req, PutChunkResult{Err: ss.failed})
			return
		}
		s.stats.ChunksWritten++
		s.env.Reply(req, PutChunkResult{Chunk: ref})
	})
	if !submitted {
		panic("storage: a disk job refused after its bound was checked")
	}
}

// onPutCommit checks the claim against the staged chunks and starts a put
// whose bytes are read back from the local disk.
func (s *Storage) onPutCommit(req env.RequestID, body PutCommit) {
	ss, err := s.lookupSession(body.Session)
	if err == nil {
		err = s.checkCommit(ss, body)
	}
	if err == nil && len(s.puts) >= InflightPutsMax {
		s.reject(ReasonOverload)
		err = fmt.Errorf("%w: %d puts in flight", ErrUnavailable, InflightPutsMax)
	}
	if err != nil {
		s.env.Reply(req, PutResult{Err: err})
		return
	}
	delete(s.sessions, ss.id)
	man := Manifest{Size: ss.size, Chunks: ss.chunks}
	extra := time.Duration(len(man.Chunks)) * commitTimePerChunk
	s.startPut(req, body.Addr, man, nil, ss.pin, ss.chunks, extra)
}

// checkCommit verifies what the machine can: every write finished and
// succeeded, the size matches, the manifest is valid and consistent with
// the claimed address (exactly so for objects of at most one chunk).
func (s *Storage) checkCommit(ss *session, body PutCommit) error {
	man := Manifest{Size: ss.size, Chunks: ss.chunks}
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
	if err := man.checkFor(body.Addr); err != nil {
		s.reject(ReasonBadRequest)
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	for _, c := range ss.chunks {
		if !s.index.hasChunk(c.Addr) {
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

// endSession forgets an uncommitted session and deletes its chunks.
func (s *Storage) endSession(ss *session) {
	delete(s.sessions, ss.id)
	s.releaseSessionChunks(ss.chunks)
}

// releaseSessionChunks drops one session reference per listed chunk and
// deletes the chunks nothing else holds. Not synced: a crash may keep
// them, unreferenced, until the orphan sweep after the restart.
func (s *Storage) releaseSessionChunks(chunks []ChunkRef) {
	var batch []env.DiskWrite
	for _, c := range chunks {
		s.index.sessionRefs[c.Addr]--
		if s.index.sessionRefs[c.Addr] > 0 {
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
		if !s.submitJob([]env.DiskOp{{Kind: env.DiskBatch, Batch: batch[:n]}}, func([]env.DiskResult) {}) {
			s.reject(ReasonOverload) // the chunks stay until the sweep after a restart
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

// onGetManifest and onGetChunk run as gets: the first stops at the
// manifest, the second skips it.
func (s *Storage) onGetManifest(req env.RequestID, body GetManifest) {
	if g := s.newGet(req, body.Addr, 0, 0, true); g != nil {
		s.findManifest(g)
	}
}

func (s *Storage) onGetChunk(req env.RequestID, body GetChunk) {
	if body.Chunk.Size == 0 || body.Chunk.Size > ChunkBytesMax {
		s.reject(ReasonBadRequest)
		s.env.Reply(req, GetResult{Err: fmt.Errorf("%w: chunk size %d outside 1..%d", ErrBadRequest, body.Chunk.Size, ChunkBytesMax)})
		return
	}
	if g := s.newGet(req, body.Addr, 0, 0, false); g != nil {
		s.startChunks(g, Manifest{Size: uint64(body.Chunk.Size), Chunks: []ChunkRef{body.Chunk}})
	}
}

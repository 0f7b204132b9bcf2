package storage

import (
	"errors"
	"fmt"
	"slices"

	"github.com/ron-network/ron/core/dht"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// getOp is one client get: find the manifest (local, else from a replica
// or provider), then read the chunks covering the range (at most
// GetWindowMax in flight), each verified against its address.
type getOp struct {
	id       uint64
	req      env.RequestID
	addr     proto.Addr
	offset   uint64
	length   uint64
	started  env.Time
	timer    env.TimerID
	man      Manifest
	first    int
	last     int
	firstOff uint64
	// firstPart: the offset in chunk first of the bytes read of it (a
	// range that starts inside a chunk whose group CVs are cached reads
	// from the first group it touches: groupRead); later chunks are read
	// from their start.
	firstPart uint64
	offsets   []uint64 // the object offset of chunks first..last (chunkOffset)
	base      uint64   // GetChunk: the object offset of its one chunk
	parts     [][]byte
	next      int // next chunk index to start
	pending   int // chunks not yet arrived
	cands     []proto.NodeID
	candNext  int
	askedDHT  bool
	// wide: the DHT lookup of the object's providers its chunk fetches
	// share once every placement copy of one failed (fetchChunkWide).
	wide     providerLookup
	timedOut bool // some candidate did not answer
	finished bool
	// manifestOnly: a GetManifest, answered with a ManifestResult once
	// the manifest is found.
	manifestOnly bool
	// restore: not a client's get but the tick's restore of a lost pin
	// (restoreLostPin): its outcome goes to restore, no reply is sent.
	restore   func(data []byte, err error)
	sizeMax   uint64   // Get.SizeMax
	wantParts bool     // Get.Parts: reply a multi-chunk read as its chunks' slices
	into      []byte   // GetChunk.Into: lent to its one chunk read
	intos     [][]byte // Get.Into: lent to the reads of chunks first, first+1, ...
	// chunkReq: a GetChunk or GetChunks, whose manifest is the client's
	// chunk list: a size it claims wrongly is a bad request, not a bad
	// manifest (claimWrong).
	chunkReq bool
	// dropping: g drops its manifest, which proved bad once its chunks
	// were read, and waits for the chunk reads still in flight, whose
	// results are discarded; the last one restarts g on the next
	// candidate (dropManifest).
	dropping bool
	// badManifest: the error of the last manifest dropped, which g fails
	// with when no candidate is left.
	badManifest error
	// unserved: the manifests (cuts of the object) of which some chunk
	// no source served (fetchedChunk); a candidate's manifest that
	// lists the same chunks is not read again (fetchManifest).
	unserved []Manifest
	// askedLength: the length asked (length becomes the range's once a
	// manifest gives the object's size).
	askedLength uint64
	// endCheck: g asks a range that ends past its manifest's Size, or the
	// empty tail from the Size on, and reads the manifest's last chunk
	// only, to verify its length before answering endErr (ErrRange), or
	// no bytes when endErr is nil (checkEnd).
	endCheck bool
	endErr   error
	// sideBusy: g's range, read from a fetched manifest, stops before
	// its last chunk, whose size (and so the Size the reply carries) its
	// reads do not check: the last chunk, at object offset sideOff, is
	// read beside them (sideCheck), and g answers once both are over.
	// The read is index len(man.Chunks)-1, past last (sideRead).
	sideBusy bool
	sideOff  uint64
	// own: the object whose committed manifest g reads (this node's), nil
	// when g's manifest was fetched.
	own *object
}

// chunkOffset is the object offset of chunk i (first <= i <= last, or
// the side check's last chunk).
func (g *getOp) chunkOffset(i int) uint64 {
	if g.sideRead(i) {
		return g.sideOff
	}
	return g.offsets[i-g.first]
}

// sideRead reports whether read i is the side check's read of the
// manifest's last chunk (sideCheck), the only one past the range.
func (g *getOp) sideRead(i int) bool { return i > g.last }

// readOver counts read i as arrived (or given up).
func (g *getOp) readOver(i int) {
	if g.sideRead(i) {
		g.sideBusy = false
		return
	}
	g.pending--
}

func (s *Storage) onGet(req env.RequestID, body Get) {
	if g := s.newGet(req, body.Addr, body.Offset, body.Length, false); g != nil {
		g.sizeMax, g.wantParts, g.intos = body.SizeMax, body.Parts, body.Into
		s.findManifest(g)
	}
}

// newGet registers a get with its deadline and candidates, or replies an
// error and returns nil.
func (s *Storage) newGet(req env.RequestID, addr proto.Addr, offset, length uint64, manifestOnly bool) *getOp {
	var err error
	switch {
	case !s.ready:
		s.reject(ReasonRecovering)
		err = fmt.Errorf("%w: recovering", ErrUnavailable)
	case len(s.gets) >= InflightGetsMax:
		s.reject(ReasonOverload)
		err = fmt.Errorf("%w: %d gets in flight", ErrBusy, InflightGetsMax)
	}
	if err != nil {
		if manifestOnly {
			s.env.Reply(req, ManifestResult{Err: err})
		} else {
			s.env.Reply(req, GetResult{Err: err})
		}
		return nil
	}
	g := &getOp{req: req, addr: addr, offset: offset, length: length, askedLength: length, started: s.env.Now(), manifestOnly: manifestOnly}
	s.nextOp = (s.nextOp + 1) & tagValueMask
	g.id = s.nextOp
	s.gets[g.id] = g
	g.timer = s.env.SetTimer(s.cfg.GetTimeout, tagGet<<tagKindShift|g.id)
	for _, t := range s.placement(g.addr) {
		if t != s.self {
			g.cands = append(g.cands, t)
		}
	}
	return g
}

// findManifest starts from the local manifest, else (none, or one a get
// proved wrong: object.lies) fetches one.
func (s *Storage) findManifest(g *getOp) {
	o := s.index.committed(g.addr)
	if o != nil && !o.lies {
		g.own = o
		s.startChunks(g, o.manifest)
		return
	}
	if o != nil {
		// With no honest candidate left, the get fails as the first
		// that proved the manifest wrong did (a bad manifest, 502), not
		// as if this node held nothing (not found, 404).
		g.badManifest = fmt.Errorf("%w: %s: this node's manifest proved wrong", ErrBadManifest, g.addr.Short())
	}
	s.fetchManifest(g)
}

// fetchManifest asks the candidates in turn, then the DHT's providers.
func (s *Storage) fetchManifest(g *getOp) {
	if g.candNext >= len(g.cands) {
		s.askProviders(g)
		return
	}
	to := g.cands[g.candNext]
	g.candNext++
	sent := s.call(to, &message{kind: kindFetchManifest, addr: g.addr}, func(reply *message, err error) {
		if g.finished {
			return
		}
		if err != nil {
			g.timedOut = true
		}
		if err == nil && reply.status == statusOK {
			man, derr := DecodeManifest(reply.data)
			if derr == nil && man.checkFor(g.addr) == nil {
				if !slices.ContainsFunc(g.unserved, func(u Manifest) bool { return slices.Equal(u.Chunks, man.Chunks) }) {
					s.startChunks(g, man)
					return
				}
				s.fetchManifest(g) // a cut already found unserved
				return
			}
			s.reject(ReasonMalformed)
		}
		s.fetchManifest(g)
	})
	if !sent {
		s.finishGet(g, fmt.Errorf("%w: too many requests in flight", ErrBusy))
	}
}

func (s *Storage) askProviders(g *getOp) {
	if g.askedDHT || s.cfg.DHT == nil {
		err := fmt.Errorf("%w: %s", ErrNotFound, g.addr.Short())
		switch {
		case g.timedOut:
			// A replica that did not answer may hold the honest
			// manifest: one liar's word says nothing of the object, and
			// a retry may succeed (ErrUnavailable is retryable).
			err = fmt.Errorf("%w: no replica of %s answered", ErrUnavailable, g.addr.Short())
		case g.badManifest != nil:
			// Every candidate answered, and those that served a manifest
			// served one that proved bad.
			err = g.badManifest
		}
		s.finishGet(g, err)
		return
	}
	g.askedDHT = true
	if g.wide.done {
		// A chunk of a manifest dropped since looked the object's
		// providers up (fetchChunkWide): a get looks them up once.
		for _, p := range g.wide.providers {
			if p != s.self && s.member(p) && !slices.Contains(g.cands, p) {
				g.cands = append(g.cands, p)
			}
		}
		s.fetchManifest(g)
		return
	}
	s.cfg.DHT.FindProvidersAsync(g.addr, ProviderCandidatesMax, func(res dht.ProvidersResult) {
		if g.finished {
			return
		}
		for _, rec := range res.Providers {
			if rec.Provider != s.self && s.member(rec.Provider) && !slices.Contains(g.cands, rec.Provider) {
				g.cands = append(g.cands, rec.Provider)
			}
		}
		s.fetchManifest(g)
	})
}

// startChunks checks the range against the manifest and starts reading.
func (s *Storage) startChunks(g *getOp, man Manifest) {
	g.man = man
	if g.manifestOnly {
		// The caller reads the chunks at the offsets this manifest gives
		// (GetChunk, GetChunks): one that moves a chunk this node holds
		// is dropped here, as below, not handed on.
		if s.movesChunks(&man) {
			s.claimWrong(g, fmt.Errorf("%w: a chunk of %s placed off the offset it is held at, or of another size than verified", errChunkOffset, g.addr.Short()))
			return
		}
		if g.own == nil && len(man.Chunks) > 0 {
			// The caller answers with this Size alone (the gateway's
			// HEAD, 416s and Content-Length, and its size cache): a
			// fetched manifest's Size is checked first, as a range past
			// it is (checkEnd: the last chunk's verified length, free
			// when cached, else one read of it; a lie is dropped and the
			// next candidate asked).
			s.checkEnd(g, nil)
			return
		}
		s.replyGet(g, nil)
		return
	}
	end := man.Size
	if g.length > 0 {
		end = g.offset + g.length
	}
	if g.offset > man.Size || end > man.Size || end < g.offset {
		err := fmt.Errorf("%w: offset %d length %d of %d bytes", ErrRange, g.offset, g.length, man.Size)
		if (g.length == 0 || end >= g.offset) && len(man.Chunks) > 0 && !g.chunkReq {
			s.checkEnd(g, err) // past a Size that may be a lie
			return
		}
		s.reject(ReasonBadRange)
		s.finishGet(g, err)
		return
	}
	if g.sizeMax > 0 && g.offset == 0 && g.length == 0 && man.Size > g.sizeMax {
		err := fmt.Errorf("%w: %d bytes exceed the whole read's %d", ErrTooLarge, man.Size, g.sizeMax)
		if g.own == nil && len(man.Chunks) > 0 && !g.chunkReq {
			// The reply carries the Size, which the caller streams by
			// (the gateway's Content-Length): a fetched one is checked
			// first.
			s.checkEnd(g, err)
			return
		}
		s.finishGet(g, err)
		return
	}
	g.length = end - g.offset
	if g.length == 0 && g.askedLength == 0 && len(man.Chunks) > 0 && !g.chunkReq {
		s.checkEnd(g, nil) // the tail from a Size that may be a lie
		return
	}
	if g.length == 0 {
		s.replyGet(g, []byte{})
		return
	}
	g.first, g.last, g.firstOff = man.span(g.offset, end)
	g.offsets = man.spanOffsets(g.first, g.last, g.firstOff, g.base)
	g.parts = make([][]byte, g.last-g.first+1)
	g.next, g.pending = g.first, len(g.parts)
	for i := g.first; i <= g.last; i++ {
		// A chunk this node's held manifests agree to list at another
		// offset was verified there when it was stored, and its key binds
		// its offset: the manifest (or GetChunks request) that moves it
		// lies, whatever its keys merge to (the sizes of the chunks
		// before the last are not bound by them). Dropped before any
		// read, like a size lie; nothing is counted or marked damaged.
		if err := s.placedElsewhere(man.Chunks[i].Addr, g.chunkOffset(i)); err != nil {
			s.claimWrong(g, err)
			return
		}
	}
	if g.own == nil && !g.chunkReq && g.last < len(man.Chunks)-1 && !s.sideCheck(g) {
		return
	}
	s.pumpGet(g)
}

// sideCheck starts the check of a fetched manifest's Size for a range
// that stops before its last chunk (the reply carries the Size, and the
// keys do not bind the last chunk's size): checkEnd's rule, run beside
// the range's reads rather than before them, so a silent liar's timeout
// is paid once, by the reads in parallel (the check takes one slot of
// the get's read window while it runs). The group cache's verified length of the
// last chunk at its offset decides at no cost; else the chunk is read
// (locally when held, else fetched: getChunk) whole, once, as read
// len(man.Chunks)-1 in g's window, and its verdict cached (gotChunk). A
// lie proven here, from the cache or by the read, drops the manifest
// like any size lie (claimWrong); a last chunk no source serves fails
// the get as a chunk of the range would (as checkEnd fails a get from a
// fetched manifest). It returns false when it dropped the manifest (g
// then moved on).
func (s *Storage) sideCheck(g *getOp) bool {
	i := len(g.man.Chunks) - 1
	c, size := g.man.Chunks[i].Addr, uint64(g.man.Chunks[i].Size)
	off := g.man.Size - size
	// get, not verified: a verdict used is kept in the cache's order.
	switch _, n := s.groups.get(c, off); {
	case n == size:
		return true
	case n > 0:
		s.claimWrong(g, sizeLie(c, off, n, size))
		return false
	}
	if err := s.placedElsewhere(c, off); err != nil {
		s.claimWrong(g, err)
		return false
	}
	g.sideBusy, g.sideOff = true, off
	s.getChunk(g, i)
	// Its completion comes later (a disk job, a peer's answer), or now
	// when no job or request could be started (g then failed): never a
	// drop.
	return !g.finished && !g.dropping
}

// placedElsewhere is errChunkOffset when this node locates chunk c at an
// offset other than off (index.chunkOffset), else nil.
func (s *Storage) placedElsewhere(c proto.Addr, off uint64) error {
	if known, ok := s.index.chunkOffset(c); ok && known != off {
		return fmt.Errorf("%w: chunk %s placed at offset %d, held at %d", errChunkOffset, c.Short(), off, known)
	}
	return nil
}

// checkEnd answers endErr (ErrRange: a range past the Size of g's
// manifest), or no bytes when endErr is nil (the tail from the Size on),
// once the manifest's last chunk is verified to hold the size it claims at
// its offset: the keys do not bind the last chunk's size, so a manifest (a
// fetched one, or this node's own, which a commit of an earlier build or
// over a session's chunks may have planted) may claim a smaller Size than
// the object's, and a range past the claim must not be answered before a
// byte says so. The group cache's verified length of the chunk at that
// offset decides at no cost; else the chunk is read (locally when held,
// else fetched: getChunk) whole, once: a length other than the claim is a
// lie (claimWrong: the manifest is dropped and the next candidate asked,
// so the range is served from an honest one), the claim's length answers
// endErr and is cached (gotChunk), so a repeated request past the end
// costs no read while the verdict is cached. A chunk no source serves
// (unavailable, corrupt, not found) leaves the claim unproven: a fetched
// manifest's get then fails with the chunk's error (fetchChunk), as
// sideCheck's does, rather than answer a Size no byte proved (an honest
// range past the end answers 503 instead of 416 while every holder of
// the last chunk is unreachable: the price of not believing claims);
// this node's own manifest answers endErr, as it is answered elsewhere.
func (s *Storage) checkEnd(g *getOp, endErr error) {
	i := len(g.man.Chunks) - 1
	c, size := g.man.Chunks[i].Addr, uint64(g.man.Chunks[i].Size)
	off := g.man.Size - size
	g.first, g.last, g.firstOff = i, i, off
	g.offsets = []uint64{off}
	g.parts = make([][]byte, 1)
	g.next, g.pending = i, 1
	// get, not verified: a verdict used is kept in the cache's order.
	switch _, n := s.groups.get(c, off); {
	case n == size:
		s.endRange(g, endErr)
		return
	case n > 0:
		s.claimWrong(g, sizeLie(c, off, n, size))
		return
	}
	if err := s.placedElsewhere(c, off); err != nil {
		s.claimWrong(g, err)
		return
	}
	g.endCheck, g.endErr = true, endErr
	s.pumpGet(g)
}

// endRange answers a get whose manifest's Size checkEnd verified (or
// could not disprove): err (ErrRange), or no bytes when err is nil.
func (s *Storage) endRange(g *getOp, err error) {
	if err == nil {
		s.replyGet(g, []byte{})
		return
	}
	if errors.Is(err, ErrRange) {
		s.reject(ReasonBadRange)
	}
	s.finishGet(g, err)
}

func (s *Storage) pumpGet(g *getOp) {
	for !g.finished && !g.dropping && g.next <= g.last && g.inflight() < GetWindowMax {
		i := g.next
		g.next++
		s.getChunk(g, i)
	}
}

// getChunk reads chunk i locally when this node holds it, not marked
// damaged, and the copy verifies, else from the candidates. A chunk the
// range touches only in part, whose group CVs are cached, is checked
// only on the groups the range touches (groupRead); any other is checked
// whole, which caches its group CVs.
func (s *Storage) getChunk(g *getOp, i int) {
	c := g.man.Chunks[i].Addr
	off := g.chunkOffset(i)
	if !s.index.hasChunk(c) || s.damagedAt(c, off) {
		// A chunk marked damaged (it failed its check at this, its known
		// offset) is not read again before its heal: fetched from the
		// replicas as if not held, which heals it too (fetchChunk).
		s.fetchChunk(g, i)
		return
	}
	op, check, partOff := s.groupRead(g, i)
	var cvs []proto.CV // the chunk's group CVs, left by a whole check that passed
	if op.Kind == 0 {
		op = s.chunkRead(c, off) // no Check under BugServeUnverified
		check = wholeChunkCheck(c, off, uint64(g.man.Chunks[i].Size), &cvs)
		if op.Check != nil {
			op.Check = check
		}
	}
	op.Into = g.into // a GetChunk's: one chunk, one read
	if k := i - g.first; k < len(g.intos) && !g.endCheck && !g.sideRead(i) {
		op.Into = g.intos[k]
	}
	ok := s.submitJob([]env.DiskOp{op}, func(res []env.DiskResult) {
		if s.readStale(g, i) {
			return
		}
		r := res[0]
		if !s.cfg.BugServeUnverified && r.Err == nil && r.Found && !r.Checked {
			// The disk did not run the check: run it here, before the
			// size claim is judged below (readIntact would run it too).
			r = env.RunCheck(&env.DiskOp{Kind: env.DiskGet, Check: check}, r)
		}
		if errors.Is(r.Err, errChunkSize) {
			// The bytes are the chunk the key names, of another length
			// than claimed: the manifest (or request) is wrong, the
			// chunk is healthy. Not corruption, and no other replica's
			// copy would fit the claim either. Its verified length is
			// cached, so the next candidate's manifest is judged on it
			// without a read (checkEnd, movesChunks).
			if cvs != nil && len(r.Value) > 0 {
				s.groups.put(c, off, uint64(len(r.Value)), cvs)
			}
			g.readOver(i)
			s.claimWrong(g, r.Err)
			return
		}
		if r.Found && op.Length > 0 && errors.Is(r.Err, env.ErrDiskInvalid) {
			// A part read found the value shorter than the groups it
			// asked for. groupRead reads parts only of a chunk whose
			// verified length is the manifest's size, so the value
			// stored under the key is truncated: damage.
			r.Err = fmt.Errorf("%w: chunk %s shorter than its verified %d bytes: %w", env.ErrCorruption, c.Short(), g.man.Chunks[i].Size, r.Err)
		}
		if s.readIntact(c, off, r, g.addr, check) {
			if cvs != nil {
				s.groups.put(c, off, uint64(len(r.Value)), cvs)
			}
			if i == g.first {
				g.firstPart = partOff
			}
			s.gotChunk(g, i, r.Value)
			return
		}
		s.fetchChunk(g, i)
	})
	if !ok {
		s.finishGet(g, fmt.Errorf("%w: disk queue full", ErrBusy))
	}
}

// groupRead is the read of chunk i of g when the range touches it only in
// part and its group CVs are cached: the read of the groups it touches
// alone (a part of the chunk's value, env.DiskOp Offset and Length), its
// check, and the chunk offset where the part starts. Otherwise the op's
// Kind is zero.
func (s *Storage) groupRead(g *getOp, i int) (env.DiskOp, func([]byte) error, uint64) {
	if s.cfg.BugServeUnverified || g.endCheck || g.sideRead(i) {
		return env.DiskOp{}, nil, 0
	}
	c, size := g.man.Chunks[i].Addr, uint64(g.man.Chunks[i].Size)
	start := g.chunkOffset(i) - g.base
	lo := max(g.offset, start) - start
	hi := min(g.offset+g.length, start+size) - start
	if lo == 0 && hi == size {
		return env.DiskOp{}, nil, 0
	}
	// The CVs are used only when the manifest's size is the length of the
	// bytes they were derived from: a manifest that claims another size
	// for the chunk gets a whole read, whose check refuses the claim
	// (errChunkSize) instead of a part the cached groups do not tile.
	cached, verified := s.groups.get(c, g.chunkOffset(i))
	if verified != size || uint64(len(cached)) != (size+GroupBytes-1)/GroupBytes {
		return env.DiskOp{}, nil, 0
	}
	g0, g1 := lo/GroupBytes, (hi+GroupBytes-1)/GroupBytes
	partOff := g0 * GroupBytes
	partLen := min(g1*GroupBytes, size) - partOff
	// Only the touched groups are read (a part of the value) and checked,
	// each against its CV.
	check := groupsCheck(c, g.chunkOffset(i), size, partOff, cached[g0:g1])
	op := env.DiskOp{Kind: env.DiskGet, Key: diskKey(prefixChunk, c), Check: check, Offset: partOff, Length: partLen}
	return op, check, partOff
}

// fetchChunk fetches chunk i of g from the candidates. When none serves
// a chunk this node holds marked damaged at its offset, the local copy
// is read again if a re-read is due (rereadDue: the fault may have been
// in the read; with no other copy the local one is the object's only
// hope): bytes that verify there are used (and clear the mark, without
// a rewrite), else the get fails with ErrCorruption, not ErrNotFound:
// this node holds the chunk, and its copy failed (fetchedChunk asks
// index.hasChunk, not the mark: a copy that failed while DamagedChunksMax
// chunks were marked is not marked).
func (s *Storage) fetchChunk(g *getOp, i int) {
	c, off := g.man.Chunks[i].Addr, g.chunkOffset(i)
	s.fetchChunkWide(g.addr, c, off, g.cands, &g.wide, func(data []byte, err error) {
		if s.readStale(g, i) {
			return
		}
		if err != nil && s.rereadDue(c, off) && s.reread(c, off, func(local []byte) {
			if s.readStale(g, i) {
				return
			}
			if local != nil {
				s.fetchedChunk(g, i, local, nil, false)
				return
			}
			s.fetchedChunk(g, i, nil, err, false)
		}) {
			return
		}
		s.fetchedChunk(g, i, data, err, true)
	})
}

// fetchedChunk takes chunk i of g as fetchChunk got it: data verified at
// its offset, fetched from a peer (fetched, and then it heals a bad local
// copy) or re-read locally, or the error of the fetch.
func (s *Storage) fetchedChunk(g *getOp, i int, data []byte, err error, fetched bool) {
	c := g.man.Chunks[i].Addr
	if known, located := s.index.chunkOffset(c); errors.Is(err, ErrNotFound) && s.index.hasChunk(c) && located && known == g.chunkOffset(i) {
		// Not ErrNotFound: this node holds the chunk where the
		// manifest puts it and no source served it, so its copy failed
		// (marked damaged, or failed its read now: marked unless
		// DamagedChunksMax are), a retryable 502: a heal or a re-read
		// may yet recover it. A chunk nothing locates here (its held
		// manifests disagree) failed at a claimed offset only: that is
		// no damage, and the answer stays not found.
		err = fmt.Errorf("%w: chunk %s: the local copy failed its check and no other source has it (%v)", ErrCorruption, c.Short(), err)
	}
	if errors.Is(err, errOffsetRefused) {
		// Peers that hold the chunk list it elsewhere: not proof
		// (peers can lie), but no source served it where this
		// manifest puts it, so a get drops the manifest and asks the
		// next candidate, as for a proven lie (claimWrong); a
		// GetChunk's offsets are a manifest's: it fails as one. If a
		// holder was silent, the manifest may be honest and the
		// silent one its server: the get still moves on (the
		// manifest may have come from a liar that then kept quiet),
		// but counts a timeout, so that with no candidate left it
		// fails as unavailable (retryable), not as a bad manifest.
		g.readOver(i)
		silent := errors.Is(err, ErrUnavailable)
		if g.chunkReq && silent {
			s.finishGet(g, err)
			return
		}
		s.reject(ReasonMalformed)
		err = fmt.Errorf("%w: %s: %w", ErrBadManifest, g.addr.Short(), err)
		if g.chunkReq {
			s.finishGet(g, err)
			return
		}
		g.timedOut = g.timedOut || silent
		s.dropManifest(g, err)
		return
	}
	if err != nil && g.endCheck && g.own != nil {
		// No source served this node's own manifest's last chunk:
		// the claim stands (an own manifest is answered as it is).
		s.endRange(g, g.endErr)
		return
	}
	if err != nil && g.endCheck {
		// A fetched manifest's Size unproven: not answered (ErrRange,
		// the empty tail, ErrTooLarge or GetManifest would each answer
		// it as the object's), the get fails as for a chunk of a
		// range no source serves, but never as ErrNotFound: the
		// manifest, verified against the address, proves the object
		// exists (a HEAD, a range past the end or a GetManifest of
		// it must not answer 404).
		if errors.Is(err, ErrNotFound) {
			err = fmt.Errorf("%w: no source has the last chunk (%v)", ErrUnavailable, err)
		}
		s.finishGet(g, fmt.Errorf("%w (the last chunk, to check the size of %s)", err, g.addr.Short()))
		return
	}
	if err != nil && g.sideRead(i) {
		// Beside a range the Size is answered as the object's, which
		// the claim alone does not prove: the get fails as for a
		// chunk of the range no source serves, but never as
		// ErrNotFound (the verified manifest proves the object
		// exists), as checkEnd just above.
		g.sideBusy = false
		if errors.Is(err, ErrNotFound) {
			err = fmt.Errorf("%w: no source has the last chunk (%v)", ErrUnavailable, err)
		}
		s.finishGet(g, fmt.Errorf("%w (the last chunk, to check the size of %s)", err, g.addr.Short()))
		return
	}
	if err != nil && !g.chunkReq && (errors.Is(err, ErrCorruption) || errors.Is(err, ErrNotFound)) {
		// No source served the chunk as this manifest keys it: every
		// copy found was corrupt, or none had it. Another holder's
		// manifest of the object may cut it otherwise (a session's
		// chunks are its pieces, a put's are ChunkBytes), so keys none
		// of this manifest's holders share, and its chunks may be whole
		// where this one's rotted (a rotten chunk heals only from a
		// copy under its own key). The get drops this manifest for
		// itself alone (no lie is proven: object.lies stays unset) and
		// asks the next candidate (dropManifest), failing with err when
		// none serves the object. A candidate's manifest of the same
		// cut is skipped: every candidate was asked for the chunk.
		g.unserved = append(g.unserved, g.man)
		g.readOver(i)
		s.dropManifest(g, err)
		return
	}
	if err != nil {
		s.finishGet(g, err)
		return
	}
	if size := uint64(g.man.Chunks[i].Size); uint64(len(data)) != size {
		// data hashed to c at its offset (fetchChunkFrom) and c binds
		// the length of its bytes: the claimed size is wrong (its
		// verified length cached, as for a local read).
		if !s.cfg.BugServeUnverified {
			s.groups.put(c, g.chunkOffset(i), uint64(len(data)), nil)
		}
		g.readOver(i)
		s.claimWrong(g, sizeLie(c, g.chunkOffset(i), uint64(len(data)), size))
		return
	}
	if fetched && s.index.hasChunk(c) {
		s.healWith(c, data, HealReplica, nil) // the local copy was bad: replace it
	}
	s.gotChunk(g, i, data)
}

func (s *Storage) gotChunk(g *getOp, i int, data []byte) {
	if g.endCheck {
		// checkEnd's read: the last chunk holds the size claimed (the
		// whole check, or fetchChunk, compared them), so the Size is the
		// object's and the range is past it. The verdict is cached
		// (without CVs when the read derived none: put keeps those of a
		// later whole read) so the next such request costs no read.
		g.pending--
		c, off, size := g.man.Chunks[i].Addr, g.chunkOffset(i), uint64(g.man.Chunks[i].Size)
		if uint64(len(data)) != size {
			s.claimWrong(g, sizeLie(c, off, uint64(len(data)), size))
			return
		}
		if !s.cfg.BugServeUnverified {
			s.groups.put(c, off, size, nil)
		}
		s.endRange(g, g.endErr)
		return
	}
	if g.sideRead(i) {
		// sideCheck's read: as above, the last chunk holds the size
		// claimed, so the Size is the object's; the range is answered
		// once its own reads are over.
		g.sideBusy = false
		c, size := g.man.Chunks[i].Addr, uint64(g.man.Chunks[i].Size)
		if uint64(len(data)) != size {
			s.claimWrong(g, sizeLie(c, g.sideOff, uint64(len(data)), size))
			return
		}
		if !s.cfg.BugServeUnverified {
			s.groups.put(c, g.sideOff, size, nil)
		}
		s.rangeRead(g)
		return
	}
	g.parts[i-g.first] = data
	g.pending--
	s.rangeRead(g)
}

// rangeRead answers g once its range's chunks and its side check
// (sideCheck) are over, else starts the reads its window allows.
func (s *Storage) rangeRead(g *getOp) {
	if g.pending > 0 {
		s.pumpGet(g)
		return
	}
	if g.sideBusy {
		return
	}
	// Every chunk verified against its key at its offset, and the keys
	// against the address (checkFor, when the manifest was written or
	// fetched), so the range is verified: no second pass over the bytes.
	// A range within one chunk is that chunk's slice (no copy: the reply
	// owns the bytes the disk returned), unless it is a small part of it,
	// which is copied so that a kept reply does not pin the chunk.
	//
	// Every chunk's length was checked against its claimed size (the
	// check of a whole read, fetchChunk, groupRead's verified length), so
	// the slices below lie within the bytes read; a part that does not is
	// still refused here rather than sliced past its end (into a lent
	// buffer's spare capacity) or panicking.
	skip := g.offset - g.firstOff - g.firstPart
	if len(g.parts) == 1 {
		if p := g.parts[0]; skip > uint64(len(p)) || g.length > uint64(len(p))-skip {
			s.claimWrong(g, fmt.Errorf("%w: %d bytes read of chunk %s, the range needs %d from %d", errChunkSize, len(p), g.man.Chunks[g.first].Addr.Short(), g.length, skip))
			return
		}
		out := g.parts[0][skip : skip+g.length : skip+g.length]
		if 2*g.length < uint64(len(g.parts[0])) {
			out = slices.Clone(out)
		}
		s.replyGet(g, out)
		return
	}
	// Over several chunks the range is their slices (Get.Parts: no copy,
	// the reply owns the chunks the disk returned) or one copy of them.
	pieces := make([][]byte, 0, len(g.parts))
	var n uint64
	for k, p := range g.parts {
		// Every part but the last is read to its chunk's end (from
		// firstPart for the first): it must hold exactly that; the last
		// must hold what the range still needs.
		want := uint64(g.man.Chunks[g.first+k].Size)
		if k == 0 {
			want -= g.firstPart
		}
		rest := g.length - n
		if (k < len(g.parts)-1 && uint64(len(p)) != want) || skip > uint64(len(p)) || (k == len(g.parts)-1 && uint64(len(p))-skip < rest) {
			s.claimWrong(g, fmt.Errorf("%w: %d bytes read of chunk %s, want %d", errChunkSize, len(p), g.man.Chunks[g.first+k].Addr.Short(), want))
			return
		}
		p = p[skip:] // skip is within the first chunk (span)
		skip = 0
		if uint64(len(p)) > rest {
			p = p[:rest:rest]
		}
		pieces = append(pieces, p)
		n += uint64(len(p))
	}
	if g.wantParts {
		s.replyGetParts(g, pieces)
		return
	}
	out := make([]byte, 0, g.length)
	for _, p := range pieces {
		out = append(out, p...)
	}
	s.replyGet(g, out)
}

// claimWrong is called when a chunk's bytes, verified against its key,
// are not the size g's manifest (or the GetChunk request) claims, or the
// chunk is placed off its offset (errChunkOffset), once the read that
// found it is counted as arrived (pending). The request is bad
// (ErrBadRequest: a GetChunk's size), or the manifest (ErrBadManifest),
// which a get drops and asks the next candidate (dropManifest). Nothing is counted
// as corruption and no chunk is marked damaged.
func (s *Storage) claimWrong(g *getOp, err error) {
	if g.chunkReq && errors.Is(err, errChunkOffset) {
		// A GetChunk's offsets are a manifest's (the gateway's
		// GetManifest, which checks them against the index, but a commit
		// may have located the chunk since): the manifest is bad, a 502
		// for the reader, not its request.
		s.reject(ReasonMalformed)
		s.finishGet(g, fmt.Errorf("%w: %s: %w", ErrBadManifest, g.addr.Short(), err))
		return
	}
	if g.chunkReq {
		s.reject(ReasonBadRequest)
		s.finishGet(g, fmt.Errorf("%w: %w", ErrBadRequest, err))
		return
	}
	s.reject(ReasonMalformed)
	if o := g.own; o != nil && s.index.objects[g.addr] == o {
		// This node's own manifest, proven wrong by bytes verified
		// against their keys (or by its index): later gets skip it
		// rather than pay a read each to prove it again. No peer's word
		// sets this (a refusal is not proof: fetchChunk), so no peer can
		// make this node ignore an honest manifest. The manifest stays
		// on disk, served to peers that ask (each proves the lie itself)
		// and kept by repair and GC as before: nothing is dropped.
		o.lies = true
	}
	err = fmt.Errorf("%w: %s: %w", ErrBadManifest, g.addr.Short(), err)
	s.dropManifest(g, err)
}

// dropManifest discards g's manifest, which proved bad (err): no more
// chunk reads start, and once the reads in flight are over (their bytes
// discarded: readStale) g forgets the manifest and its chunk phase and
// asks the next candidate (fetchManifest), failing with err when none is
// left. A liar advertising the object thus costs a get one candidate, not
// the get; a get never stores or pushes a manifest it fetched. This
// node's own committed manifest (a lying peer's commit, of an earlier
// build or one the commit check could not judge) is dropped for this get alone, which then asks the
// candidates as if it held none: the lie stays on disk (nothing here
// rewrites a committed manifest) and every get pays a read to find it.
// The retries are bounded by the candidates, each asked once (candNext),
// and by the get's deadline.
func (s *Storage) dropManifest(g *getOp, err error) {
	g.badManifest = err
	g.dropping = true
	g.man = Manifest{} // a reply while dropping (the deadline) must not carry its Size
	s.restartWhenIdle(g)
}

// readStale is called first by every chunk read's completion: it reports
// whether the read is to be ignored, because g has finished or is
// dropping its manifest (the read is then counted as over, and the last
// one restarts g).
func (s *Storage) readStale(g *getOp, i int) bool {
	if g.finished {
		return true
	}
	if !g.dropping {
		return false
	}
	g.readOver(i)
	s.restartWhenIdle(g)
	return true
}

// restartWhenIdle restarts a dropping g on the next candidate once no
// chunk read of it is in flight: the chunk phase starts over (the bytes
// read are dropped with the manifest that located them, and a lent
// buffer is written by one read at a time).
func (s *Storage) restartWhenIdle(g *getOp) {
	if g.inflight() > 0 {
		return
	}
	g.dropping = false
	g.man, g.own = Manifest{}, nil
	g.endCheck, g.endErr = false, nil
	g.sideBusy, g.sideOff = false, 0
	g.length = g.askedLength
	g.first, g.last, g.firstOff, g.firstPart = 0, 0, 0, 0
	g.offsets, g.parts = nil, nil
	g.next, g.pending = 0, 0
	s.fetchManifest(g)
}

// replyGetParts answers a Get.Parts read with its chunks' slices.
func (s *Storage) replyGetParts(g *getOp, parts [][]byte) {
	s.endGet(g)
	s.env.Reply(g.req, GetResult{Parts: parts, Size: g.man.Size})
}

func (s *Storage) replyGet(g *getOp, data []byte) {
	s.endGet(g)
	if g.restore != nil {
		g.restore(data, nil)
		return
	}
	if g.manifestOnly {
		s.env.Reply(g.req, ManifestResult{Manifest: g.man})
		return
	}
	s.env.Reply(g.req, GetResult{Data: data, Size: g.man.Size})
}

// endGet forgets g before its reply: no later event answers it again.
func (s *Storage) endGet(g *getOp) {
	g.finished = true
	delete(s.gets, g.id)
	s.env.CancelTimer(g.timer)
	if g.restore == nil {
		s.env.Metrics().Observe(MetricGetLatency, "", s.env.Now().Sub(g.started).Seconds())
	}
}

func (s *Storage) finishGet(g *getOp, err error) {
	if g.finished {
		return
	}
	s.endGet(g)
	if g.restore != nil {
		g.restore(nil, err)
		return
	}
	if g.manifestOnly {
		s.env.Reply(g.req, ManifestResult{Err: err})
		return
	}
	size := g.man.Size
	if err != nil && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrRange) {
		// An error reply carries no Size: the claim may be unproven (a
		// fetched manifest whose last chunk was not verified: the side
		// check or checkEnd failed, or the deadline came first). ErrTooLarge
		// and ErrRange are answered only after checkEnd (or from this
		// node's own manifest), and their callers read the Size.
		size = 0
	}
	s.env.Reply(g.req, GetResult{Size: size, Err: err})
}

// fetchChunkWide is fetchChunkFrom over cands (the object's placement
// nodes, and for a get the providers its manifest search asked), then,
// when none served chunk c because every copy found was corrupt
// (ErrCorruption) or none had it (ErrNotFound), over the other members
// the DHT names as providers of the object obj: a copy held outside the
// placement (a hand-off's kept copy, a pinned put's coordinator, a node
// the placement moved from) serves the chunk, verified at its offset as
// any fetched chunk is. The lookup (at most ProviderCandidatesMax
// providers, each asked once per chunk) is lu's: one per object for the
// chunks of one get or one heal pass (providerLookup); a provider
// outside Config.Members is never asked. When no provider serves it
// either, done gets the placement's error.
func (s *Storage) fetchChunkWide(obj, c proto.Addr, off uint64, cands []proto.NodeID, lu *providerLookup, done func([]byte, error)) {
	s.fetchChunkFrom(c, off, cands, func(data []byte, err error) {
		if err == nil || s.cfg.DHT == nil || errors.Is(err, errOffsetRefused) ||
			!errors.Is(err, ErrCorruption) && !errors.Is(err, ErrNotFound) {
			done(data, err)
			return
		}
		s.lookupProviders(lu, obj, func(providers []proto.NodeID) {
			var more []proto.NodeID
			for _, p := range providers {
				if len(more) < ProviderCandidatesMax && p != s.self && s.member(p) && !slices.Contains(cands, p) && !slices.Contains(more, p) {
					more = append(more, p)
				}
			}
			if len(more) == 0 {
				done(nil, err)
				return
			}
			s.fetchChunkFrom(c, off, more, func(data []byte, werr error) {
				if werr != nil {
					done(nil, err)
					return
				}
				done(data, nil)
			})
		})
	})
}

// providerLookup is one DHT lookup of an object's providers, shared by
// the chunk fetches of one get (getOp.wide) or, per object, of one heal
// pass (healDamaged) that every placement copy failed (fetchChunkWide).
// Before, each such chunk looked the object up again: a get of an object
// with every placement copy of many chunks rotten made one lookup per
// chunk, each the same question within the same seconds. The first
// fetch starts it, those that fail meanwhile wait for its answer
// (at most a get's window or a pass's heals), later ones take it.
//
// An answer is final when the DHT gave no error or named providers. A
// lookup that failed with none (ErrOverloaded: LookupsInflightMax in
// flight; ErrTimeout; ErrNoContacts) is no answer: its waiters wait for
// a new lookup, started at once, up to ProviderLookupsMax per get or
// heal pass; then the last one's (empty) answer is final, for its
// waiters and later fetches alike. Before, the first failure was final:
// an overloaded DHT at the first rotten chunk failed every later one
// with ErrCorruption, where a lookup of each chunk's own could succeed.
type providerLookup struct {
	inflight, done bool
	lookups        int // started
	providers      []proto.NodeID
	waiters        []func([]proto.NodeID)
}

// lookupProviders gives then the providers of obj from lu, starting its
// lookup if none is in flight (a nil lu: a lookup of its own).
func (s *Storage) lookupProviders(lu *providerLookup, obj proto.Addr, then func([]proto.NodeID)) {
	if lu == nil {
		lu = &providerLookup{}
	}
	if lu.done {
		then(lu.providers)
		return
	}
	lu.waiters = append(lu.waiters, then)
	if !lu.inflight {
		s.startProviderLookup(lu, obj)
	}
}

// startProviderLookup asks the DHT for the providers of obj for lu's
// waiters, again while a lookup fails and ProviderLookupsMax allow.
func (s *Storage) startProviderLookup(lu *providerLookup, obj proto.Addr) {
	lu.inflight = true
	lu.lookups++
	s.cfg.DHT.FindProvidersAsync(obj, ProviderCandidatesMax, func(res dht.ProvidersResult) {
		lu.inflight = false
		if res.Err != nil && len(res.Providers) == 0 && lu.lookups < ProviderLookupsMax {
			// No answer: the waiters wait for the next lookup (the
			// DHT may refuse it at once again; ProviderLookupsMax
			// bounds the tries).
			s.startProviderLookup(lu, obj)
			return
		}
		lu.done = true
		for _, rec := range res.Providers {
			lu.providers = append(lu.providers, rec.Provider)
		}
		waiters := lu.waiters
		lu.waiters = nil
		for _, w := range waiters {
			w(lu.providers)
		}
	})
}

// fetchChunkFrom asks the candidates in turn for chunk c (at object
// offset off) until one returns bytes that hash to c at off. A corrupt
// answer is counted and skipped. done gets the bytes, or else the first
// of: errOffsetRefused when a candidate said it holds c at another offset
// (statusBad: not proof, a peer can lie, but the caller's offset is
// suspect), wrapping ErrUnavailable if another candidate did not answer
// (it may serve c there) or answered statusCorrupt (an honest holder
// answers it only at the chunk's known offset, but a liar may too);
// ErrCorruption when a holder found its copy corrupt, or a peer served
// bytes that do not verify; ErrUnavailable when some did not answer;
// ErrNotFound when none had it.
func (s *Storage) fetchChunkFrom(c proto.Addr, off uint64, cands []proto.NodeID, done func([]byte, error)) {
	type seen struct{ corrupt, garbage, refused, timedOut bool }
	var try func(next int, was seen)
	try = func(next int, was seen) {
		if next >= len(cands) {
			switch {
			case was.refused && (was.timedOut || was.corrupt):
				// A silent holder may serve the chunk where asked, and a
				// corrupt answer says the offset is right, if it is
				// honest: the manifest may be, and the get retryable.
				done(nil, fmt.Errorf("%w: %w: chunk %s at offset %d, and another holder was silent or found it corrupt", ErrUnavailable, errOffsetRefused, c.Short(), off))
			case was.refused:
				// Not ErrNotFound: the object exists, its holders say so.
				done(nil, fmt.Errorf("%w: chunk %s at offset %d", errOffsetRefused, c.Short(), off))
			case was.corrupt:
				done(nil, fmt.Errorf("%w: every copy of chunk %s was corrupt", ErrCorruption, c.Short()))
			case was.garbage:
				done(nil, fmt.Errorf("%w: every copy of chunk %s served was corrupt", ErrCorruption, c.Short()))
			case was.timedOut:
				done(nil, fmt.Errorf("%w: no replica of chunk %s answered", ErrUnavailable, c.Short()))
			default:
				done(nil, fmt.Errorf("%w: chunk %s", ErrNotFound, c.Short()))
			}
			return
		}
		sent := s.call(cands[next], &message{kind: kindFetchChunk, addr: c, offset: off}, func(reply *message, err error) {
			switch {
			case err != nil:
				was.timedOut = true
			case reply.status == statusOK && (s.cfg.BugServeUnverified || chunkMatches(c, off, reply.data)):
				done(reply.data, nil)
				return
			case reply.status == statusOK:
				s.corruption(cands[next]) // the peer served bytes that do not verify
				was.garbage = true
			default:
				was.corrupt = was.corrupt || reply.status == statusCorrupt
				was.timedOut = was.timedOut || reply.status == statusBusy
				was.refused = was.refused || reply.status == statusBad
			}
			try(next+1, was)
		})
		if !sent {
			done(nil, fmt.Errorf("%w: too many requests in flight", ErrBusy))
		}
	}
	try(0, seen{})
}

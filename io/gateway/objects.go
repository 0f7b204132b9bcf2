package gateway

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ron-network/ron/core/audit"
	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/storage"
)

// putObject (PUT /o) streams the body into storage: see stream.go.

// deleteObject unpins the object and drops this node's copy: 204. Other
// replicas keep theirs until their own garbage collection.
func (g *Gateway) deleteObject(req *request) *apiError {
	addr, err := proto.ParseAddr(req.r.PathValue("addr"))
	if err != nil {
		return errorf(http.StatusBadRequest, CodeBadAddress, "%v", err)
	}
	if e := g.authorize(req, auth.OpDelete, addr.String(), 0); e != nil {
		return e
	}
	_, err = call(g, req, storage.Delete{Addr: addr})
	g.edge.remove(addr) // after the storage call, so that no read refills it; even on error
	g.sizes.remove(addr)
	if err != nil {
		return mapError(err, true)
	}
	_ = g.auditRequest(req, audit.KindDelete, addr.String(), "")
	req.w.WriteHeader(http.StatusNoContent)
	return nil
}

// etag is a's strong entity tag: its text in double quotes, made in one
// allocation (it is on every GET's path).
func etag(a proto.Addr) string {
	var buf [proto.AddrTextBytes + 2]byte
	buf[0] = '"'
	copy(buf[1:], proto.AddrPrefix)
	hex.Encode(buf[1+len(proto.AddrPrefix):], a[:])
	buf[len(buf)-1] = '"'
	return string(buf[:])
}

// Header values every object response shares. net/http only reads a
// response's header values, and a later Add appends to a copy (each
// slice is full), so one slice serves every response.
var (
	valueBytes       = []string{"bytes"}
	valueNosniff     = []string{"nosniff"}
	valueOctetStream = []string{"application/octet-stream"}
	valueImmutable   = []string{cacheImmutable}
)

// getObject serves GET and HEAD /o/{addr}.
func (g *Gateway) getObject(req *request) *apiError {
	addr, err := proto.ParseAddr(req.pathAddr())
	if err != nil {
		return errorf(http.StatusBadRequest, CodeBadAddress, "%v", err)
	}
	return g.serveObject(req, addr, cacheImmutable)
}

// serveObject answers with the object's bytes under the given cache
// policy, honouring HEAD, the preconditions (If-Match, If-None-Match,
// conditional.go), Range and If-Range. A plain GET takes one call for a
// small object (getWhole); the others first learn the size from the
// manifest (size). Small objects and ranges are read in one call, larger
// ones are streamed chunk by chunk (stream.go).
func (g *Gateway) serveObject(req *request, addr proto.Addr, cacheControl string) *apiError {
	h := req.w.Header()
	// Canonical keys assigned directly: Set would canonicalise each and
	// allocate each value's slice.
	req.etagValue[0] = etag(addr)
	h["Etag"] = req.etagValue[:]
	h["Accept-Ranges"] = valueBytes
	if cacheControl == cacheImmutable {
		h["Cache-Control"] = valueImmutable
	} else {
		h["Cache-Control"] = []string{cacheControl}
	}
	h["X-Content-Type-Options"] = valueNosniff
	// Direct lookups: net/http canonicalised the request's header keys.
	rangeHeader := headerValue(req.r.Header, "Range")
	conditional := headerList(req.r.Header, "If-None-Match") != "" || headerList(req.r.Header, "If-Match") != ""
	if req.r.Method == http.MethodGet && rangeHeader == "" && !conditional {
		return g.getWhole(req, addr)
	}
	if req.r.Method == http.MethodGet && !conditional {
		if r, size, ok := g.knownRange(req, addr, rangeHeader); ok {
			return g.serveRange(req, addr, r, size)
		}
	}
	size, e := g.size(req, addr)
	if e != nil {
		return e
	}
	switch evaluatePreconditions(req.r.Header, addr) {
	case preconditionFailed:
		return errorf(http.StatusPreconditionFailed, CodePreconditionFailed, "If-Match %q does not name %s", headerList(req.r.Header, "If-Match"), etag(addr))
	case preconditionNotModified:
		req.w.WriteHeader(http.StatusNotModified)
		return nil
	}
	if rangeHeader == "" || req.r.Method == http.MethodHead || !ifRangeMatches(req.r.Header.Get("If-Range"), addr) {
		return g.serveWhole(req, addr, size)
	}
	ranges, verdict := parseRanges(rangeHeader, size)
	switch verdict {
	case rangeIgnore:
		return g.serveWhole(req, addr, size)
	case rangeUnsatisfiable:
		h.Set("Content-Range", fmt.Sprintf("bytes */%d", size))
		return errorf(http.StatusRequestedRangeNotSatisfiable, CodeBadRange, "range %q not satisfiable for %d bytes", rangeHeader, size)
	}
	if len(ranges) == 1 {
		return g.serveRange(req, addr, ranges[0], size)
	}
	return g.serveMultipart(req, addr, ranges, size)
}

// knownRange returns the one range that rangeHeader asks of addr when the
// object's size is known (sizeCache) and too large for the edge cache, and
// the range is satisfiable and read in one call before any header is
// written (at most BufferedReadBytesMax): then serveRange needs no
// manifest call. Any other request takes the general path, which asks
// storage for the manifest.
func (g *Gateway) knownRange(req *request, addr proto.Addr, rangeHeader string) (byteRange, uint64, bool) {
	if rangeHeader == "" || !ifRangeMatches(req.r.Header.Get("If-Range"), addr) {
		return byteRange{}, 0, false
	}
	size, ok := g.sizes.get(addr)
	if !ok || g.edge.fits(size) {
		// An object the edge cache would hold is read whole by the
		// general path (prefetchForRanges), so its ranges come from it.
		return byteRange{}, 0, false
	}
	ranges, verdict := parseRanges(rangeHeader, size)
	if verdict != rangeSatisfiable || len(ranges) != 1 || ranges[0].length > BufferedReadBytesMax {
		return byteRange{}, 0, false
	}
	return ranges[0], size, true
}

func (g *Gateway) serveWhole(req *request, addr proto.Addr, size uint64) *apiError {
	if req.r.Method == http.MethodHead {
		req.w.Header().Set("Content-Type", "application/octet-stream")
		req.w.Header().Set("Content-Length", strconv.FormatUint(size, 10))
		req.w.WriteHeader(http.StatusOK)
		return nil
	}
	return g.writeObject(req, addr, http.StatusOK, 0, size, size)
}

func (g *Gateway) serveRange(req *request, addr proto.Addr, r byteRange, size uint64) *apiError {
	req.w.Header().Set("Content-Range", contentRange(r, size))
	return g.writeObject(req, addr, http.StatusPartialContent, r.start, r.length, size)
}

// serveMultipart is in ranges.go.

func contentRange(r byteRange, size uint64) string {
	return fmt.Sprintf("bytes %d-%d/%d", r.start, r.start+r.length-1, size)
}

func writeBody(req *request, status int, parts ...[]byte) {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	h := req.w.Header()
	h["Content-Type"] = valueOctetStream
	req.lengthValue[0] = strconv.Itoa(n)
	h["Content-Length"] = req.lengthValue[:]
	h["Date"] = dateHeader(time.Now())
	req.w.WriteHeader(status)
	if req.r.Method == http.MethodHead {
		return
	}
	c := connOf(req.r)
	if c == nil || n > corkBytesMax {
		for _, p := range parts {
			if _, err := req.w.Write(p); err != nil {
				return // the client went away
			}
		}
		return
	}
	// One write for headers and body (envelopeConn.cork); the flush hands
	// net/http's buffered bytes to the connection before uncork sends them.
	c.cork()
	defer c.uncork()
	for _, p := range parts {
		_, _ = req.w.Write(p)
	}
	flush(req.w)
}

// flush sends what w buffered to the connection: it is
// http.ResponseController's Flush without its allocation.
func flush(w http.ResponseWriter) {
	for {
		switch t := w.(type) {
		case http.Flusher:
			t.Flush()
			return
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return
		}
	}
}

// readParts fetches the range [offset, offset+length) (length > 0) as
// storage's verified chunk slices (storage.Get.Parts), so a range over
// several chunks is written out from the chunks the disk read instead of
// being copied into one buffer first; the reads go into buffers of
// chunkBufs (storage.Get.Into), which the caller returns with release
// once the parts are written (they may share them). A range the edge
// cache holds is one part and lends nothing.
func (g *Gateway) readParts(req *request, addr proto.Addr, offset, length uint64) ([][]byte, []*[]byte, *apiError) {
	if data, _, hit, _ := g.readCached(req, addr, offset, length); hit {
		return [][]byte{data}, nil, nil
	}
	// One buffer per chunk of the default size the range spans (storage
	// reads a chunk that does not fit, or has no buffer, into a fresh
	// slice), so a small range does not hold 512 KiB of buffers.
	lent := make([]*[]byte, 0, (offset+length-1)/StreamChunkBytes-offset/StreamChunkBytes+1)
	into := make([][]byte, 0, cap(lent))
	for range cap(lent) {
		b := chunkBufs.Get().(*[]byte)
		lent, into = append(lent, b), append(into, *b)
	}
	res, err := call(g, req, storage.Get{Addr: addr, Offset: offset, Length: length, Parts: true, Into: into})
	if err != nil {
		// A read may still fill a lent buffer: none is recycled.
		return nil, nil, mapError(err, false)
	}
	if res.Parts != nil {
		return res.Parts, lent, nil
	}
	return [][]byte{res.Data}, lent, nil
}

// dateValue is the Date header of one second.
type dateValue struct {
	unix  int64
	value []string
}

// dateNow is the Date header last made (shared: net/http only reads it).
var dateNow atomic.Pointer[dateValue]

// dateHeader is the Date header for t, formatted once per second rather
// than by net/http on every response (3% of rond's CPU on 4 KiB GETs).
func dateHeader(t time.Time) []string {
	sec := t.Unix()
	if d := dateNow.Load(); d != nil && d.unix == sec {
		return d.value
	}
	d := &dateValue{unix: sec, value: []string{t.UTC().Format(http.TimeFormat)}}
	dateNow.Store(d)
	return d.value
}

// read fetches [offset, offset+length) (length 0: to the end).
func (g *Gateway) read(req *request, addr proto.Addr, offset, length uint64) ([]byte, uint64, *apiError) {
	data, size, hit, generation := g.readCached(req, addr, offset, length)
	if hit {
		return data, size, nil
	}
	res, err := call(g, req, storage.Get{Addr: addr, Offset: offset, Length: length})
	if err != nil {
		return nil, 0, mapError(err, false)
	}
	g.fillCached(addr, offset, length, res, generation)
	return res.Data, res.Size, nil
}

// size learns the object's size from its manifest, which storage checked
// against the address (its chunk keys merge to the BLAKE3 root) and,
// when fetched from a peer, whose Size storage proved by the last chunk's
// verified length (core/storage's checkEnd: the keys do not bind it), so
// the gateway reads or hashes no chunk for it; when no source serves
// that chunk GetManifest fails with the chunk's error (503 while its
// holders are unreachable), not an unproven Size. An empty object's
// manifest says 0.
func (g *Gateway) size(req *request, addr proto.Addr) (uint64, *apiError) {
	if size, hit := g.sizeCached(req, addr); hit {
		return size, nil
	}
	man, e := g.manifest(req, addr)
	if e != nil {
		return 0, e
	}
	g.sizes.put(addr, man.Size)
	g.prefetchForRanges(req, addr, man.Size)
	return man.Size, nil
}

// headerValue is h.Get(key) for a canonical key, without canonicalising it.
func headerValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// headerList is the value of the list header key (canonical, not
// canonicalised) with all its field lines joined by ", ", which RFC 9110
// 5.3 makes one list: `If-None-Match: "a"` then `If-None-Match: "b"` is
// `"a", "b"`. Singleton headers keep headerValue (a repeated one is
// refused: singletonHeaders).
func headerList(h http.Header, key string) string {
	v := h[key]
	switch len(v) {
	case 0:
		return ""
	case 1:
		return v[0]
	}
	return strings.Join(v, ", ")
}

// etagMatches implements If-None-Match's weak comparison against our one
// strong tag: "*" or any listed tag equal to it, W/ prefix ignored.
func etagMatches(header string, addr proto.Addr) bool {
	want := etag(addr)
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == "*" || tag == want {
			return true
		}
	}
	return false
}

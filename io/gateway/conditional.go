package gateway

import (
	"net/http"
	"strings"

	"github.com/ron-network/ron/core/proto"
)

// CodePreconditionFailed is the envelope code of a 412: an If-Match named
// no tag of the object served (RFC 9110 13.1.1). It lives here rather than
// with the other codes because only conditional requests produce it.
const CodePreconditionFailed = "PRECONDITION_FAILED"

// Cache policies of the two read paths. An object address never changes
// meaning, so /o/{addr} is immutable; a name moves when its owner sets it,
// so /n/{name} may be stored but must be revalidated on every use (its
// ETag is the target's, so a revalidation costs a 304 while the name
// stays put).
const (
	cacheImmutable  = "public, max-age=31536000, immutable"
	cacheRevalidate = "no-cache"
)

// precondition is what evaluating a request's preconditions decided.
type precondition uint8

const (
	preconditionProceed     precondition = iota // serve the object (ranges per If-Range)
	preconditionNotModified                     // 304
	preconditionFailed                          // 412
)

// evaluatePreconditions follows RFC 9110 13.2.2 for a GET or HEAD of an
// object that exists (a missing object is a 404 before any precondition,
// 13.2.1). Objects carry a strong ETag and no Last-Modified, which settles
// the date-based fields: If-Unmodified-Since and If-Modified-Since are
// ignored (13.1.4 and 13.1.3: a recipient MUST ignore them when the
// resource has no modification date), and a date in If-Range never
// matches (ifRangeMatches). If-Match and If-None-Match are lists: all
// their field lines count (headerList), not only the first.
func evaluatePreconditions(h http.Header, addr proto.Addr) precondition {
	if im := headerList(h, "If-Match"); im != "" && !ifMatchMatches(im, addr) {
		return preconditionFailed
	}
	if inm := headerList(h, "If-None-Match"); inm != "" && etagMatches(inm, addr) {
		return preconditionNotModified
	}
	return preconditionProceed
}

// ifMatchMatches implements If-Match's strong comparison: "*" (the object
// exists) or a listed tag equal to ours; a weak tag never matches.
func ifMatchMatches(header string, addr proto.Addr) bool {
	want := etag(addr)
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || tag == want {
			return true
		}
	}
	return false
}

// ifRangeMatches reports whether a Range may be honoured under If-Range
// (RFC 9110 13.1.5): only an entity tag that strongly matches ours. A weak
// tag never matches, and neither does a date, since objects have no
// Last-Modified; the caller then sends the whole object with 200, so a
// resumed download never splices two different objects.
func ifRangeMatches(header string, addr proto.Addr) bool {
	return header == "" || strings.TrimSpace(header) == etag(addr)
}

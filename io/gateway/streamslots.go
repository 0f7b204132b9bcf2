package gateway

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/ron-network/ron/core/env"
)

// ShedStreamSlots counts, in omnigate_shed_total, the streamed responses
// refused because StreamedResponsesMax of them were open.
const ShedStreamSlots = "stream_slots"

// MetricStreamedResponses is the gauge of the streamed responses open.
const MetricStreamedResponses = "gateway_streamed_responses"

var _ = env.Declare(
	env.MetricDef{Name: MetricStreamedResponses, Kind: env.Gauge,
		Help: "GET responses with a body of more than 1 MiB (streamed or written in one call, whole, ranges, multipart answers) open, each holding an admission slot until its last byte."},
)

// streamedResponsesMax is Config.StreamedResponsesMax with its default:
// half of the admission in-flight cap (128 of 256), at least 1; negative:
// no bound (0 returned). A streamed response holds its admission slot
// until its client has read its last byte, which a client that never
// reads makes the write-progress bound (about 90 s); RequestsPerSource
// holds one address to 64, but four addresses held all 256 and every
// other request was refused 503. With this cap they hold at most 128,
// and the other 128 slots stay for small reads (one storage call, done
// in milliseconds) and writes.
func streamedResponsesMax(cfg Config) int {
	switch n := cfg.StreamedResponsesMax; {
	case n < 0:
		return 0
	case n > 0:
		return n
	}
	return max(1, cfg.Admission.WithDefaults().InflightMax/2)
}

// streamSlots counts the streamed responses open: one mutex and a
// counter.
type streamSlots struct {
	max     int // 0: no bound
	metrics env.Metrics
	mu      sync.Mutex
	open    int
}

func newStreamSlots(max int, metrics env.Metrics) *streamSlots {
	metrics.Set(MetricStreamedResponses, "", 0)
	return &streamSlots{max: max, metrics: metrics}
}

// take counts one streamed response, or answers its refusal: 503
// OVERLOADED with Retry-After, before any header, counted as
// ShedStreamSlots (by the caller's envelope).
func (s *streamSlots) take() *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.max > 0 && s.open >= s.max {
		return &apiError{status: http.StatusServiceUnavailable, code: CodeOverloaded, retryable: true, retryAfter: time.Second,
			reason: ShedStreamSlots, shed: ShedStreamSlots,
			message: fmt.Sprintf("streamed read: %d streamed responses are open, the limit; small reads and writes are still served", s.max)}
	}
	s.open++
	s.metrics.Set(MetricStreamedResponses, "", float64(s.open))
	return nil
}

// release uncounts one response take counted.
func (s *streamSlots) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open--
	s.metrics.Set(MetricStreamedResponses, "", float64(s.open))
}

// bodySlot takes a streamed-response slot for a GET response whose body
// is more than BufferedReadBytesMax bytes, however it is produced: the
// chunk fetcher, a whole object or a range read in one call or from the
// edge cache (up to edgecache.EntryBytesMax), a multipart answer. Such a
// body is more than the socket buffers take at once, so its handler,
// and its admission slot, last until the client has read most of it: a
// client that never reads holds it for the write-progress bound (about
// 90 s) whether the body is streamed or written in one Write. held says
// a slot was taken: the caller releases it (g.streams.release, deferred)
// once the body is written. Call it before WriteHeader: a refusal is an
// ordinary 503 envelope. A HEAD, or a body of at most
// BufferedReadBytesMax, takes none.
func (g *Gateway) bodySlot(req *request, n uint64) (held bool, e *apiError) {
	if n <= BufferedReadBytesMax || req.r.Method == http.MethodHead {
		return false, nil
	}
	if e := g.streams.take(); e != nil {
		return false, e
	}
	return true, nil
}

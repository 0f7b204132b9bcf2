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
		Help: "Streamed GET responses (large bodies and ranges, large multipart answers) open, each holding an admission slot until its last byte."},
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

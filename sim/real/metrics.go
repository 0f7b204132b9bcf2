package real

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/sim/runner"
)

// MetricGoroutines is the Go collector's goroutine count, which rond's
// /metrics exports (io/runtime registers the collector).
const MetricGoroutines = "go_goroutines"

// MetricsBytesMax bounds one /metrics scrape.
const MetricsBytesMax = 4 << 20

// ScrapeTimeout bounds one /metrics scrape.
const ScrapeTimeout = 5 * time.Second

// scraped is what the report needs from a node's /metrics: the registry's
// commit latency histogram (cumulative bucket counts by upper bound) and
// its leader changes.
type scraped struct {
	buckets       map[float64]float64
	sum, count    float64
	leaderChanges float64
	// clusterVersion is registry_cluster_version (0: not reported); not
	// summed by add.
	clusterVersion float64
	// goroutines is go_goroutines (-1 when absent); not summed by add.
	goroutines float64
}

func (s *scraped) add(o scraped) {
	if s.buckets == nil {
		s.buckets = map[float64]float64{}
	}
	for le, v := range o.buckets {
		s.buckets[le] += v
	}
	s.sum += o.sum
	s.count += o.count
	s.leaderChanges += o.leaderChanges
}

// parseMetrics reads the lines of the Prometheus text format it needs.
func parseMetrics(data []byte) scraped {
	out := scraped{buckets: map[float64]float64{}, goroutines: -1}
	hist := registry.MetricCommitLatency
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, valueText, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		value, err := strconv.ParseFloat(strings.TrimSpace(valueText), 64)
		if err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(name, hist+`_bucket{le="`):
			leText := strings.TrimSuffix(strings.TrimPrefix(name, hist+`_bucket{le="`), `"}`)
			le, err := strconv.ParseFloat(leText, 64)
			if leText == "+Inf" {
				le, err = math.Inf(1), nil
			}
			if err == nil {
				out.buckets[le] = value
			}
		case name == hist+"_sum":
			out.sum = value
		case name == hist+"_count":
			out.count = value
		case name == registry.MetricLeaderChanges:
			out.leaderChanges = value
		case name == registry.MetricClusterVersion:
			out.clusterVersion = value
		case name == MetricGoroutines:
			out.goroutines = value
		}
	}
	return out
}

// quantile estimates quantile q of a cumulative histogram by linear
// interpolation inside the bucket that holds it (Prometheus's
// histogram_quantile).
func (s *scraped) quantile(q float64) float64 {
	if s.count == 0 {
		return 0
	}
	bounds := make([]float64, 0, len(s.buckets))
	for le := range s.buckets {
		bounds = append(bounds, le)
	}
	sort.Float64s(bounds)
	rank := q * s.count
	lower, below := 0.0, 0.0
	for _, le := range bounds {
		cum := s.buckets[le]
		if cum >= rank {
			if math.IsInf(le, 1) {
				return lower
			}
			if cum == below {
				return le
			}
			return lower + (le-lower)*(rank-below)/(cum-below)
		}
		lower, below = le, cum
	}
	return lower
}

// metricsBank keeps each node's figures across restarts: a process's
// counters start at zero, so its last scrape before a kill is banked.
type metricsBank struct {
	mu     sync.Mutex
	banked scraped
}

// scrape reads n's /metrics (zero figures when it does not answer).
func (n *node) scrape() scraped { return n.scrapeWithin(ScrapeTimeout) }

func (n *node) scrapeWithin(timeout time.Duration) scraped {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	status, body, err := n.doLimited(ctx, "/metrics")
	if err != nil || status != http.StatusOK {
		return scraped{goroutines: -1}
	}
	return parseMetrics(body)
}

// doLimited GETs path with a body limit fit for /metrics.
func (n *node) doLimited(ctx context.Context, path string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.url()+path, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MetricsBytesMax))
	return resp.StatusCode, body, err
}

// bank adds n's current figures before its process dies.
func (b *metricsBank) bank(n *node) {
	s := n.scrape()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.banked.add(s)
}

// total is the banked figures plus every up node's current ones.
func (b *metricsBank) total(c *cluster) scraped {
	b.mu.Lock()
	out := scraped{}
	out.add(b.banked)
	b.mu.Unlock()
	for _, n := range c.nodes {
		if n.isUp() {
			out.add(n.scrape())
		}
	}
	return out
}

// fillMetrics puts the figures into the report where `ronsim run` puts
// the simulator's: the commit latency summary and the leader changes.
func fillMetrics(rep *runner.Report, s scraped) {
	sum := runner.Summary{Count: uint64(s.count), P50: s.quantile(0.5), P95: s.quantile(0.95), P99: s.quantile(0.99)}
	if s.count > 0 {
		sum.Mean = s.sum / s.count
	}
	rep.SLO[registry.MetricCommitLatency] = sum
	if s.leaderChanges > 0 {
		rep.Counters[registry.MetricLeaderChanges] = s.leaderChanges
	}
	if rep.Registry != nil {
		rep.Registry.CommitLatency = sum
		rep.Registry.LeaderChanges = s.leaderChanges
	}
}

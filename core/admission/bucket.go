package admission

import (
	"time"

	"github.com/ron-network/ron/core/env"
)

// bucket is a token bucket: tokens refill at a rate up to a burst.
type bucket struct {
	tokens float64
	last   env.Time
}

// take refills b at rate up to burst and takes one token; when empty it
// returns how long until one is available.
func (b *bucket) take(now env.Time, rate, burst float64) (time.Duration, bool) {
	b.refill(now, rate, burst)
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) / rate * float64(time.Second)), false
	}
	b.tokens--
	return 0, true
}

func (b *bucket) refill(now env.Time, rate, burst float64) {
	if now > b.last {
		b.tokens = min(burst, b.tokens+time.Duration(now-b.last).Seconds()*rate)
		b.last = now
	}
}

// full reports whether b has refilled to burst by now.
func (b *bucket) full(now env.Time, rate, burst float64) bool {
	return b.tokens+time.Duration(max(now-b.last, 0)).Seconds()*rate >= burst
}

// buckets is a map of buckets bounded by limit: a new key recycles a
// bucket that has refilled completely (dropping it loses nothing: a new one
// starts full), else the one least recently used (which can only favour
// its owner).
type buckets struct {
	rate, burst float64
	limit       int
	m           map[string]*bucket
}

func newBuckets(rate, burst float64, limit int) buckets {
	return buckets{rate: rate, burst: burst, limit: limit, m: map[string]*bucket{}}
}

func (bs *buckets) get(now env.Time, key string) *bucket {
	b := bs.m[key]
	if b == nil {
		bs.recycle(now)
		b = &bucket{tokens: bs.burst, last: now}
		bs.m[key] = b
	}
	return b
}

func (bs *buckets) take(now env.Time, key string) (time.Duration, bool) {
	return bs.get(now, key).take(now, bs.rate, bs.burst)
}

func (bs *buckets) recycle(now env.Time) {
	if len(bs.m) < bs.limit {
		return
	}
	var oldest string
	var oldestAt env.Time
	found := false
	// The recycled key never reaches an output: any full bucket is as good
	// as another (dropping it changes no answer), and among non-full ones
	// the least recent is chosen, ties broken by key.
	// map order ok: the choice does not depend on it (see above)
	for k, b := range bs.m {
		if b.full(now, bs.rate, bs.burst) {
			delete(bs.m, k)
			return
		}
		if !found || b.last < oldestAt || (b.last == oldestAt && k < oldest) {
			oldest, oldestAt, found = k, b.last, true
		}
	}
	delete(bs.m, oldest)
}

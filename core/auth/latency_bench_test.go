package auth

import (
	"slices"
	"testing"
	"time"
)

// verifyLatencySamples is how many verifies one BenchmarkVerifyLatency
// iteration times one by one; 100k gives a p99 from 1,000 tail samples.
const verifyLatencySamples = 100_000

// BenchmarkVerifyLatency times each of verifyLatencySamples verifies of
// the BenchmarkVerify token and reports p50/p95/p99/max in ns (the goal is
// p99 under 20 µs). One iteration is the whole batch and the
// percentiles are of the last batch; with -benchtime 1x ns/op is the
// batch's wall time. Timing single calls adds the cost of two clock reads
// (tens of ns) to every sample.
func BenchmarkVerifyLatency(b *testing.B) {
	tok := mustMint(b, Ops(OpRead, OpWrite), Expiry(t0.Add(time.Hour)), Prefix("b3:ab"), MaxBytes(1<<20), Audience("c1"))
	text := tok.Encode()
	v := testVerifier(NewMemRevocations())
	req := Request{Op: OpWrite, Resource: "b3:ab12", Tenant: "acme", Bytes: 1000, Now: t0}
	samples := make([]time.Duration, verifyLatencySamples)
	b.ReportAllocs()
	for b.Loop() {
		for i := range samples {
			start := time.Now()
			ok := v.Verify(text, req).Allowed()
			samples[i] = time.Since(start)
			if !ok {
				b.Fatal("denied")
			}
		}
	}
	slices.Sort(samples)
	at := func(q float64) float64 { return float64(samples[int(q*float64(len(samples)-1))].Nanoseconds()) }
	b.ReportMetric(at(0.50), "p50-ns")
	b.ReportMetric(at(0.95), "p95-ns")
	b.ReportMetric(at(0.99), "p99-ns")
	b.ReportMetric(at(1), "max-ns")
}

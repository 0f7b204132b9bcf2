package simdisk

import (
	"fmt"
	"time"
)

// LatencyDefault is the service time of one op when Faults.Latency is zero:
// a fast local SSD.
const LatencyDefault = 50 * time.Microsecond

// SyncLatencyFactor is how much longer a Sync takes than any other op.
const SyncLatencyFactor = 4

// Faults is the disk's fault configuration: one flat struct where the zero
// value means a healthy disk (latency LatencyDefault, no jitter, no faults,
// every unsynced write lost at a crash).
type Faults struct {
	// Latency is the service time of one op before jitter; 0 means
	// LatencyDefault. A Sync costs SyncLatencyFactor times as much.
	Latency time.Duration
	// LatencyJitter scales each service time by a uniform factor in
	// [1-j, 1+j]; it must lie in [0, 1].
	LatencyJitter float64
	// ReadErrorProb is the probability that a Get or Scan fails with an
	// error wrapping env.ErrDiskIO.
	ReadErrorProb float64
	// WriteErrorProb is the probability that a Put, Delete, Batch or Sync
	// fails with an error wrapping env.ErrDiskIO. A failed write changes
	// nothing; a failed Sync makes nothing durable.
	WriteErrorProb float64
	// CorruptReadProb is the probability that a Get or Scan returns one
	// value with one bit flipped, silently. The stored value stays intact.
	CorruptReadProb float64
	// CorruptWriteProb is the probability that a Put or Batch stores one
	// value with one bit flipped, silently.
	CorruptWriteProb float64
	// TornWriteProb is the probability that, at a crash, the last surviving
	// unsynced write has its value truncated or garbled.
	TornWriteProb float64
	// UnsyncedSurviveProb: at a crash the survivors are a prefix of the
	// unsynced writes; each next one survives with this probability,
	// stopping at the first that does not.
	UnsyncedSurviveProb float64
	// Full makes every write (Put, Delete, Batch) fail with an error
	// wrapping env.ErrDiskFull; reads and syncs still work.
	Full bool
}

// Validate reports the first field outside its domain.
func (f Faults) Validate() error {
	if f.Latency < 0 {
		return fmt.Errorf("simdisk: latency %v is negative", f.Latency)
	}
	probabilities := []struct {
		name  string
		value float64
	}{
		{"latency jitter", f.LatencyJitter},
		{"read error probability", f.ReadErrorProb},
		{"write error probability", f.WriteErrorProb},
		{"corrupt read probability", f.CorruptReadProb},
		{"corrupt write probability", f.CorruptWriteProb},
		{"torn write probability", f.TornWriteProb},
		{"unsynced survive probability", f.UnsyncedSurviveProb},
	}
	for _, p := range probabilities {
		// Written as a negated range check so that NaN is rejected too.
		if !(p.value >= 0 && p.value <= 1) {
			return fmt.Errorf("simdisk: %s %v outside [0, 1]", p.name, p.value)
		}
	}
	return nil
}

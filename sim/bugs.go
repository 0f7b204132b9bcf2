package sim

import "github.com/ron-network/ron/sim/simdisk"

// Bug selects deliberately wrong simulator variants, each a way the world
// could be gentler than the faults it claims to inject (a cut that lets
// frames through, a crash that keeps unsynced writes). They exist so that
// `make canary` can prove the fault-effect accounting and the faults_bit
// check catch a simulator that stopped biting. Config.Bug is honoured only
// in canary builds (go test -tags canary); normal builds ignore it. Each
// variant still records the fault as injected, as a real bug would.
type Bug uint32

// Simulator canary variants.
const (
	BugIsolateLeaks       Bug = 1 << iota // Isolate adds no cut
	BugSplitLeaks                         // Partition adds no cut
	BugOneWayLeaks                        // CutOneWay adds no cut
	BugBridgeLeaks                        // Bridge adds no cut
	BugNoLoss                             // frames drawn lost are delivered
	BugNoDuplicate                        // frames drawn duplicated are not
	BugNoReorder                          // frames drawn reordered keep their latency
	BugClockIgnored                       // SetClock leaves the clock alone
	BugPauseIgnored                       // Pause holds nothing
	BugCrashKeepsUnsynced                 // a crash keeps every unsynced write
	BugNoCorruptRead                      // corrupt_read is not applied
	BugNoCorruptWrite                     // corrupt_write is not applied
	BugNoReadError                        // read_error is not applied
	BugNoWriteError                       // write_error is not applied
	BugFullIgnored                        // a full disk accepts writes
	BugTornIgnored                        // a crash never tears a surviving write
)

// has reports whether the world runs with bug b (never outside canary
// builds).
func (w *World) has(b Bug) bool { return simCanary && w.cfg.Bug&b != 0 }

// diskApplied is what the disk really gets for claimed faults f.
func (w *World) diskApplied(f simdisk.Faults) simdisk.Faults {
	if w.has(BugNoCorruptRead) {
		f.CorruptReadProb = 0
	}
	if w.has(BugNoCorruptWrite) {
		f.CorruptWriteProb = 0
	}
	if w.has(BugNoReadError) {
		f.ReadErrorProb = 0
	}
	if w.has(BugNoWriteError) {
		f.WriteErrorProb = 0
	}
	if w.has(BugFullIgnored) {
		f.Full = false
	}
	return f
}

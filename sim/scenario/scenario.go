package scenario

import (
	"strconv"
	"strings"
	"time"

	"github.com/ron-network/ron/core/stack"
)

// Limits. Every list, count and value a scenario file can make large is
// bounded here, so a malformed or hostile file is rejected with a message
// instead of exhausting memory in the loader or the simulator.
const (
	// DurationMax bounds a run's simulated length and every other duration.
	DurationMax = 24 * time.Hour
	// NodeCountMax is the largest cluster a scenario may describe (DHT
	// scaling runs use 10,000 to 100,000 nodes).
	NodeCountMax = 100_000
	// RegistryReplicasMax is the largest registry (raft) group.
	RegistryReplicasMax = 7
	// ClientsMax bounds the simulated clients of a workload.
	ClientsMax = 10_000
	// RatePerSecondMax bounds a workload's total operation rate.
	RatePerSecondMax = 10_000_000
	// NamesMax bounds the distinct names of a registry workload.
	NamesMax = 100_000
	// ObjectsMax bounds the distinct objects of a content workload.
	ObjectsMax = 100_000
	// ObjectBytesMax bounds one object of a content workload.
	ObjectBytesMax = 1 << 30
	// BandwidthBytesPerSecondMax bounds a node's uplink (1 TB/s).
	BandwidthBytesPerSecondMax = 1_000_000_000_000
	// FaultsMax bounds the fault timeline.
	FaultsMax = 10_000
	// SLOBudgetsMax bounds the budgets of one slo check.
	SLOBudgetsMax = 256
	// ClockOffsetMax bounds the absolute value of a clock offset.
	ClockOffsetMax = DurationMax
	// ClockDriftMax bounds the absolute value of a clock drift (0.5 means
	// the node's clock runs 50% fast).
	ClockDriftMax = 0.5
	// FaultsPerMinuteMax bounds random crash and partition rates.
	FaultsPerMinuteMax = 1_000
	// NameBytesMax and DescriptionBytesMax bound the free-text fields.
	NameBytesMax        = 256
	DescriptionBytesMax = 16 << 10
	// FileBytesMax bounds a scenario file.
	FileBytesMax = 4 << 20
	// ErrorsMax bounds the errors one Parse reports; the rest are dropped
	// (a file with fifty errors needs fixing before the fifty-first helps).
	ErrorsMax = 50
)

// Defaults for omitted fields.
const (
	LatencyP50Default        = 2 * time.Millisecond
	LatencyP99Default        = 20 * time.Millisecond
	TimeoutDefault           = 2 * time.Second
	NamesDefault             = 16
	RestartAfterDefault      = 3 * time.Second
	PartitionForDefault      = 5 * time.Second
	LivenessWithinDefault    = 10 * time.Second
	ConvergenceWithinDefault = 30 * time.Second
	// The lookups check's defaults are ARCHITECTURE 5.3's SLO: at least 99% of
	// lookups find the closest live node, in at most 3.5 hops on average
	// and 6 at the 99th percentile. The exact-K ratio is not bounded.
	LookupSuccessDefault  = 0.99
	LookupHopsMeanDefault = 3.5
	LookupHopsP99Default  = 6
	// LookupHopsMax bounds the hop budgets a file may give.
	LookupHopsMax = 1000
)

// Fault kinds (Fault.Kind).
const (
	KindPartition = "partition"
	KindCrash     = "crash"
	KindPause     = "pause"
	KindClock     = "clock"
	KindDisk      = "disk"
	KindNetwork   = "network"
	// KindUpgrade and KindDowngrade are written in a file but never held
	// in Fault.Kind: Parse turns them into a KindCrash whose Crash.Swap
	// names them (see Crash).
	KindUpgrade   = "upgrade"
	KindDowngrade = "downgrade"
	// KindWipe is written in a file but never held in Fault.Kind either:
	// Parse turns `wipe: nX` into a KindCrash with Crash.Wipe set.
	KindWipe = "wipe"
)

// Dynamic targets. A target is otherwise a node name n1..nCount.
const (
	// TargetLeader is the registry leader at injection time; it needs a
	// registry (Nodes.RegistryReplicas > 0).
	TargetLeader = "leader"
	// TargetRandom is a node drawn from the faults PRNG stream.
	TargetRandom = "random"
	// TargetAll is every node; only disk faults accept it.
	TargetAll = "all"
)

// Check names (Check.Name).
const (
	CheckLinearizable = "linearizable"
	CheckLiveness     = "liveness"
	CheckDurability   = "durability"
	CheckIntegrity    = "integrity"
	CheckConvergence  = "convergence"
	CheckSessions     = "sessions"
	CheckSLO          = "slo"
	CheckLookups      = "lookups"
	CheckRevocation   = "revocation"
	// CheckRegistryLatency bounds the registry's commit p99 and the
	// longest leader failover (registry workloads).
	CheckRegistryLatency = "registry_latency"
	// The edge checks (workload.edge): DRR fairness, reads served while
	// writes are shed, readiness under overload, every refusal counted.
	CheckFairness         = "fairness"
	CheckReadAvailability = "read_availability"
	CheckReadiness        = "readiness"
	CheckRefusals         = "refusals"
	// CheckAuditRetention: the audit section's appends made retention
	// drop segments on every node, and each log still verifies from its
	// base with every acknowledged append after the base held.
	CheckAuditRetention = "audit_retention"
)

// Scenario is one parsed, validated scenario file. Every default is filled
// in, so a consumer never has to know the defaults: Workload.Stop is set,
// latencies are set, check windows are set.
//
// Optional sections are pointers (nil = section absent). Faults keep the
// file's order; they are not sorted by time. Targets stay strings ("n3",
// "leader", "random", "all") because "leader" and "random" can only be
// resolved by the runner at injection time.
type Scenario struct {
	Name        string
	Description string
	Duration    time.Duration
	// Seed is the file's default seed; nil when absent (the CLI decides).
	Seed         *uint64
	Nodes        Nodes
	Network      Network
	Disk         Disk
	Workload     *Workload
	Faults       []Fault
	RandomFaults *RandomFaults
	Adversary    *Adversary
	// Audit is the nodes' audit retention and appends (nil = absent).
	Audit *Audit
	// Swarm is the file's `swarm:` section (nil = absent). The method that
	// draws from it is DrawSwarm: Go does not allow a field and a method of
	// one name.
	Swarm  *Swarm
	Checks []Check
	// Source is the file name given to Parse; Marshal does not write it.
	Source string
}

// Nodes is the cluster shape: nodes n1..nCount, of which n1..nRegistryReplicas
// are registry replicas.
type Nodes struct {
	Count            int
	RegistryReplicas int
	// Off lists the optional services (core/stack: dht, storage, audit)
	// the nodes do not run; OffGiven is false when the file does not say,
	// and then the runner keeps off the services the workload does not use
	// (see scenarios/README.md).
	Off      stack.Optional
	OffGiven bool
}

// Latency is a one-way link latency distribution given by two quantiles.
type Latency struct {
	P50, P99 time.Duration
}

// Network holds the network defaults applied to every link.
type Network struct {
	Latency   Latency
	Loss      float64
	Duplicate float64
	Reorder   float64
	// BandwidthBytesPerSecond is each node's uplink; 0 means unlimited.
	BandwidthBytesPerSecond int64
}

// Disk holds disk fault probabilities; zero means off (STYLE 17).
type Disk struct {
	Latency time.Duration
	// LatencyJitter scales Latency by a uniform factor in [1-j, 1+j].
	LatencyJitter   float64
	ReadError       float64
	WriteError      float64
	CorruptRead     float64
	CorruptWrite    float64
	TornWrite       float64
	UnsyncedSurvive float64
}

// Workload describes the simulated clients.
type Workload struct {
	Clients       int
	RatePerSecond float64
	Timeout       time.Duration
	Start         time.Duration
	// Stop is when clients stop issuing; Parse sets it to the scenario's
	// Duration when omitted.
	Stop  time.Duration
	Names int
	// Adversarial is the share of registry sets sent by an adversary: a
	// signature by the wrong key, a forged signature, or a replay of a set
	// acknowledged earlier (0: none).
	Adversarial float64
	// Pins is the share of content puts sent pinned (0: none).
	Pins float64
	// Unpins is the share of content operations that unpin (storage
	// Delete, on the node that acknowledged it) a pinned put acknowledged
	// earlier, half of them followed by a pinned put of the same object
	// to the same node, racing that node's garbage collection (0: none).
	Unpins  float64
	Mix     Mix
	Objects *Objects
	// Tokens is the capability-check workload (nil: none).
	Tokens *Tokens
	// Edge is the clients that enter through the nodes' edge (nil: none).
	Edge *Edge
}

// Mix holds operation weights as written in the file (not normalised; see
// Normalized). Every weight is >= 0.
type Mix struct {
	Claim, Set, Resolve, StaleResolve float64
	Put, Get, RangeGet, Lookup        float64
	// SessionPut is the weight of content puts streamed through an upload
	// session (core/storage's PutBegin, PutChunk, PutCommit) in pieces,
	// some of them abandoned midway (0: none, and no draw is made).
	SessionPut float64
}

// Total is the sum of the weights.
func (m Mix) Total() float64 {
	return m.Claim + m.Set + m.Resolve + m.StaleResolve + m.Put + m.Get + m.RangeGet + m.Lookup + m.SessionPut
}

// Normalized returns the weights scaled to sum to 1; a zero mix stays zero.
func (m Mix) Normalized() Mix {
	total := m.Total()
	if total <= 0 {
		return Mix{}
	}
	return Mix{
		Claim: m.Claim / total, Set: m.Set / total, Resolve: m.Resolve / total,
		StaleResolve: m.StaleResolve / total, Put: m.Put / total, Get: m.Get / total,
		RangeGet: m.RangeGet / total, Lookup: m.Lookup / total, SessionPut: m.SessionPut / total,
	}
}

// Content is the sum of the content operations' weights.
func (m Mix) Content() float64 { return m.Put + m.Get + m.RangeGet + m.SessionPut }

// UsesContent reports whether any content operation has a positive weight.
func (m Mix) UsesContent() bool {
	return m.Put > 0 || m.Get > 0 || m.RangeGet > 0 || m.SessionPut > 0
}

// UsesRegistry reports whether any registry operation has a positive weight.
func (m Mix) UsesRegistry() bool {
	return m.Claim > 0 || m.Set > 0 || m.Resolve > 0 || m.StaleResolve > 0
}

// Objects describes the content workload's objects; sizes are drawn in
// [SizeMinBytes, SizeMaxBytes].
type Objects struct {
	Count        int
	SizeMinBytes int64
	SizeMaxBytes int64
}

// Tokens describes the capability-check workload: Count tokens minted with
// the cluster key, of which the last Expiring expire at ExpireAt (run
// time) and, when RevokeAt > 0, the first is revoked through the registry
// at RevokeAt. Probers present random tokens to random nodes' authz service
// at RatePerSecond in all.
type Tokens struct {
	Count         int
	Expiring      int
	ExpireAt      time.Duration
	RevokeAt      time.Duration
	RatePerSecond float64
}

// Fault is one item of the timeline. Exactly one of the kind pointers is set,
// the one named by Kind.
//
// For is the window length for partition, pause, clock, disk and network
// faults, and zero for crash (a crash ends with Crash.RestartAfter, or never).
type Fault struct {
	At, For time.Duration
	Kind    string
	// Line is the fault's line in the source file (0 when built in code).
	Line int

	Partition *Partition
	Crash     *Crash
	Pause     *Pause
	Clock     *Clock
	Disk      *DiskFault
	Network   *NetworkFault
}

// End returns when the fault's window closes in a run of length runEnd: At+For,
// At+RestartAfter for a crash that restarts, and runEnd for one that does not.
func (f *Fault) End(runEnd time.Duration) time.Duration {
	if f.Crash != nil {
		if f.Crash.RestartAfter == 0 {
			return runEnd
		}
		return f.At + f.Crash.RestartAfter
	}
	return f.At + f.For
}

// Partition is one network cut; exactly one field is set.
//
// Isolate cuts one node (a name, "leader" or "random") from all others.
// OneWay drops messages from every From node to every To node, not back.
// Groups splits the cluster into groups that only talk inside themselves;
// nodes listed in no group form one more group together. Bridge cuts Left
// from Right while Via talks to both; unlisted nodes talk to everyone.
type Partition struct {
	Isolate string
	OneWay  *OneWay
	Groups  [][]string
	Bridge  *Bridge
}

// OneWay is a directional cut.
type OneWay struct {
	From, To []string
}

// Bridge is a split joined by one node.
type Bridge struct {
	Left, Right []string
	Via         string
}

// Crash stops a node, dropping every unsynced write; it restarts from durable
// state after RestartAfter, or stays down when RestartAfter is zero.
//
// Swap is "" for a plain crash, KindUpgrade or KindDowngrade for a node
// the file upgrades or downgrades (`upgrade: {node: n2}`). The simulator
// has one build, so it runs a swap as the crash it holds (restart_after
// defaults to RestartAfterDefault); `ronsim real --rond-old` stops the
// node with SIGTERM instead, migrates its data dir and restarts it on the
// other binary (sim/real).
//
// Wipe is true for `wipe: nX`: the crashed node's disk is erased, durable
// state included, before it restarts; its identity (node key) is kept, as
// for a node restarted on a new empty data directory. Raft state is lost
// while the group still counts the replica (core/registry doc.go,
// "Amnesia"). A wipe is never a swap.
type Crash struct {
	Target       string
	RestartAfter time.Duration
	Swap         string
	Wipe         bool
}

// Pause stalls a node (no inputs are delivered) for the fault's window; its
// state and its disk's unsynced writes survive.
type Pause struct {
	Target string
}

// Clock skews one node's clock for the window: the node reads
// true + Offset + Drift*(true - At).
type Clock struct {
	Node   string
	Offset time.Duration
	Drift  float64
}

// DiskFault overrides disk fields for one node (or "all") during the window.
// A nil field keeps the node's current value (Apply).
type DiskFault struct {
	Node            string
	Latency         *time.Duration
	LatencyJitter   *float64
	ReadError       *float64
	WriteError      *float64
	CorruptRead     *float64
	CorruptWrite    *float64
	TornWrite       *float64
	UnsyncedSurvive *float64
	// Full makes every write fail with a "disk full" error.
	Full bool
}

// Apply returns base with the fault's set fields replacing base's.
func (f *DiskFault) Apply(base Disk) Disk {
	setDuration(&base.Latency, f.Latency)
	setFloat(&base.LatencyJitter, f.LatencyJitter)
	setFloat(&base.ReadError, f.ReadError)
	setFloat(&base.WriteError, f.WriteError)
	setFloat(&base.CorruptRead, f.CorruptRead)
	setFloat(&base.CorruptWrite, f.CorruptWrite)
	setFloat(&base.TornWrite, f.TornWrite)
	setFloat(&base.UnsyncedSurvive, f.UnsyncedSurvive)
	return base
}

// NetworkFault temporarily replaces network defaults; a nil field keeps the
// current value (Apply). Latency, when set, is complete: Parse fills a
// quantile the file omits from the top-level network section.
type NetworkFault struct {
	Latency                 *Latency
	Loss                    *float64
	Duplicate               *float64
	Reorder                 *float64
	BandwidthBytesPerSecond *int64
}

// Apply returns base with the fault's set fields replacing base's.
func (f *NetworkFault) Apply(base Network) Network {
	if f.Latency != nil {
		base.Latency = *f.Latency
	}
	setFloat(&base.Loss, f.Loss)
	setFloat(&base.Duplicate, f.Duplicate)
	setFloat(&base.Reorder, f.Reorder)
	if f.BandwidthBytesPerSecond != nil {
		base.BandwidthBytesPerSecond = *f.BandwidthBytesPerSecond
	}
	return base
}

func setFloat(dst *float64, src *float64) {
	if src != nil {
		*dst = *src
	}
}

func setDuration(dst *time.Duration, src *time.Duration) {
	if src != nil {
		*dst = *src
	}
}

// RandomFaults asks the runner to inject crashes and partitions at random
// times drawn from the faults PRNG stream.
type RandomFaults struct {
	CrashesPerMinute    float64
	RestartAfter        time.Duration
	PartitionsPerMinute float64
	PartitionFor        time.Duration
	// Survivable makes the runner keep a majority of registry replicas up
	// and connected.
	Survivable bool
}

// Range is an inclusive-exclusive draw interval [Min, Max); Min == Max
// always draws Min.
type Range struct {
	Min, Max float64
}

// Swarm holds the per-seed draw ranges of `ronsim explore`; nil = not drawn.
type Swarm struct {
	Loss            *Range
	Duplicate       *Range
	Reorder         *Range
	CorruptRead     *Range
	CorruptWrite    *Range
	ReadError       *Range
	WriteError      *Range
	UnsyncedSurvive *Range
	CrashRate       *Range
	PartitionRate   *Range
}

// Check is one property the runner verifies after (or during) the run.
type Check struct {
	Name string
	// Within is the liveness/convergence bound (defaults filled in); zero
	// for other checks.
	Within time.Duration
	// SLO holds the budgets of an slo check, sorted by metric then stat.
	// An empty list (a bare `slo`) means the budgets in specs/.
	SLO []SLOBudget
	// Lookups holds the bounds of a lookups check (defaults filled in);
	// zero for other checks.
	Lookups LookupBudgets
	// Registry holds the budgets of a registry_latency check (defaults
	// filled in); zero for other checks.
	Registry RegistryLatency
	// Line is the check's line in the source file (0 when built in code).
	Line int
}

// LookupBudgets bound the DHT lookup workload's figures: the share of
// lookups whose result holds the closest live node is at least Success,
// the share that found exactly the K closest live nodes is at least Exact,
// and the mean and 99th percentile of the hops are at most HopsMean and
// HopsP99.
type LookupBudgets struct {
	Success, Exact    float64
	HopsMean, HopsP99 float64
}

// RegistryLatency bounds a registry run's latency: the 99th percentile of
// registry_commit_latency_seconds over the run is at most CommitP99, and
// the longest failover (the longest time during the workload in which no
// write was answered from the log while writes were being asked for) is
// at most Election, and the share of the writes invoked while a majority
// of replicas was up and connected that ended unanswered (unknown outcome
// or unavailable: at their deadline) is at most Unanswered.
type RegistryLatency struct {
	CommitP99, Election time.Duration
	Unanswered          float64
}

// Registry latency defaults: the seed's index budget (specs/slo
// index_resolve_p99, 80 ms: a commit is the same round trip to a quorum a
// linearizable resolve makes), and three times raft's longest randomised
// election timeout (2 x ElectionTicks x 10 ms = 1 s): a detection, one
// split vote and a client's retry. Unanswered, 0.5% of the writes that had
// a quorum in reach: in explore sweeps (swarm) of the shipped registry
// scenarios the share peaks at 0.13% (disk_faults, 90 seeds), with none
// in 300 seeds of partition.yaml (amnesia, 0.41%, and clock_skew, 0.33%,
// set their own); with replicas that stop retrying their pending ops (a
// non-replica still does) partition.yaml reads 1.4-3.8%, crash_restart
// 1.2-2.5%, disk_faults 0.8-2.0% and adversarial 0.8-1.6%.
const (
	RegistryCommitP99Default  = 80 * time.Millisecond
	RegistryElectionDefault   = 3 * time.Second
	RegistryUnansweredDefault = 0.005
)

// SLOBudget bounds one statistic of one metric: Stat(Metric) <= Max.
type SLOBudget struct {
	Metric string
	// Stat is one of mean, p50, p95, p99, max.
	Stat string
	Max  float64
}

// NodeIndex maps a node name to its zero-based index: "n1" -> 0. It accepts
// exactly "n" followed by a decimal number >= 1 without leading zeros; it
// does not know the cluster size (compare the index with Nodes.Count).
func NodeIndex(name string) (int, bool) {
	digits, ok := strings.CutPrefix(name, "n")
	if !ok || digits == "" || digits[0] == '0' || len(digits) > 9 {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(digits)
	if err != nil {
		return 0, false
	}
	return n - 1, true
}

// NodeName is the inverse of NodeIndex: 0 -> "n1".
func NodeName(index int) string {
	return "n" + strconv.Itoa(index+1)
}

// IsRegistryReplica reports whether the named node is a registry replica.
func (s *Scenario) IsRegistryReplica(name string) bool {
	i, ok := NodeIndex(name)
	return ok && i < s.Nodes.RegistryReplicas
}

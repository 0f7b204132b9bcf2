package storage

import (
	"fmt"
	"time"

	"github.com/ron-network/ron/core/dht"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
)

// Limits. Every queue and map of the machine is bounded by one of these;
// when a bound is hit the work is shed and counted in storage_rejects_total.
const (
	// frameOverheadMax is the most bytes a storage frame adds around its
	// data: the OAP/1 header plus kind, address, status and a length
	// varint, rounded up generously.
	frameOverheadMax = 1 << 10
	// ChunkBytesMax bounds a chunk so that it travels in one OAP/1 frame
	// with its header (ARCHITECTURE 5.1 says "at most 1 MiB"; the frame cap of
	// exactly 1 MiB forces the small discount).
	ChunkBytesMax = oap.FrameBytesMax - frameOverheadMax
	// ChunkBytesMin bounds Config.ChunkBytes from below, so that a manifest
	// of the largest object fits in one frame.
	ChunkBytesMin = 4 << 10
	// ChunkBytesDefault is the chunk size when Config.ChunkBytes is zero.
	ChunkBytesDefault = 256 << 10
	// ObjectBytesMax bounds one object (the simulator's limit; production
	// streams larger objects later).
	ObjectBytesMax = 64 << 20
	// ManifestChunksMax bounds the chunks of one manifest.
	ManifestChunksMax = ObjectBytesMax / ChunkBytesMin
	// manifestEntryBytesMax is one encoded chunk entry: address plus a
	// size varint of at most 3 bytes (sizes are below 2^21).
	manifestEntryBytesMax = proto.IDBytes + 3
	// ManifestBytesMax bounds an encoded manifest.
	ManifestBytesMax = 32 + ManifestChunksMax*manifestEntryBytesMax

	// InflightPutsMax bounds puts being replicated by this node and not
	// yet answered (acknowledged puts still pushing are trailing).
	InflightPutsMax = 32
	// TrailingPutsMax and TrailingPutBytesMax bound the acknowledged puts
	// whose pushes to the other placement nodes are still open (put.go,
	// trail): past either, the oldest is let go (its pushes cancelled,
	// hand-offs recorded for the nodes it did not reach). The bytes count
	// each one's object bytes and manifest in memory, or for a committed
	// session the chunk reads its push windows may hold.
	TrailingPutsMax     = 64
	TrailingPutBytesMax = 256 << 20
	// InflightGetsMax bounds gets being assembled by this node.
	InflightGetsMax = 64
	// RPCsInflightMax bounds outstanding peer requests.
	RPCsInflightMax = 1024
	// TrailingRPCsMax bounds the requests the trailing puts' pushes hold
	// (half of RPCsInflightMax): a trailing push that needs one more, or a
	// put that starts trailing with its pushes' requests, lets the oldest
	// trailing puts go until it fits (put.go, roomForTrailingCall), so the
	// active puts, the gets, repair and hand-offs keep the other half.
	TrailingRPCsMax = RPCsInflightMax / 2
	// RPCAttemptsMax is how often one request is sent before it fails.
	RPCAttemptsMax = 4
	// PushWindowMax bounds the chunks one push has in flight.
	PushWindowMax = 8
	// GetWindowMax bounds the chunks one get has in flight. 8, so that a
	// 1 MiB range's 5 chunks of 256 KiB were all submitted in one step,
	// was tried and measured worse on rond's Range GETs (more context
	// switches per range: the disk runs 4 reads at once, and the fifth
	// waited there instead; BENCHMARKS.md, "Range GET hand-offs").
	GetWindowMax = 4
	// GetChunksMax bounds the chunks of one GetChunks: all its reads are
	// submitted at once, so it is the window.
	GetChunksMax = GetWindowMax
	// DiskJobsMax bounds outstanding groups of disk operations.
	DiskJobsMax = 4096
	// StagedChunksMax bounds chunks received for objects not yet
	// committed, staged or being written (index.stagedSlots). An entry
	// is about 100 bytes of index (key, stagedChunk, map overhead), so
	// the table costs under 1 MiB; its chunks' bytes are on disk, and
	// Config.HeldBytesMax bounds them too. One push stages every chunk
	// of its object until its commit, so a lone sender's room,
	// StagedChunksMax-StagedReserveChunks, is the largest object that
	// replicates: 6144 chunks, 1.5 GiB at ChunkBytesDefault.
	StagedChunksMax = 8192
	// StagedReserveChunks is the free room kept for senders within their
	// share: a sender over it is refused only once fewer slots than this
	// would be left (doc.go, "Staged shares").
	StagedReserveChunks = StagedChunksMax / 4
	// StagedSenderChunksMax and StagedSenderBytesMax are one sender's
	// share of the staged table (its staged chunks plus its StoreChunk
	// writes in flight): a quarter of the chunks, and 256 MiB (four
	// objects of ObjectBytesMax). The share applies only under pressure:
	// a sender over it is refused (storage_rejects_total{reason=
	// "sender_share"}) while the table's free room is below
	// StagedReserveChunks, or, with Config.HeldBytesMax, the held bytes'
	// below a quarter of it. One member flooding pushes it never commits
	// thus takes the table only down to the reserve, which the others'
	// pushes still stage in (doc.go, "Staged shares").
	StagedSenderChunksMax = StagedChunksMax / 4
	StagedSenderBytesMax  = 256 << 20
	// FetchReadsPerSenderMax bounds one sender's FetchChunk reads in
	// flight here: each holds up to ChunkBytesMax of memory from its read
	// to its reply, so one member asking for a large chunk 400,000 times
	// held gigabytes (bounded only by DiskJobsMax). It is an honest
	// node's own bound on what it asks of one holder, all its gets at
	// their window (InflightGetsMax * GetWindowMax); beyond it a
	// FetchChunk is answered busy and counted as
	// storage_rejects_total{reason="fetch_share"}.
	FetchReadsPerSenderMax = InflightGetsMax * GetWindowMax
	// LocalObjectsMax bounds the objects held by this node.
	LocalObjectsMax = 1 << 16
	// LostPinsMax bounds the pins without a manifest recovery lists
	// (Storage.lostPins); the records beyond it stay on disk, unlisted
	// until a later start.
	LostPinsMax = 1024
	// KeptPinsMax bounds the pins recovery keeps whose manifest is on
	// disk but not indexed (Storage.keptPins); the records beyond it stay
	// on disk, unlisted until a later start.
	KeptPinsMax = 1024
	// LostPinRetryMax caps the backoff of a lost pin's restore, which
	// doubles from Config.RepairInterval after each failure.
	LostPinRetryMax = 10 * time.Minute
	// RepairObjectsPerTickMax bounds the objects one repair tick audits.
	RepairObjectsPerTickMax = 8
	// RepairAuditsMax bounds audits (and the pushes they start) in flight.
	RepairAuditsMax = 16
	// DamagedChunksMax bounds local chunks known to be corrupt or missing
	// and waiting for a healthy copy.
	DamagedChunksMax = 256
	// HealsPerTickMax bounds the damaged chunks one tick starts to heal.
	HealsPerTickMax = 4
	// ProvidesPerTickMax bounds the DHT announcements one tick starts.
	ProvidesPerTickMax = 16
	// ProvideQueueMax bounds announcements waiting for a tick.
	ProvideQueueMax = LocalObjectsMax
	// ScanPageMax is the page size of the recovery scans (a manifest is at
	// most ManifestBytesMax, so a page stays under 10 MiB).
	ScanPageMax = 16
	// PushCommitRoundsMax bounds how often a push resends chunks a replica
	// reported missing at commit.
	PushCommitRoundsMax = 3
	// ProviderCandidatesMax bounds the providers a get asks the DHT for.
	ProviderCandidatesMax = 8
	// ProviderLookupsMax bounds the DHT lookups of an object's providers
	// one get or heal pass starts while they fail (providerLookup).
	ProviderLookupsMax = 3
	// ScrubSkipsPerStepMax bounds the chunks and objects one scrub step
	// passes without a read (marked damaged, proven lies) before it waits.
	ScrubSkipsPerStepMax = 64
)

// Defaults of Config.
const (
	ReplicasDefault       = 3
	WriteQuorumDefault    = 2
	RPCTimeoutDefault     = 250 * time.Millisecond
	PutTimeoutDefault     = 10 * time.Second
	GetTimeoutDefault     = 10 * time.Second
	RepairIntervalDefault = time.Second
	StagedTTLDefault      = 30 * time.Second
	// ScrubBytesPerSecondDefault is the background scrub's read rate.
	ScrubBytesPerSecondDefault = 8 << 20
	// ScrubPassIntervalDefault is the pause after one scrub pass ends
	// and before the next starts: a held chunk is read once per pass plus
	// this pause (a pass over 1 TiB at the default rate takes about 36
	// hours). A restart resumes the pass from its cursor record
	// (ScrubCursorInterval; doc.go, Scrub); a restart during the pause
	// waits the rest of it (the pass-end record holds when the pass
	// ended), at most one pause.
	ScrubPassIntervalDefault = 24 * time.Hour
	// ScrubCursorInterval is the least env time between two writes
	// of the scrub's cursor record (scrub.go, doc.go Scrub): a restart
	// resumes the pass from the last record that reached the disk, so at
	// most about this long of scrubbing (ScrubCursorInterval times the
	// rate: 480 MiB at the default) is repeated, and the record costs one
	// small unsynced write per interval, plus at most one synced write at
	// each pass's end (the zero address, durable before the next pass
	// starts).
	ScrubCursorInterval = time.Minute
)

// DHT is what storage needs from the Kademlia machine; *dht.DHT satisfies
// it. Closest returns ids from the local routing table (this node is not
// among them) sorted by XOR distance; the caller owns the slice.
// ProvideAsync and FindProvidersAsync call done exactly once, possibly
// before they return; done runs inside whatever input the DHT is handling.
type DHT interface {
	Closest(target proto.NodeID, n int) []proto.NodeID
	ProvideAsync(addr proto.Addr, done func(dht.ProvideResult))
	FindProvidersAsync(addr proto.Addr, max int, done func(dht.ProvidersResult))
}

// Config configures a storage machine. Zero values mean the defaults.
type Config struct {
	// Members is the static membership (the simulator's). When set it is
	// used for placement and DHT is used only for announcements.
	Members []proto.NodeID
	// DHT places objects when Members is empty and receives provider
	// announcements. One of Members and DHT must be set.
	DHT DHT

	Replicas       int // R: nodes each object is placed on
	WriteQuorum    int // W: synced replicas before a put is acknowledged
	ChunkBytes     int // chunk size of new objects
	ObjectBytes    int // largest accepted object, at most ObjectBytesMax
	RPCTimeout     time.Duration
	PutTimeout     time.Duration
	GetTimeout     time.Duration
	RepairInterval time.Duration
	StagedTTL      time.Duration // how long received chunks wait for a commit
	SessionTTL     time.Duration // how long an idle upload session lives
	// HeldBytesMax, when positive, bounds the bytes peers may push into
	// this node: a StoreChunk that would take the bytes held (committed
	// objects, staged chunks, chunks being written; index.heldBytesBound)
	// past it is refused statusBusy and counted as
	// storage_rejects_total{reason="full"}, before any byte is written.
	// rond sets a micronode's memory_max (its objects live in its heap).
	// Zero: no bound beyond the disk's.
	HeldBytesMax int64
	// RepairOff stops the repair loop from starting audits (the flag
	// "repair" off; SetRepair flips it on a running machine). Puts, gets,
	// healing of local corruption and announcements go on.
	RepairOff bool
	// ScrubBytesPerSecond bounds the background scrub's chunk reads
	// (scrub.go): zero means ScrubBytesPerSecondDefault, a negative
	// value turns the scrub off.
	ScrubBytesPerSecond int
	// ScrubPassInterval is the pause between two passes of the scrub
	// over the held objects (zero: ScrubPassIntervalDefault).
	ScrubPassInterval time.Duration

	// CorruptionFrom, when set, is called each time the node counts
	// corruption (storage_corruption_total) with the node whose bytes
	// failed verification: a peer that served a chunk that does not
	// verify, or this node itself (its disk). Simulator support (its
	// liar_corruption check judges each source); a node ID is no metric
	// label (unbounded), and production leaves it nil.
	CorruptionFrom func(source proto.NodeID)

	// Deliberate bugs for the canary tests; honoured only in builds with
	// the canary tag (see bugs_canary.go).
	BugServeUnverified bool // serve chunks without checking their address
	BugAckBeforeSync   bool // count a replica before its writes are synced
	BugIgnorePins      bool // garbage-collect a copy whether or not it is pinned
	BugRepinLost       bool // store a pinned put of an object once deleted here unpinned
}

func (c Config) withDefaults() Config {
	setInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	setDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	setInt(&c.Replicas, ReplicasDefault)
	setInt(&c.WriteQuorum, WriteQuorumDefault)
	setInt(&c.ChunkBytes, ChunkBytesDefault)
	setInt(&c.ObjectBytes, ObjectBytesMax)
	setDur(&c.RPCTimeout, RPCTimeoutDefault)
	setDur(&c.PutTimeout, PutTimeoutDefault)
	setDur(&c.GetTimeout, GetTimeoutDefault)
	setDur(&c.RepairInterval, RepairIntervalDefault)
	setDur(&c.StagedTTL, StagedTTLDefault)
	setDur(&c.SessionTTL, SessionTTLDefault)
	setInt(&c.ScrubBytesPerSecond, ScrubBytesPerSecondDefault)
	setDur(&c.ScrubPassInterval, ScrubPassIntervalDefault)
	if !canaryBugs {
		c.BugServeUnverified, c.BugAckBeforeSync, c.BugIgnorePins, c.BugRepinLost = false, false, false, false
	}
	return c
}

// Validate reports the first setting out of range, naming it.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case len(c.Members) == 0 && c.DHT == nil:
		return fmt.Errorf("storage: config: neither Members nor DHT is set")
	case c.Replicas < 1:
		return fmt.Errorf("storage: config: Replicas %d < 1", c.Replicas)
	case c.WriteQuorum < 1 || c.WriteQuorum > c.Replicas:
		return fmt.Errorf("storage: config: WriteQuorum %d outside 1..Replicas (%d)", c.WriteQuorum, c.Replicas)
	case c.ChunkBytes < ChunkBytesMin || c.ChunkBytes > ChunkBytesMax:
		return fmt.Errorf("storage: config: ChunkBytes %d outside %d..%d", c.ChunkBytes, ChunkBytesMin, ChunkBytesMax)
	case !validChunkBytes(c.ChunkBytes):
		return fmt.Errorf("storage: config: ChunkBytes %d is not a power of two (chunks are subtrees of the BLAKE3 tree)", c.ChunkBytes)
	case c.HeldBytesMax < 0:
		return fmt.Errorf("storage: config: HeldBytesMax %d < 0", c.HeldBytesMax)
	case c.ObjectBytes < 0 || c.ObjectBytes > ObjectBytesMax:
		return fmt.Errorf("storage: config: ObjectBytes %d outside 0..%d", c.ObjectBytes, ObjectBytesMax)
	case c.RPCTimeout < 0 || c.PutTimeout < 0 || c.GetTimeout < 0 || c.RepairInterval < 0 || c.StagedTTL < 0 || c.SessionTTL < 0 || c.ScrubPassInterval < 0:
		return fmt.Errorf("storage: config: negative duration")
	}
	return nil
}

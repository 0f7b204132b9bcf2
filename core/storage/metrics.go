package storage

import "github.com/ron-network/ron/core/env"

// Metric names (ARCHITECTURE section 8).
const (
	MetricPutLatency         = "storage_put_latency_seconds"
	MetricGetLatency         = "storage_get_latency_seconds"
	MetricReplicationLag     = "storage_replication_lag_seconds"
	MetricCorruption         = "storage_corruption_total"
	MetricObjects            = "storage_objects"
	MetricBytes              = "storage_bytes"
	MetricRepairs            = "storage_repairs_total"
	MetricRepairBackoffs     = "storage_repair_backoffs_total"
	MetricRejects            = "storage_rejects_total"
	MetricOrphansSwept       = "storage_orphans_swept_total"
	MetricHandoffsPending    = "storage_handoffs_pending"
	MetricHandoffsDelivered  = "storage_handoffs_delivered_total"
	MetricHandoffsDropped    = "storage_handoffs_dropped_total"
	MetricHeals              = "storage_heals_total"
	MetricRereads            = "storage_rereads_total"
	MetricScrubBytes         = "storage_scrub_bytes_total"
	MetricScrubObjects       = "storage_scrub_objects_total"
	MetricScrubLies          = "storage_scrub_lies_total"
	MetricScrubPassRatio     = "storage_scrub_pass_ratio"
	MetricPinsLost           = "storage_pins_lost"
	MetricTrailingLetGo      = "storage_trailing_let_go_total"
	replicationLagBucketsMax = 60
)

// Reject reasons of storage_rejects_total.
const (
	ReasonTooLarge   = "too_large"
	ReasonBadRange   = "bad_range"
	ReasonMalformed  = "malformed"
	ReasonBadRequest = "bad_request"
	ReasonBadChunk   = "bad_chunk"
	ReasonOverload   = "overload"
	ReasonRecovering = "recovering"
	// ReasonNotMember: a peer request from a node outside Config.Members
	// (refused without a state change or a byte served).
	ReasonNotMember = "not_member"
	// ReasonFull: a peer's StoreChunk that would take the bytes held
	// past Config.HeldBytesMax (answered statusBusy).
	ReasonFull = "full"
	// ReasonSenderShare: a peer's StoreChunk over its sender's share of
	// the staged table (StagedSenderChunksMax, StagedSenderBytesMax) while
	// the table is under pressure (StagedReserveChunks), answered
	// statusBusy: that sender is pushing faster than it commits.
	ReasonSenderShare = "sender_share"
	// ReasonFetchShare: a peer's FetchChunk over its sender's reads in
	// flight (FetchReadsPerSenderMax), answered statusBusy.
	ReasonFetchShare = "fetch_share"
	// ReasonNewerFormat: a stored manifest written by a newer build,
	// kept on disk for it and not indexed; or a write refused because it
	// names a pin recovery kept with such a manifest (keptPins).
	ReasonNewerFormat = "newer_format"
)

// Sources of storage_heals_total: where the verified bytes that rewrote
// a damaged chunk came from (healWith's via).
const (
	HealReplica = "replica" // fetched from a replica by the tick or a get
	HealPush    = "push"    // a peer's StoreChunk push
	HealPut     = "put"     // a client's put of an object listing it
	HealSession = "session" // a session upload's chunk
)

// Results of storage_rereads_total (reread).
const (
	RereadVerified = "verified"
	RereadFailed   = "failed"
)

// ReplicationLagBuckets spans a fast put (milliseconds) to a repair that
// waits for several paced ticks.
var ReplicationLagBuckets = []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, replicationLagBucketsMax}

var _ = env.Declare(
	env.MetricDef{Name: MetricPutLatency, Kind: env.Histogram, Help: "Time from a put request to its reply.", Buckets: env.LatencyBuckets},
	env.MetricDef{Name: MetricGetLatency, Kind: env.Histogram, Help: "Time from a get request to its reply.", Buckets: env.LatencyBuckets},
	env.MetricDef{Name: MetricReplicationLag, Kind: env.Histogram, Help: "Time from a put's acknowledgement to R replicas, or from finding a missing replica to restoring it.", Buckets: ReplicationLagBuckets},
	env.MetricDef{Name: MetricCorruption, Kind: env.Counter, Help: "Chunks or manifests that failed verification (never served)."},
	env.MetricDef{Name: MetricObjects, Kind: env.Gauge, Help: "Objects held by this node."},
	env.MetricDef{Name: MetricBytes, Kind: env.Gauge, Help: "Bytes of the objects held by this node."},
	env.MetricDef{Name: MetricRepairs, Kind: env.Counter, Help: "Replicas restored by the repair loop, and damaged chunks healed with verified bytes (from a replica, a push, a put or a session: storage_heals_total by source)."},
	env.MetricDef{Name: MetricRepairBackoffs, Kind: env.Counter, Help: "Repair pushes of an object to a placement node put off (the pair's backoff started), by reason: lost (the node acknowledged a push, lost the object, was pushed again and lost it again) or refused (it said it lacks the object, then refused the push), each 5 s doubling up to 10 min; busy (it answered the push busy), 5 s doubling up to 30 s.", Label: "reason",
		LabelValues: []string{RepairBackoffLost, RepairBackoffRefused, RepairBackoffBusy}},
	env.MetricDef{Name: MetricRejects, Kind: env.Counter, Help: "Requests and messages rejected or shed, by reason.", Label: "reason"},
	env.MetricDef{Name: MetricOrphansSwept, Kind: env.Counter, Help: "Unreferenced chunks (staged before a restart, of a dropped manifest, or of a session whose delete failed) deleted by the sweep after recovery or after a failed delete."},
	env.MetricDef{Name: MetricHandoffsPending, Kind: env.Gauge, Help: "Hand-offs waiting: placement nodes an acknowledged put coordinated here did not reach, to which this node keeps pushing the object."},
	env.MetricDef{Name: MetricHandoffsDelivered, Kind: env.Counter, Help: "Hand-offs ended because the placement node holds the object (it acknowledged the push, or said it holds it)."},
	env.MetricDef{Name: MetricHandoffsDropped, Kind: env.Counter, Help: "Hand-offs given up, by reason: full (the table was full), expired (attempts or age spent), gone (no local copy to push from: deleted, collected or not written), moved (the node is no longer placed).", Label: "reason",
		LabelValues: []string{HandoffFull, HandoffExpired, HandoffGone, HandoffMoved}},
	env.MetricDef{Name: MetricHeals, Kind: env.Counter, Help: "Damaged local chunks rewritten with verified bytes (each also counted in storage_repairs_total), by source: replica, push, put, session.", Label: "via",
		LabelValues: []string{HealReplica, HealPush, HealPut, HealSession}},
	env.MetricDef{Name: MetricRereads, Kind: env.Counter, Help: "Re-reads of a damaged local chunk no source served (at most one per RepairInterval), by result: verified (the mark cleared) or failed.", Label: "result",
		LabelValues: []string{RereadVerified, RereadFailed}},
	env.MetricDef{Name: MetricScrubBytes, Kind: env.Counter, Help: "Chunk bytes the background scrub read from this node's disk."},
	env.MetricDef{Name: MetricScrubObjects, Kind: env.Counter, Help: "Held objects the background scrub finished (read every chunk, or up to one it could not verify) or passed without a read (empty, or a manifest already proven wrong)."},
	env.MetricDef{Name: MetricPinsLost, Kind: env.Gauge, Help: "Pins kept without their object: recovery found the pinned object's manifest corrupt (twice) and deleted it; the repair tick restores them from the object's holders, in turn, or a client's put of the object here does; a Delete removes the pin."},
	env.MetricDef{Name: MetricScrubPassRatio, Kind: env.Gauge, Help: "How far the background scrub's current pass is, as the fraction of the address space below the last object it finished (addresses are uniform hashes, so about the fraction of objects); 1 from a pass's end through the pause between passes. A restart resumes from the pass's cursor record (during the pause: the next pass starts at once, from 0)."},
	env.MetricDef{Name: MetricTrailingLetGo, Kind: env.Counter, Help: "Acknowledged puts let go before their pushes ended (TrailingPutsMax, TrailingPutBytesMax or TrailingRPCsMax reached): their outstanding requests are cancelled and the placement nodes they had not reached get hand-offs. Not rejects: each was answered as stored."},
	env.MetricDef{Name: MetricScrubLies, Kind: env.Counter, Help: "Held manifests the background scrub proved wrong from verified bytes (a chunk's size or offset); gets skip them."},
)

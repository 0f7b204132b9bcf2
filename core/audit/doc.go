// Package audit is RON's append-only audit log (ARCHITECTURE 5.6, ron-audit):
// hash-chained records of capability issue and revoke, policy changes,
// name writes, object writes, deletes, quota rejects and key rotations.
//
// Each Record carries Prev, the BLAKE3-256 (domain-separated) of the
// canonical encoding of the record before it, and a Seq that grows by one
// from 1. Verify walks a chain and reports the earliest record that is not
// vouched for; altering, reordering, inserting or removing any record
// breaks a link. Two changes no chain can reveal on its own, a change to
// the last record and removal of the tail, are caught by VerifyHead
// against a Head saved elsewhere: the head is the log's commitment.
//
// Service is the node.Service that owns the log on a node: other services
// publish Event values on the "audit" bus topic; the service appends a
// record, writes it with a DiskPut under "audit/<seq, 16 hex digits>" (the
// value sealed with env.Seal), and a DiskSync follows it. A record is
// durable once a sync submitted after its put completed, and
// audit_append_latency_seconds measures event to durability. Syncs are
// group-committed: at most one is in flight or due; a record put with
// none waits SyncDelay (5 ms) for its sync, so that the records put
// meanwhile share it and a sync the node's other writers (the registry
// syncs the same disk for every name write) made in between leaves it
// nothing to write; records put while a sync runs wait for the next,
// submitted when it completes (so a record's durability waits for at
// most SyncDelay, or the sync in flight, and its own). A record lost to
// a power failure before its sync was already possible (Append answers
// on chaining); the delay widens that window by SyncDelay and takes a
// name write's second fsync off the leader's disk (writeRecord). At Start
// it rebuilds the head with a DiskScan of the whole log, checking every
// link (see recovery).
//
// Callers outside the node loop (the HTTP gateway) cannot publish on the
// bus, so the service also takes two requests (query.go): Append, answered
// as soon as the record is chained (not when durable: a request path should
// not wait for a sync), and ReadRecords, a bounded page of the stored log
// read with a DiskScan, for export and external verification. At most
// ReadsInflightMax reads wait at once; more are answered ErrBusy.
//
// Invariants (CheckInvariants): records in flight are the consecutive
// seqs after the durable head up to the appended head, at most
// InflightRecordsMax of them; nothing is appended before recovery
// finished; every queue is bounded and a full one drops and counts
// (audit_dropped_total{reason}); the bytes held are the sum of the held
// segments', and no segment starts at or below the base.
//
// A log that cannot be extended safely (a put or sync failing
// WriteAttemptsMax times, a break in the middle of the log) stops
// appending rather than chaining new records onto a hole: audit evidence
// that silently skips is worse than an alert. Events are then dropped and
// counted as "unavailable".
//
// Retention (retain.go, Config): the log is bounded by RetainBytes
// (rond's audit_retain_bytes, default 1 GiB, at least 16 MiB) and, when
// set, RetainAge (at least RetainAgeMin, 1 h). A name-set record is
// about 223 bytes stored, so a tenant writing ~200 records a second
// fills 1 GiB in about 6.7 hours, not days: size the bound for the
// history auditors need, export before it is cut, and watch
// audit_oldest_record_age_seconds (deploy/'s RonAuditRetentionShort alert
// fires when retention drops records and the log reaches back less than
// 7 days). Seqs are cut into segments of SegmentRecords (2048); a
// segment is a seq range, so rotating into a new one writes nothing. When
// the records held (keys and sealed values, audit_retained_bytes) exceed
// the bound, or the oldest segment's newest record is older than
// RetainAge, the oldest segment is dropped whole, and only once closed
// and durable: never the segment being written, never part of a record
// or of a segment. So the log holds at most the bound plus one segment.
// Every drop is witnessed in the chain: a KindRetention record ("retention"
// in exports; Subject the head of the segment's last record, Detail the
// seqs, bytes and reason) is appended first, and the drop waits until
// it is durable. A drop is then one atomic DiskBatch that deletes the
// segment's keys and writes the base, BaseKey = the Head of the
// segment's last record, then a sync. A crash leaves the drop done or
// not done; recovery reads the base first (it sorts before every record)
// and starts the chain there, and drops again what the bound still asks
// for (a retention record naming the oldest held segment counts as its
// witness, so none is appended twice). The age bound trusts the node's
// clock, so it is guarded: a segment whose newest record is in the future
// is never old, and age drops are paced by growth, one per segment the
// log starts (a clock jumping years ahead drops one segment, then no
// faster than the log fills; expired segments of an idle log wait for
// new ones). Records found at or below the base (only a disk pieced
// together from older copies has them) are deleted; a base that does not
// decode stops the log, like a break in its middle, and deletes nothing,
// and so does a missing base under a log whose first record is above
// seq 1 (a crash never leaves that: it loses a tail, and the first
// records are synced long before any drop; deleting the kept records as
// a crash tail would erase the log). A stopped log keeps the base it
// read, so reads still place the records held after it and a verifier
// names the real break; while the base cannot be placed (undecodable or
// lost) reads answer ErrUnavailable saying so. Drops are counted in
// audit_retention_dropped_records_total and _segments_total. A failing
// drop is retried as records become durable, WriteAttemptsMax times in a
// row, then retention stops until restart (logged): appending goes on.
//
// Verification after retention: the first record held has Seq Base.Seq+1
// and Prev Base.Hash. VerifyFrom(base, records) proves the records held
// intact and chained to the dropped record the base names; what was
// dropped cannot be checked any more. The base is sealed with a CRC
// only, so anyone with write access to the disk can cut a prefix of the
// log and write a matching base. VerifyBaseWitnessed (ronctl audit
// verify) catches such a cut unless it ends exactly at a base the node's
// retention announced: a base must end a segment and be named by a
// retention record held after it, and an intruder cannot add one without
// breaking the links after it. What is not detected after retention:
// the content of dropped records, a cut at a witnessed base (the node's
// own drops: compare with earlier exports and saved heads), and removal
// or change of the tail, as before (VerifyHead). This departs from
// DESIGN.md, whose audit log "detects any altered or removed record":
// with retention that holds for the records held and, for a prefix, only
// against the retention records and earlier exports. VerifyHeadFrom checks a saved head newer than the base as
// before, one at the base's seq against the base, and answers
// ErrRetained for one older (an auditor who needs older records keeps
// exports: GET /audit streams the retained log with the base in
// X-Ron-Audit-Base). HeadStatus.Base and RecordsPage.Base carry it;
// ReadRecords from a seq at or below it answers from Base.Seq+1 with
// Truncated set, never silently less.
//
// What is audited (callers' side): events that changed state, and
// refusals at a paced rate (quota rejects, 10 a second per node). A
// name claim by the owner already holding the name changes nothing (the
// registry answers it with success), so io/gateway records the first
// successful claim of a (name, owner) since it started and only counts
// the repeats (gateway_audit_failures_total{reason="unchanged"}) instead
// of appending one record per request: a token re-claiming its name in a
// loop would otherwise grow the log at its request rate. Coalescing
// repeats into a counted record per window was rejected: it keeps only
// the count of requests that did nothing, costs a timer and a record per
// window, and retention is better spent on changes. The auditor keeps
// who changed what: the claim that took the name is always recorded
// (repeats after a gateway restart are recorded once more).
//
// Who may do what: rond records the cap keys (key_rotate, subject
// cap_keys, versions by fingerprint), the policy bundle (policy_change,
// the bundle's name, digests before and after) and the membership
// (policy_change, subject cluster:members) it started with and every reload that
// changed them, and each refused reload once (subjects refused:cap_keys,
// refused:policy, refused:members); cmd/rond's doc.go, "Audit of
// reloads", lists the fields. These use existing kinds on purpose: the
// builds before the kind rule below read a new kind as a break.
//
// Kinds, and what a verifier must understand: a record's Kind is a number
// the hash covers like its other fields. To chain a record a verifier
// needs its framing only (format 1: seq, time, the kind as a number, the
// four text fields within their limits, prev; Marshal), never the meaning
// of its kind: re-encoding the decoded fields gives back the bytes the
// hash and the next record's Prev cover, whatever the kind. So a record
// of a kind this build does not define (a number up to 255 above its
// kinds; Kind.Valid false), which a newer build wrote before the node was
// downgraded, is not corruption: recovery keeps it and the chain goes on
// after it, Verify chains it, reads and GET /audit serve it, ronctl audit
// verify and list show it as "unknown kind N" (exports carry the number
// of every kind above KindNamedMax in kind_code, so a ronctl that does
// not know a newer node's name for it still hashes it), retention counts
// and drops it like any record, and what acts on a kind (the retention
// witness in recovery and VerifyBaseWitnessed) never takes it for a kind
// it knows. Only a framing failure (a value that does not unseal or
// decode: another format, kind 0, a field over its limit, a seq not its
// key's) or a broken link is a break. This build still appends only the
// kinds it defines (another is dropped as "invalid").
//
// The rule for a new kind: it may be added freely as far as downgrades to
// builds that follow this rule go (those from the commit that added this
// section on). It must fit format 1: its data in Actor, Tenant, Subject
// and Detail within their limits and a number at most 255 (a new field, a
// longer limit or a wider kind is a new record format, which every build
// reads as a break); it must not take over a job that older builds do
// with an existing kind (a retention drop stays witnessed by a
// KindRetention record, or their verifiers find no witness); and
// KindNamedMax does not move. Builds before the rule (6db240a, the
// baseline of make real-upgrade, and every build before the commit that
// added this section) read any record of a kind they do not define as a
// break: when at most InflightRecordsMax records follow it, recovery
// deletes it and them as a crash tail; otherwise the log stops. That
// hazard remains for KindRetention, which 6db240a does not define, and
// 6db240a also reads the retention base (BaseKey, which sorts first) as
// an undecodable first record: for 6db240a the log of a node whose
// retention dropped a segment breaks at the base (all of it), and that of
// one that crashed between a retention record and its drop at the
// retention record. Before downgrading such a node to 6db240a, export its
// log (GET /audit, ronctl audit list --json): the older build stops the
// log (deleting nothing) when more than InflightRecordsMax (1024) records
// follow the break, and erases them otherwise (a retained log that small,
// base included, after which it starts a new chain at seq 1).
//
// KindObjectWrite (9) is the first kind added under the rule, and unlike
// retention it is written on an ordinary path: every committed PUT /o
// (io/gateway) where it is enabled. So for 6db240a and older builds the
// hazard above would be the common case, not the rare one: a node of a
// later build that served one PUT with it on has a log those builds break
// at its first object_write record (everything from it erased when at
// most 1024 records follow, the log stopped otherwise). The writer, not
// this package, decides whether to write such a kind: rond's
// audit_object_writes (cmd/rond doc.go, "Audit and rollbacks") is off by
// default, which keeps a node's log readable by them, and an operator
// turns it on once no rollback past the new build is planned; off again
// later, it protects nothing already written (a chained record is never
// rewritten), so export first.
//
// Rejected alternatives: a head key rewritten on every append would make
// start-up O(1) but doubles the writes and can disagree with the records
// after a crash; scanning is O(log size) at start, acceptable for now and
// doubles as an integrity check (a checkpoint record is the planned fix
// when logs grow). Signing each record would let Verify catch tail edits
// without a saved head, at one Ed25519 signature per record; a signed head
// published periodically gives the same guarantee more cheaply and is left
// to the caller of VerifyHead.
package audit

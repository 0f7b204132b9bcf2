// Package audit is RON's append-only audit log (ARCHITECTURE 5.6, ron-audit):
// hash-chained records of capability issue and revoke, policy changes,
// name writes, deletes, quota rejects and key rotations.
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
// (audit_dropped_total{reason}).
//
// A log that cannot be extended safely (a put or sync failing
// WriteAttemptsMax times, a break in the middle of the log) stops
// appending rather than chaining new records onto a hole: audit evidence
// that silently skips is worse than an alert. Events are then dropped and
// counted as "unavailable".
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

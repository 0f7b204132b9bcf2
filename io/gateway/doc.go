// Package gateway is a node's HTTP API (ARCHITECTURE 5.7), served with net/http
// in front of an io/runtime node.
//
// Routes: PUT /o (201 {"addr","size"}; a pinned PUT of an object the node
// keeps pinned for a newer build, which it cannot index, is 409
// KEPT_BY_NEWER_BUILD, not retryable: a restart that indexes it or a
// DELETE of it there clears it); GET|HEAD /o/{addr} with a strong
// ETag (the address, quoted), Accept-Ranges, one or several Ranges (206,
// multipart/byteranges for several, 416 with "Content-Range: bytes */len")
// and If-None-Match (304); DELETE /o/{addr} (204: unpin and drop this
// node's copy; no tombstone, so another member's copy, or one a member
// down at the time still holds, comes back through repair: removing an
// object from a cluster means deleting it on every holder, all up); GET /names/{name} (linearizable resolve; ?stale=1 reads
// this node's applied state instead), POST /names/{name} (claim), PUT /names/{name} (compare-and-set; 409 on a stale
// seq or one ahead of the name's, with current_seq); GET /n/{name} (resolve, then serve the target); GET
// /providers/{addr}; /metrics, /healthz, /readyz, /version. Every error is
// one JSON envelope {"code","message","retryable","corr_id"} with a stable
// code (a known path under a method it does not serve is 405
// METHOD_NOT_ALLOWED with Allow, an unknown path 404); corr_id echoes a
// sane X-Request-Id or is generated, and X-Request-Id is always set on
// the response. /readyz and GET /status (its ready_reason) answer anyone,
// so a node not ready says why in a fixed string per class ("closing",
// "starting or recovering", ReasonDiskFull "disk full"): the disk's own
// reason carries the storage engine's error, file paths under the data
// directory included, and goes to the log instead (notReadyReason).
// A registry replica that has known no raft leader past its grace
// (runtime.ReasonRegistryNoLeader), or a non-replica that hears no
// replica (runtime.ReasonRegistryUnreachable), makes /readyz 503 with that
// reason in the envelope's reason field, so a probe can tell it apart.
// A read whose registry or storage op timed out after it was sent (the
// machine's ErrUnknownOutcome) is 503 UNAVAILABLE, retryable, with
// Retry-After: a read changes nothing (mapError's write argument); only a
// write's is 504 UNKNOWN_OUTCOME.
//
// Conditional requests and caching (conditional.go): a read of an object
// honours If-None-Match (304), If-Match (412 PRECONDITION_FAILED unless
// "*" or a listed tag matches, strongly) and If-Range (the Range only when
// it names the ETag, else the whole object with 200). Objects have no
// Last-Modified, so If-Unmodified-Since and If-Modified-Since are ignored
// (RFC 9110 13.1.3, 13.1.4) and a date in If-Range never matches.
// /o/{addr} is cached "immutable"; /n/{name} carries the target's ETag and
// "Cache-Control: no-cache", since a name moves: caches revalidate it.
//
// Capabilities: writes (PUT /o, DELETE /o, POST and PUT /names) need a bearer token
// that core/auth's Verifier accepts for the op (write, delete, name), the resource
// (the body's address, or the name) and the body size. 401 means the token
// is missing or not valid now (its deny reason is in the message); 403
// means a valid token that does not cover the request. A write's token is
// verified completely before admission and before its body is read
// (core/admission.CheckToken: MAC, revocation, expiry, not-before, scope,
// tenant, max_bytes against Content-Length; only a prefix caveat waits
// for the resource the body names), so the tenant used for quotas is
// authentic and a failed attempt is charged to the remote address
// (core/admission.Sources: 429 source_over_quota once spent), never to the
// tenant the token names. Such a refusal answers with Connection: close, so
// net/http does not drain a dripping body first. 401 and 403 envelopes carry the stable
// deny reason in "reason" (a core/auth reason, "missing_token" or
// "policy_denied") and, for a policy deny, the rule in "rule".
//
// Name quota (namequota.go): a tenant claims at most NamesPerTenantMax
// names (NamesPerTenantDefault, an eighth of the registry's NamesMax;
// rond exempts the root token: tenant "root" with every op and no caveat,
// not a narrower or attenuated token of that tenant, which an operator
// may hand out), so no one tenant fills the registry for
// all: a claim past it is 403 NAME_QUOTA ("tenant evil holds 128 names,
// its quota"), not retryable; a claim of a name the tenant holds still
// succeeds. A claim once the registry holds NamesMax names is 507
// REGISTRY_FULL "registry: full", not retryable (413 TOO_LARGE stays for
// bodies and objects; INSUFFICIENT_STORAGE, also 507, is a full disk or
// memory budget and retryable). Both refusals are counted in
// gateway_names_refused_total{reason="name_quota"|"registry_full"}, not
// in omnigate_shed_total: they are not load shed. Every claim carries the
// tenant (none for an exempt token) and NamesPerTenantMax (0 when the
// quota is off) to the registry. Once the registry's cluster version is
// registry.VersionQuota (core/registry doc.go, "Tenant quota") the
// registry counts the names each tenant's claims created, cluster-wide
// and across restarts, and refuses a new name past the claim's quota:
// the gateway answers that refusal as 403 NAME_QUOTA too ("tenant evil
// reached its quota of 128 names in the registry": the quota is this
// gateway's, the count is the registry's and is not sent back) and counts
// it alike.
// Names created before that cluster version, or by an exempt token, count
// for no one; gateways configured with different quotas each bound by
// their own. A cluster reaches VersionQuota only when the operator turns
// on rond's cluster_name_quota on every replica (cmd/rond doc.go, "Cluster
// name quota"); it is off by default. Below it the
// registry drops the tenant (an older replica could not read it) and the
// quota below, counted here by each gateway since it started, is the only
// one: a tenant may claim NamesPerTenantMax names through each gateway,
// and again after a gateway restarts; names claimed before are not
// counted. The edge count is kept at every version as a fast pre-check:
// a refusal there changes no entry.
// The count is kept per (tenant, name) over all the tenant's claims of
// the name: it counts while a claim is in flight, once one succeeded, or
// once one ended of unknown outcome (504: it may hold the name); a
// refused claim gives the place back only when none of these holds, so
// concurrent claims of one name with different owners cannot uncount the
// one that won. A 504's place is given back once a definite answer shows
// the name is another owner's (names are never released, so the owner
// seen is the owner for good): a claim of it refused as taken with the
// 504's owner, a claim won by another owner, or a resolve naming another
// owner; a resolve naming the 504's owner turns it into a name held. Two
// tenants claiming one name with the same owner may both be counted for
// it. There is no route that releases a name (a release is a new replicated
// op, gated like any, core/registry doc.go "Cluster version").
//
// Policy: after the token, a core/policy bundle decides (Config.Policy,
// DefaultPolicy when none: reads public, other ops need a verified token,
// anything else denied). Reads are decided before admission; a token on a
// read counts as authenticated only if it allows reading that resource. A
// policy deny is 403 policy_denied naming the rule ("default-deny" when no
// rule matched), or 401 for a read without a valid token. Policy holds the
// bundle behind an atomic pointer so requests never see half a reload;
// PolicyFile reloads it when the file changes (polled every
// PolicyPollInterval: no fsnotify dependency) or on SIGHUP, observes
// policy_apply_latency_seconds, and keeps the old bundle on an invalid one.
// It tells its owner (rond audits both) of a bundle applied, with the one
// it replaced (Applied), and of a refused reload (Refused), once per
// refusal: the same invalid text or read error refused again (every
// SIGHUP) is not reported until it differs or a reload succeeds.
//
// Audit: name writes, object writes, deletes and quota rejects (paced to
// QuotaAuditsPerSecondMax) are appended to the node's audit log with an
// audit.Append call (the gateway is outside the node loop and cannot
// publish on the bus); rond adds token issue and policy change through
// Gateway.Audit. A failed append is logged and counted
// (gateway_audit_failures_total), never turned into a failed write. A
// name claim that changed nothing (the owner holding the name claiming it
// again, which the registry answers with success) is audited once per
// name and gateway start and then only counted
// (gateway_audit_failures_total{reason="unchanged"}): a token re-claiming
// its name in a loop must not grow the log at its request rate, and the
// change itself, the first successful claim, is always recorded
// (auditlog.go, claimAudits).
// An object write (a committed PUT /o) is recorded as object_write with
// the tenant, the token, the address and "size=N new" or "size=N
// already_stored" (a storage Has just before the commit; two racing
// writes of the same new bytes may both say new): objects have no owner,
// so this is how an operator finds what a tenant stored. It costs a Has
// and an Append per PUT (BenchmarkPutSmall: 173 to 218 allocations per
// 1 KiB PUT; the time difference was within the shared machine's noise)
// and one record, a few hundred bytes stored, per new object: size
// audit_retain_bytes for the write rate (core/audit doc.go, "Retention").
// A write of stored bytes is recorded once per (tenant, address) and
// then counted (reason "unchanged"), and such records are paced to
// StoredWriteAuditsPerSecondMax a second, the rest counted (reason
// "paced") and their number carried as "paced=N" in the next one
// (auditlog.go, objectAudits): re-PUTting a stored object at the tenant
// rate must not push token, revocation and name records out of retention.
// Config.ObjectWriteAuditOff (rond's audit_object_writes: false, rond's
// default) writes neither the record nor the Has: object_write is a kind
// that builds before the audit kind rule read as a break (core/audit
// doc.go, "Kinds"), so rond records it only once its operator opts in,
// when no rollback to such a build is planned (cmd/rond doc.go, "Audit
// and rollbacks"). The zero Config records it.
// A claim made with the key that already holds the name (an owner key is
// public) is recorded with ClaimUnchangedDetail appended, so it does not
// read as if the claiming tenant took the name; the answer stays 201.
// That is known from a local read of a registry replica's applied state
// before the claim (Config.RegistryReplica; a node that is not a replica
// does not read, and records such a claim plainly). A claim retried after
// one of unknown outcome (504) through this gateway may find the name
// held by that attempt, which left no record: it is recorded with
// ClaimEarlierUnknownDetail instead, so the log shows the take.
//
// Tenancy: what one tenant can take from, or learn about, another.
//   - Storage: a write token allows unlimited storage up to the node's
//     disk (or, on a micronode, --memory-max) budget. There is no
//     per-tenant byte quota yet. What bounds a tenant: max_bytes per
//     request (the policy's, and a token caveat), the request rate of
//     its bucket, its upload sessions, its write slots
//     (core/admission's WritesPerTenantMax), and the audit log's
//     object_write records to find and delete (DELETE /o, an admin's
//     op) what it stored. A full disk stops every tenant's writes.
//   - Dedup existence oracle: storage is content-addressed and keeps one
//     copy, so any writer can learn whether exact bytes were stored
//     before. The PUT's answer is the same (201, same address and size)
//     either way, but the node's object count does not move for stored
//     bytes. GET /status shows objects and object_bytes only to a caller
//     that may read here (or holds an admin token), as the policy
//     decides (storageCountsVisible), and sends others null with
//     storage_counts_hidden: true (ronctl status: "hidden: needs a read
//     token"); GET /metrics stays public for
//     Prometheus scrapers and carries storage_objects, so on a node
//     whose tenants must not learn this, firewall /metrics to the
//     scraper's network. Whether a PUT of stored bytes answers faster
//     was not measured; assume its latency may tell too. Keep secrets
//     that could be guessed (short documents, low-entropy files) out of
//     a shared node, or add a per-tenant secret to them before storing.
//   - Registry leader on GET /status: its registry object (leader node
//     id, term, this node's replica id and role; RegistryStatus) is
//     shown to anyone. Not a secret worth a token: the replica ids are in
//     every node's --replicas list, registry_is_leader on the public
//     /metrics already says which replica leads, and a node id is a key
//     hash, not an address. An operator (or a script choosing where to
//     send POST /admin/registry/leader) needs it most when tokens are
//     hardest to reach.
//   - Write slots: no tenant runs more than a quarter of the write slots
//     at once (core/admission doc.go, "Write slots per tenant").
//
// GET /audit (a token allowing admin on "audit") streams the log as JSON
// lines (AuditRecord), with the head read beforehand in X-Ron-Audit-Head
// so a client can run audit.VerifyHead and tell a cut stream. A record of
// a kind this build does not define (a newer build wrote it) is served
// as "unknown kind N" with its number in kind_code, which every kind
// above audit.KindNamedMax carries (core/audit/doc.go, "Kinds").
//
// POST /admin/registry/leader (admin_leader.go; a token allowing admin on
// "/admin/registry/leader") moves registry leadership, as etcd's
// move-leader: body {"to": N} (N the target's raft id, its 1-based place
// in the sorted replicas, or its node id as a hex string) or {} (or no
// body, or an empty chunked one) for the best caught-up voter; a body
// over AdminLeaderBodyBytesMax (1 KiB) is 413. It sends
// registry.TransferLeader to this node's replica and answers 200 {"old",
// "new", "moved"} once raft reports the new leader (moved false: the
// target already led). Refusals are envelopes with a Reason, definite
// (nothing moved): 409 CONFLICT not_leader (this node does not lead; the
// message and X-Ron-Registry-Leader name the leader, where the operator
// sends the request again: it is not forwarded, so the answer always says
// which node acted), 400 no_such_replica, 409 target_not_caught_up,
// no_candidate or transfer_in_progress (retryable, Retry-After 1; not
// no_candidate in a one-replica group, where no voter will ever be), 503
// UNAVAILABLE at a failed replica. A started transfer that did not move
// leadership to the target is transfer_failed: 503 (retryable,
// Retry-After 1) when raft aborted it after an election timeout and this
// node still leads, 409 (not retryable: a retry here gets not_leader)
// when another replica won, named in the message and
// X-Ron-Registry-Leader. When this node cannot tell the outcome (it
// stepped down and learned no leader within 3 election timeouts, or its
// replica stopped) the answer is 504 UNKNOWN_OUTCOME transfer_unknown,
// not retryable: leadership may have moved, registry_is_leader on each
// replica says where; a call the gateway stops waiting for (CallTimeout)
// is a 504 UNKNOWN_OUTCOME too. Every transfer raft was asked to make is
// audited (kind policy_change, subject registry:leader) with its outcome
// as the detail's first word: "moved: replica A (id) -> replica B (id)",
// "aborted: ...", "other_winner: ..." or "unknown: ...", and so is a
// timed out call ("unknown: ...": it may have started); refusals are
// not. registry_leader_transfers_total{result} counts every request the
// registry was asked: moved, noop (the target already led), aborted,
// other_winner, unknown (a timed out call included) and refused (any
// refusal above); a request without an admin token or with a bad body
// is not counted. registry_leader_changes_total, on each replica, counts
// the leader changes it sees, whatever caused them.
//
// OAP/1 capability bytes: io/oapgate serves this same handler to OAP/1
// clients over QUIC; a START frame's capability bytes become the request's
// "Authorization: Bearer" header, so they are verified here, with the same
// Verifier and Policy, like any HTTP token. Peer frames (replication, DHT,
// raft) are authenticated by the peer's node identity instead.
//
// Admission (omnigate) is core/admission's Gate, Sources and Sessions
// machines behind one mutex (admission.go keeps the waiting: a channel per
// queued ticket); the simulator's clients enter through the same machines
// (sim/runner's edge). A token bucket per tenant (from the verified
// token; TenantRateDefault 200/s) and one bucket that every read without a
// verified token shares (AnonymousRate, default AnonymousRateDefault
// 5000/s: public reads are not held to one tenant's quota, nor can they
// drain a tenant's) answer 429 OVER_QUOTA with Retry-After when empty;
// anonymous reads queue as the tenant "public". The tenant bucket is this
// node's (rond's tenant_rate and tenant_burst size it): a tenant has it
// on every gateway. A global
// in-flight cap keeps ReadHeadroom slots for reads only, so writes are shed
// first; when no slot is free, requests wait in per-tenant FIFO queues
// served by deficit round robin (a write costs one unit per started MiB),
// and a full queue or a wait beyond QueueWaitMax is answered 503 OVERLOADED
// with Retry-After. ReadHeadroom 0 takes ReadHeadroomDefault (64, at most
// a quarter of the cap). PUT /o takes a session of the edge's table
// (SessionsConfig: SessionsPerTenantMaxDefault 8 per tenant,
// SessionsMaxDefault 64 per node, storage.SessionsMax's backstop, of
// which a quarter only tenants holding none may take: core/admission's
// "Fair share"; a reserve of SessionsMax or more makes New panic): 429
// sessions_tenant (the tenant at its limit), 429 sessions_reserved (the
// tenant holds sessions and only the reserved ones are free) or 503
// sessions_full when taken. Every read of a PUT's body that brings bytes
// touches its slot (at most once a second), so a slot idles only while
// its body does. When the table expires a slot (no body byte for
// SessionTTL; found when a session is opened, when /readyz is asked, and
// by the sweep: a ticker goroutine of the gateway that runs while upload
// sessions are open, every SessionTTL/4 and at most every
// SessionSweepEveryMax (1 s), returns once the table is empty and is
// stopped by Gateway.Close, so an expired slot is freed and its upload
// stopped within a period even when nothing else happens) the
// edge stops that PUT at once through its stop func (the blocked body
// read is interrupted by a past read deadline), aborts storage's session
// and answers 503 with reason "session_expired" (omnigate_shed_total
// reason "session_expired"), so the table's counts bound real uploads
// and a stalled client does not keep storage's session and a write slot.
// A stop that lands once the body is read, while its last chunk is in
// flight, still ends the PUT 503 session_expired, never committed (its
// past read deadline makes net/http cancel the request, so the chunk's
// call would fail as context.Canceled); a write cut off by a cancelled
// request is otherwise 504 UNKNOWN_OUTCOME, not 500. A stop's reach ends
// when its handler returns, however it returns (a failed PutBegin too),
// so a stop run late never touches the connection's next request.
// /readyz is 503 with its
// reason while the node is not ready, while writes would queue, while
// every upload session is open and while the read-ahead budget has no
// room for another streamed GET's first chunk ("read-ahead budget full",
// below). Every refusal is counted in
// omnigate_shed_total{reason}, the node's own (a 503 from storage or a
// full node queue: "storage_unavailable", "node_overload") included. Bodies are capped with http.MaxBytesReader (413).
// Health, readiness, version and metrics bypass admission so that probes
// still answer under overload. One mutex guards admission; a lock-free
// design was rejected because the critical sections are a few map
// operations, orders of magnitude cheaper than the requests they admit.
//
// Edge cache (edge.go, core/edgecache): whole objects of at most
// edgecache.EntryBytesMax are kept in a byte-bounded LRU of
// Config.EdgeCacheBytes (0: none). Every read of an object goes through
// Gateway.read and size, which answer from a cached whole object when
// they can and cache what a whole read returns (storage verified it
// against the address); a range GET of a small object reads it whole once
// so its ranges are cached too. Content is immutable, so the only
// invalidation is DELETE, which evicts the object and its chunks and fails
// fills that were in flight. A streamed read caches the chunks of an
// object with edgecache.ChunkKey(addr, i) through edge.get/put, but only
// for objects of at most a ChunkedObjectFraction of the capacity
// (AdmitsChunksOf): a larger object streams past the cache, so one big
// download does not evict every hot entry. edge_cache_requests_total
// counts one lookup per request (hit or miss), edge_cache_hit_ratio is
// hits over lookups since start, edge_cache_bytes the bytes held.
//
// Revocation (revocations.go): the Verifier's auth.RevocationSet is a
// RevocationCache. The registry lives on the node loop, so the gateway
// never reads it from an HTTP goroutine: a lookup is a runtime Call of
// authz.RevokedQuery, answered on the loop from the registry's view (a
// replica's applied state, a non-replica's pulled list). "Not revoked" is
// reused for RevocationCacheTTL, "revoked" until evicted (a revocation is
// never withdrawn); the cache holds at most RevocationCacheEntriesMax
// entries. Only tokens whose MAC verified are looked up, so forged tokens
// cost no call. When the node cannot answer, an expired entry is reused;
// without one, a node that is not ready answers "not revoked" (every
// request that needs the node fails anyway) and any other failure
// "revoked". So a revocation committed at T is enforced by a gateway by
// the registry's bound (T + pull interval * (1 + jitter) + a round trip
// on a non-replica) plus RevocationCacheTTL, and at once by the gateway
// that committed it (it notes the id). A gateway-side snapshot of the
// whole list was rejected: the registry offers no enumeration to copy,
// and a per-id query with a short-lived cache needs none and copies
// nothing per refresh.
//
// POST /tokens/revoke {"token": "..."} or {"id": "<64 hex>"} needs a token
// allowing admin on RevokeResource ("tokens"). The gateway derives the
// token id, with no expiry (revokeTarget says why), signs a
// registry.Revoke with Config.AdminKey and answers 200 once the registry
// committed it, 503 UNKNOWN_OUTCOME (retryable: a revoke is idempotent)
// when its outcome is unknown, 403 when the registry does not list the
// admin key, 501 when the node has no admin key (no registry). The revoke
// is audited as token_revoke with the revoked id as subject. The id names
// the token and every token attenuated from it, so an attenuated token
// revokes them all, for good: the entry is never pruned, since no copy's
// expiry bounds how long the others (and the minted token) are valid.
// So every revoke holds one of the registry's registry.RevocationsMax
// (1024) slots for good (revoking an id again takes none), and once they
// are all held a further revoke is refused (413 TOO_LARGE). No route
// frees a slot. The way out for a token that must then stop working is
// to rotate the cap key (ronctl key rotate) and retire the version that
// minted it (ronctl key retire, on every node sharing the key file):
// every token of a retired version is refused (401) without a
// revocation, tokens minted since the rotation still verify. The held
// slots stay held.
//
// Streaming bodies (stream.go): no PUT or GET holds a whole large object.
// PUT /o opens a storage upload session, reads the body in pieces of
// StreamChunkBytes (one storage chunk; each piece is handed to storage, a
// new buffer per piece), hashes it with an incremental BLAKE3 and sends
// each piece as a PutChunk. Reading and hashing the next piece overlaps
// the PutChunk of the previous one; only one PutChunk is in flight, since
// a session appends chunks in arrival order, so the gateway holds at most
// two pieces of a body. Storage answers a PutChunk once the chunk is
// hashed and its write queued (up to storage.SessionWriteBytesMax being
// written per session), so the body's reading, the hashing and the disk
// writes proceed together. At the end it checks the size against
// Content-Length, authorizes the write against the address it computed
// (the token was verified before the body was read, and a token's
// max_bytes also caps the body as it is read) and commits with
// that address. Config.ObjectBytesMax (default ObjectBytesDefault, 4 GiB)
// caps the body: 413 up front for a declared length (before a byte is
// read, so a client that sent Expect: 100-continue gets the 413 and never
// a 100 Continue; the connection closes), or as soon as a chunked body
// crosses it. A body that fails or ends early, a refused
// authorization, or any storage error aborts the session (PutAbort, with
// its own context since the request's may be cancelled; storage collects
// the session after its SessionTTL if even that fails): the manifest is
// never written, so nothing becomes visible. The gateway's commit is the
// trust boundary that makes storage's claimed addresses true (see
// core/storage's doc).
//
// Reads: a plain GET asks storage for the whole object with Get.SizeMax
// (one call, edge-cacheable, for objects of at most BufferedReadBytesMax
// or what the edge cache could hold); a larger object answers
// ErrTooLarge with its size and is streamed. HEAD, If-None-Match and
// Range learn the size from the manifest (GetManifest: checked against
// the address, no chunk read or hashed); a range of at
// most BufferedReadBytesMax is one storage range read, a larger one (or a
// whole body) is streamed: GetManifest, then only the chunks that cover
// the range, at most StreamWindowMax in flight (StreamCachedWindowMax
// for an object whose chunks the edge cache takes, read one per call),
// written in order. A
// streamed object the edge cache does not take is read in batches of
// StreamBatchChunksMax consecutive chunks, one storage call each
// (GetChunks: every chunk verified against its key at its offset, as
// GetChunk does), StreamWindowMax/StreamBatchChunksMax batches in
// flight; one call per chunk cost a
// hand-off to the node's loop and back per 256 KiB. The sizes of the
// manifests seen are kept (sizes.go: an address fixes its size, so they
// never go stale), and a single range of at most BufferedReadBytesMax of
// a known object too large for the edge cache skips the manifest call:
// its read, which comes before any header, still tells a deleted object
// (404). HEAD, 416s, conditional, multipart and streamed answers, whose
// headers rest on the size alone, ask for the manifest as before. A
// streamed whole body of a multi-chunk object is hashed and
// checked against its address before the last piece is written; a
// failure after the headers went out aborts the connection
// (http.ErrAbortHandler), so a client sees a truncated body, never a
// complete wrong one. A range read over several chunks asks for the
// chunks' verified slices (storage.Get.Parts) and writes them out as they
// are, with no copy into one buffer. Chunk reads of streamed bodies and of
// ranges go into buffers from a pool (chunkBufs) lent to storage
// (GetChunk.Into, GetChunks.Into, Get.Into: the disk reads into them;
// the bytes are checked there as always); a buffer goes back to the pool only after a
// reply without error (its read is done) and after its bytes were
// written, so a read that failed, timed out or was abandoned never hands
// its buffer on while the disk may still fill it. A multi-range answer
// has its ranges coalesced and streams its parts (ranges.go), so it is at
// most RangeResponseFactorMax times the object and holds one piece at a
// time; several ranges asking
// for more than MultipartBytesMax in all are ignored and the whole object
// is streamed (200), which RFC 9110 allows.
//
// Backpressure of streamed reads (backpressure.go): storage refuses a get
// beyond storage.InflightGetsMax rather than queueing it, and a response
// whose headers went out must not be cut because the node was busy. So
// the storage calls of streamed bodies (chunk reads and batches, a
// multipart answer's later pieces) take one of StreamReadsMax slots
// shared by the gateway (three quarters of storage's limit, leaving the
// rest to the reads that precede a response) for as long as the call is
// in flight: a response with no read in flight waits for a slot, in
// arrival order and ahead of any response that would widen its window,
// and one with reads in flight starts another only when a slot is free.
// So every stream keeps a read in flight and none starves, while a lone
// stream still has its whole window. A read refused anyway for this
// node's own load (the node's queue full; storage.ErrBusy: other reads,
// peers or the disk queue took storage's room) is retried with a backoff
// of 2 to 250 ms,
// into fresh buffers (the refused read may still fill the lent ones),
// and counted in gateway_stream_read_retries_total; only a read refused
// for StreamStallMax (30 s) fails, and after the headers that aborts the
// connection as any failed stream does. A read that failed for another
// reason is not retried, a holder's refusal included (a remote holder
// answering busy is, to this node, a holder that did not serve: plain
// storage.ErrUnavailable): the stream is cut at once, as before the
// slots, rather than hold its slots while peers are unreachable (a few
// requests for such an object would hold them all). A read before the response
// (manifest, small or whole read, HEAD) is not retried: a refusal there
// is a clean 503 with Retry-After, counted in omnigate_shed_total under
// "storage_unavailable" (or "node_overload" for the node's full queue).
//
// Read-ahead budget (readahead.go): the chunks a streamed GET has read
// or is reading and has not yet written to its client are reserved in
// one budget of the gateway, Config.ReadAheadBytesMax (default
// ReadAheadBytesDefault, 256 MiB, or a quarter of MemoryBytesMax when
// that is smaller; at least ReadAheadBytesMin, one chunk of the largest
// size), and given back as each chunk is written, or when the response
// ends however it ends (done, client gone, aborted: the fetcher's
// deferred close). The bytes of a chunk read still running in storage
// when its response ends stay reserved, and its read slot taken, until
// storage answers: a storage call is not cut short by its request's end
// (callRetrying), because the node would go on filling the buffers lent
// to it; jobs not yet sent when the response ended are dropped. Without it a slow client that stays just
// above the write-progress bound pins its window (up to StreamWindowMax
// chunks) for as long as it likes, and many connections pin GiBs. A
// response reserves its largest chunk before its headers and keeps it
// to the end, so once started it can always read its next chunk without
// waiting for anyone: when the budget is spent its window shrinks to that
// chunk, it never stalls on the budget. A response starts with a narrow
// window (one job past the chunk being read) and widens it only while
// its client waits for storage (the next job's first chunk is still
// being read when the client asks for it): a slow client's response,
// whose chunks are read before they are due, stays narrow and does not
// take the room faster streams widen into. It widens only with
// bytes free at once and only while a quarter of the budget
// (ReadAheadHeadroomFraction) stays free for new responses' first
// chunks, and never while one waits: so slow clients sitting on full
// windows cannot by themselves lock new responses out. A response whose
// first chunk finds no room waits for it, in arrival order, for at most
// ReadAheadWaitMax (1 s), then is refused before its headers: 503
// OVERLOADED with Retry-After, counted in omnigate_shed_total under
// "read_ahead_budget" (a request that ends while it waits is not
// counted); it is refused at once, without waiting, when the first
// chunks of open responses alone leave no room for it. One source
// (its full address, as RequestsPerSource keys it: an IPv4 address or a
// whole IPv6 address, not its /64) holds at most a share of the budget,
// first chunks, widened windows and first chunks waiting together: the
// budget's part that RequestsPerSource is of admission's InflightMax
// (readAheadSourceBytesMax: a quarter with the defaults, 64 of 256), at
// least a quarter and ReadAheadBytesMin, at most the budget (the whole budget with
// RequestsPerSource at InflightMax or unbounded). So raising
// RequestsPerSource for a reverse proxy raises its read-ahead share with
// it. A first chunk beyond its
// source's share is refused at once, before the headers, 429 OVER_QUOTA
// with Retry-After and reason "read_ahead_source" (counted in
// omnigate_shed_total under that reason), as a source over
// RequestsPerSource is, and a window does not widen past it; so one
// address's idle streams cannot take a small (micronode) budget whole and
// lock every other client out. While the budget has no room for another
// default chunk (or a first chunk waits), /readyz is 503 "read-ahead
// budget full", so balancers steer new GETs elsewhere. A widened window
// shrinks back when its client becomes the slow side while others want
// the bytes: once next finds the next job already read StreamShrinkAfter
// (2) times in a row and the budget is pressed (a first chunk waits for
// it), the read chunks beyond the narrow window are dropped (their
// buffers recycled, their read-ahead given back, counted in
// gateway_stream_read_ahead_dropped_total) and read again when the window
// reaches them; a client that read fast and then crawls does not keep its
// widened bytes from a new stream. A budget merely without room to widen
// a window (the normal state under load) is no pressure: nothing is
// dropped then, and a chunk is read once. It waits because room comes back a chunk at a
// time as other responses write, usually within milliseconds; it waits
// briefly because a budget full of first chunks frees only when whole
// responses end, and a longer wait would hold the request's goroutine
// and admission slot for nothing. gateway_stream_read_ahead_bytes is the
// gauge of the bytes reserved. A multi-range answer's pieces
// (readRetrying, one at a time) and whole or small reads are not counted:
// they hold one piece of at most BufferedReadBytesMax, or an edge cache
// entry, per response, bounded by the admission cap.
//
// A body of at most
// corkBytesMax (a small object, a small range) leaves with its headers in
// one write: net/http's 4 KiB connection buffer would send a 4 KiB
// object's response in two, each a system call and a wake-up of the
// client; the envelope connection collects them (envelopeConn.cork,
// reached through the request's context) until the handler flushes.
// The hottest route, GET /o/{addr}, is dispatched without the mux when
// the path is plainly its (objectPath: clean, two segments, no escapes);
// every other request, and every check (preflight, admission, the route's
// authorization and metrics), is the same either way.
//
// Memory budget (budget.go, server.go): Config.MemoryBytesMax (a
// micronode's --memory-max, whose objects live in its heap) is shared by
// the writes in flight. What it counts as used is
//
//	MemoryInUse (the live heap the last GC measured: stored objects,
//	  staged chunks, everything else)
//	+ the reservations of the bodies being read
//	+ the bytes of bodies finished since the last GC (settling)
//
// A PUT or POST whose body cannot fit what is left (one with a
// Content-Length bigger than that, any body when nothing is left) is 507
// INSUFFICIENT_STORAGE "memory budget: ...", retryable, its body unread,
// before its token is checked or it is admitted; that check reserves
// nothing. Once admitted, a PUT or POST with a Content-Length reserves
// that many bytes before a byte is read, under one mutex, so concurrent
// uploads cannot all pass a check none of them has yet filled (8 parallel
// 50 MB PUTs against 64 MiB stored 100 MB before); one that does not fit
// then is 507 the same way. A write waiting for an admission slot, or
// refused by the token check or admission, holds none of the budget: one
// tenant's queued uploads do not refuse every other tenant's writes
// (which the per-tenant write slots would otherwise not prevent). A body
// without a length (chunked) needs some room to start and reserves
// as it is read; where the budget ends it is 507 INSUFFICIENT_STORAGE
// "memory budget: ... ran out", retryable, and its staged chunks are
// aborted. Double counting: a body's bytes go on to storage, where the
// next GC counts them in MemoryInUse while the reservation still holds
// them; so once a GC has completed after bytes were read, they leave the
// reservation (bodyBudget.observe, looked at per MiB read). When the
// request ends, or its response starts (what the handler left of the body
// is then drained into nothing), its reservation closes: the bytes read
// and not yet measured stay counted (settling) until a GC completes (the
// stored object is then in the live heap, an aborted one's chunks gone
// from it), so no byte goes uncounted between the end of an upload and the
// next GC. Storage's own count (storage_bytes) is not added: the stored
// bytes are in the live heap already. The error is on the safe side: a
// byte is counted at most twice, for at most one GC cycle, never zero
// times. (A Config.MemoryInUse of the caller's own, as tests set, is taken
// to count no body: a body then counts only while it is read, with neither
// the measuring nor the settling.) A write that does not fit, short of no
// more bytes than the bodies closed since the last GC read, runs one GC
// itself (runtime.GC, one at a time) and looks again, so memory just freed
// (an aborted upload's chunks, settling bytes) does not refuse writes
// until the runtime's next GC. At most one such GC runs a second
// (Config.Clock), and a write refused with nothing read since the last GC
// runs none: refused writes, which need no token, cannot make the node
// collect on every request. Under steady uploads the bound is the
// second, not the bytes: every closed body counts as freed, a stored one
// too (its bytes stay live in storage), and the count is cleared only
// after two GC cycles with no close, so with writes flowing a refused
// write (an unauthenticated one included: the early check runs before
// the token's) can still force one GC a second (review4; counting only
// failed or aborted bodies, per GC cycle, would tighten it). The micronode's store (io/pebbledisk,
// ValuesInMemory) drops a deleted value's bytes at the delete, not after
// the next sync: an aborted 64 MiB upload held them as segment garbage,
// and refused every write of every tenant, for about 30 s. Storage itself
// does not refuse a client's write past the budget (its HeldBytesMax
// bounds only what peers push): the gateway is the only client path and
// checks first.
//
// Hostile input (server.go, conns.go): NewServer bounds the headers' time and size;
// Config.BodyLimits bound a body by a minimum average rate and a maximum
// gap, never by its total time, so a large upload at a normal rate passes
// while a slow-loris body is cut off (omnigate_shed_total{reason=
// "slow_body"}) with 408 REQUEST_TIMEOUT, retryable (the client was slow,
// not wrong), on every route that reads a body (PUT /o, the JSON
// routes); EnvelopeListener turns net/http's own protocol errors
// into envelopes, looking only at what net/http writes between two
// responses (NewServer's ConnState hook says when a connection is idle;
// the gateway's handlers say when a response starts), never at a
// response's bytes, so stored content that looks like such an error is
// served as stored; paths with dot segments get a 400, not a redirect, and
// so does a request carrying Authorization, Range or If-Range twice (a
// proxy reading the other copy would judge another request); an
// envelope's message is cut to MessageBytesMax. A write (PUT, POST) is
// refused with 507 INSUFFICIENT_STORAGE before its body is read while the
// backend's disk is full (its DiskFull) or when its declared body does
// not fit Config.MemoryBytesMax (a micronode's --memory-max; see "Memory
// budget" below); /readyz names the reason the backend is not ready. A body a handler did not
// read is drained (at most 256 KiB, 1 s) before the response, except
// under a refusal with Connection: close and a body whose client waits
// for 100 Continue: that one is refused unread, with no 100 Continue,
// and its connection closed (a declared size over a route's cap, 413 up
// front on PUT /o and the JSON routes, is such a refusal). Such a refusal
// of a body its client sends without waiting (no Expect: 100-continue)
// is flushed once the handler returned, its admission and per-source
// slots released, and then at most 4 MiB of the body is read and
// discarded for at most 2 s (bodyGuard.drainRefused), the connection
// still counted against ConnLimits, before it closes: closed with the
// body unread, the node's kernel resets the connection under the
// client's write, and a client that gives up on a failed write never
// reads the refusal. The same drain follows net/http's 431 for a request
// line or header block over HeaderBytesMax (envelopeConn.drainTooLarge,
// after the write side is shut): a client still sending a 70 KiB URL
// gets the 431, not a reset; HeaderBytesMax and the header timeouts are
// unchanged, and nothing drained is kept. A response
// that closes its connection with the body not read to its end gives
// net/http's own drain after it a read deadline (1 s; none for a body
// waiting on 100 Continue), so a client that declared a body and sends
// none does not hold the connection open. The response to a chunked
// request body (HTTP/1) always closes the connection, every refusal
// included (preflight's 400 and 405, a 404, a 401, a 429), so no request
// pipelined behind it is served: RFC 9112 6.3 requires that of a request
// carrying both Content-Length and Transfer-Encoding (the shape of
// request smuggling through a front proxy), and net/http deletes that
// Content-Length before any handler sees the request, so that case
// cannot be told apart and refused with a 400; every chunked body closes
// its connection instead, also when more than 256 KiB of it is left
// after the drain (net/http would read that much again and keep the
// connection if it found the end there).
//
// Connections (conns.go, Config.Conns): Gateway.Listener admits at most
// ConnsPerSourceDefault (256) open connections per source address and
// ConnsMaxDefault (4096) in all; one over a cap is answered 503
// OVERLOADED (retryable, Retry-After 1, the envelope's reason naming the
// cap: "per_source" or "total") and closed at once
// (gateway_conns_refused_total{reason="per_source"|"total"}), except that at the total cap the connection waiting longest
// for a request with no byte of it read (idle keep-alive after a
// response, or new and silent, as NewServer's ConnState reports them) is
// closed to make room, else the waiting one whose incomplete request
// header began first (by the arrival of its first byte, not by when the
// connection went idle: a client kept alive for long that just began its
// next request is not evicted before connections that sent a byte
// earlier and nothing since), new or kept alive after a response
// (gateway_conns_evicted_total): silent or one-byte connections from a
// few sources cannot hold the table for ReadHeaderTimeout or IdleTimeout
// and lock every client out, /healthz included. A request whose header
// is complete is never evicted. net/http waits for the first four bytes
// of a keep-alive connection's next request under IdleTimeout (2 min),
// not ReadHeaderTimeout, so a connection that sent one to three bytes
// after a response held its place for two minutes; the listener starts
// ConnLimits.NextHeaderTimeout (default ReadHeaderTimeoutDefault, 10 s)
// at those first bytes.
// Connections are uncounted when closed, by whoever closes them
// (gateway_conns_open, gateway_conns_idle). Every write of a response
// must make progress: each WriteStallTimeoutDefault (30 s) spent in one
// must see 64 KiB (or the rest of the write) taken by the kernel. The
// deadline is set afresh for each write and after each window that made
// progress, so a reader of about 2 KiB/s or more is never cut off however
// long its response, but a client that stops reading is: its response
// fails, the handler returns (a streamed GET's read-ahead window is
// dropped with it) and net/http closes the connection: within three
// windows (about 90 s), not one, since the bytes the kernel takes into
// the socket buffers before and after a zero-window probe count as
// progress
// (omnigate_shed_total{reason="write_stall"}, a debug log line per
// connection). One byte was not progress enough: a kernel still takes a
// few bytes now and then from a client with a tiny receive buffer that
// never reads.
// io/oapgate's FrameTimeout is the same bound for OAP/1 responses.
//
// Requests per source (sourceslots.go, Config.RequestsPerSource): one
// source address (the connection's remote IP, keyed as the connection
// table keys it) has at most RequestsPerSource requests in flight,
// counted from before admission (a request waiting in its tenant's queue
// counts) until its handler returns, a streamed response's whole body
// included, however it ends (done, client gone, write_stall, aborted by
// the panic of a failed stream). The default is a quarter of
// Admission's InflightMax (64 of 256): one address leaves at least 192
// slots to the others, as many as writes may ever take, and holds no
// more than the read headroom (64), so one address holding idle
// streamed GETs to a client that never reads, or reads just above the
// write-progress bound, can hold neither (the connection caps alone let
// it open 256, the whole in-flight cap: every other client's requests
// were refused, and /readyz said saturated). A request over it is
// refused before admission with 429 OVER_QUOTA, Retry-After 1, envelope
// reason "source_inflight", counted in
// omnigate_shed_total{reason="source_inflight"}: the client is over a
// limit of its own while the node has room for others, so not the 503
// that tells balancers and health checks the node is overloaded. Health,
// readiness, version and metrics are not counted. OAP/1 requests
// (io/oapgate) reach the gateway with their QUIC connection's address and
// share their source's count: one OAP connection's 64 streams are the
// whole default. Taking and giving back the slot is one mutex and one
// map operation, no allocation.
//
// Streamed responses (streamslots.go, Config.StreamedResponsesMax): the
// per-source bound holds one address, not addresses together: four
// addresses of 64 idle streamed GETs (clients that never read, each held
// for the write-progress bound, about 90 s) took all 256 admission
// slots, and every other request was refused 503 and /readyz said
// saturated. So the responses that last as long as their client lets
// them, every GET body of more than BufferedReadBytesMax (more than the
// socket buffers take at once), hold at most StreamedResponsesMax slots
// together, by default half of Admission's InflightMax (128 of 256):
// streamed bodies and ranges (the chunk fetcher), multipart answers, and
// as well the bodies written in one call, a whole object or a range the
// edge cache holds (entries up to edgecache.EntryBytesMax, 4 MiB) or
// read whole: a client that never reads holds those just as long (before
// they took no slot, and four addresses of 64 GETs of a cached 4 MB
// object again held all 256). One helper (bodySlot) takes the slot on
// every such path, before the headers, and the path releases it once
// the body is written. A response past it is refused at
// once, before its headers (after its manifest or whole read), 503 OVERLOADED
// with Retry-After 1 and reason "stream_slots", counted in
// omnigate_shed_total{reason="stream_slots"}; gateway_streamed_responses
// is the gauge of those open. With the defaults: two addresses at their
// RequestsPerSource (2 x 64) fill the streamed share and other clients'
// streamed GETs are refused while they hold it, but 128 slots stay for
// small reads (one storage call each, at most BufferedReadBytesMax) and writes (which may take up to 192 of the 256; with
// 128 streams open they get at most the 128 left), so /readyz stays
// ready (writes do not queue) and the node keeps serving everything but
// new streams. /readyz does not turn on the streamed share: a balancer
// steering every client away because slow readers hold the streams
// would turn this bound into the lockout it prevents. Raising it toward
// InflightMax gives that lockout back.
//
// Limits that are honest rather than ideal:
//   - A streamed PUT has one chunk in flight: the node's chunk write
//     overlaps the reading and hashing of the next piece, but two chunk
//     writes never overlap each other. More in flight would need storage
//     to order a session's chunks by offset rather than by arrival.
//   - The streamed share is one pool: slow readers from a few addresses
//     can still keep every other client's streamed GETs out (503
//     stream_slots, retryable) for as long as they hold their
//     responses; what they can no longer do is refuse small reads and
//     writes.
//   - Connection caps and RequestsPerSource count a source by its
//     address: clients behind one NAT or proxy share its 256 connections
//     and 64 requests in flight (a reverse proxy in front of the gateway
//     is one source: raise RequestsPerSource, up to InflightMax, and cap
//     clients at the proxy; its read-ahead share grows in proportion, but
//     its clients still share that one share, and at InflightMax the
//     proxy's idle streams can fill the whole budget), a loopback client shares them with
//     every local process (no exemption: a local process can exhaust
//     descriptors too), and an IPv6 client with many addresses is held
//     only by the total cap. Evicting an idle connection races with a
//     request starting on it at that instant (as http.Server's own idle
//     timeout does). Evicting a mid-header connection, only once no
//     waiting connection is silent, may cut a slow but honest client's
//     request as it sends its header.
//   - The write-progress bound is per write: a handler that writes in
//     many small pieces lets a client holding the connection take each
//     one slowly. Streamed bodies write whole chunks (256 KiB), so the
//     responses that hold the most memory are bounded as stated.
//   - Objects have no owner (an address is its content's hash; two
//     tenants storing the same bytes store one object), so DELETE
//     /o/{addr} is authorized by the delete op and the resource (the
//     address) alone: any tenant holding delete deletes any object of
//     the node, whoever stored it. A prefix caveat is the only narrowing;
//     an operator mints delete only for admins or with a prefix. An owner
//     per object would need a per-(tenant, address) pin record in
//     storage and a delete that drops only that tenant's pin.
//   - The object address is authorized after the body was staged: a
//     token whose caveats exclude the address costs the node a staged
//     (then aborted) upload, bounded by ObjectBytesMax and SessionsMax.
package gateway

// Package storage is RON's replicated, content-addressed object store
// (ARCHITECTURE 5.1 and 5.4): a pure state machine (node.Service "storage",
// OAP/1 app proto oap.ProtoStorage) that serves Put, Get (whole or a byte
// range), Has and Delete, replicates objects, repairs them and collects
// garbage.
//
// # Objects, chunks, manifests
//
// An object's address is BLAKE3-256 of its whole bytes (proto.AddrOf), so
// it never depends on chunking. An object is cut into chunks of
// Config.ChunkBytes (default 256 KiB; a power of two in ChunkBytesMin..
// ChunkBytesMax, the latter 1 MiB less a small frame overhead so that a
// chunk travels in one OAP/1 frame) and described by a Manifest: its size
// and, per chunk, its key and size, encoded with core/proto/wire.
//
// # Verified ranges: the object's own BLAKE3 tree (format 2)
//
// BLAKE3 is a Merkle tree over 1 KiB chunks; an aligned power-of-two run
// of them is a subtree whose chaining value (CV) depends on its bytes and
// its position. Every chunk but the last is such a subtree and the last
// one is a subtree too (proto.IsSubtree), so the manifest's list of chunk
// CVs is the top of the object's tree: an outboard at chunk granularity,
// 32 bytes per 256 KiB, whose keys merge to the address with one parent
// compression per chunk (proto.TreeRoot, Manifest.checkFor). A chunk's key
// is its CV at its offset; the only chunk of a one-chunk object is keyed
// by the object address (its root). chunkMatches checks a chunk's bytes
// against its key at its offset in one pass (proto.SubtreeHash yields the
// CV and the root of the same compression).
//
//   - Put hashes each byte once: Split hashes every chunk as a subtree and
//     merges the CVs into the address. An upload session does the same as
//     chunks arrive (a proto.TreeBuilder), so every PutChunk reply carries
//     the address of the object ending there and PutCommit checks the
//     client's claimed address instead of trusting it (the gateway no
//     longer hashes uploads). A streamed chunk must be a subtree at its
//     offset (a power of two of at least 1 KiB at a multiple of its size,
//     the last any size that fits), else it is refused with the reason.
//   - A get of a byte range hashes only the chunks it touches, each
//     against its key at its offset; the keys were checked against the
//     address when the manifest was written, recovered or fetched, so the
//     range is verified against the address itself, not against a trusted
//     manifest. A whole get hashes each byte once (no second pass over the
//     whole object); the gateway streams the verified chunks as they are.
//   - Replication and repair move verified chunks: StoreChunk and
//     FetchChunk carry the chunk's offset and the receiver checks the
//     bytes against the key there; a commit's manifest must merge to the
//     object address or it is refused.
//
// Granularity: groups of 16 KiB inside chunks, their CVs cached. A chunk
// of 256 KiB is a subtree of 16 groups of GroupBytes, each a subtree at
// its own offset. Whenever a chunk is verified whole (any local get),
// proto.GroupCVs hashes it as its groups and merges their CVs to the
// chunk's CV (the same bytes hashed once, plus 15 parent compressions)
// and compares that with the key; on success the 16 group CVs (512
// bytes) go to a bounded LRU (groups.go: GroupCacheBytesMax counted, the
// eviction order that of the gets alone, so deterministic). A later range
// get that touches a cached chunk only in part reads only the groups it
// touches (one env.DiskGet of that part of the value: io/pebbledisk
// preads only those bytes of its segment) and checks each against its
// cached CV at its offset; a group that does not hash to its CV is
// corruption exactly as a chunk that does not hash to its key (counted,
// marked damaged, fetched from a replica and healed). This is as strong
// as checking against a stored outboard (bao, iroh): the cached CVs were
// derived only from bytes that merged to the chunk's key, the key is
// chained to the object address (the manifest's keys merge to it), so
// by BLAKE3's collision resistance they are the CVs of the true groups,
// and a group that hashes to one is the true group. An entry also keeps
// the length of the bytes its CVs came from, and is used only when the
// manifest claims that size for the chunk (else the chunk is read whole,
// and the claim refused: see "Reads and corruption"). Nothing is stored:
// the cache is memory only, filled by an upload session with the CVs it
// derived as it hashed each chunk (they merge to the key by
// construction), once the chunk is staged under its final key (a
// one-chunk upload's is the object address, known at the commit), and
// refilled by
// the first whole check after a restart or an eviction, so the first
// touch of a chunk this node did not just take an upload of still reads
// and hashes it whole; a random 1 MiB range of 256 KiB chunks then reads
// and hashes about 1.03 MiB instead of 1.25 MiB. On a part read the
// group check replaces pebbledisk's CRC-32C of the whole value (which a
// part cannot be checked against): a hash bound to the address is the
// stronger check of the bytes served. Whole-object gets, GetChunks and
// replication or repair read and check whole chunks as before. A stored outboard of group CVs
// was rejected for now: 16x the chunk metadata on disk and in every
// manifest, and a format change, for the first touch alone.
//
// Naming and dedup: a chunk key binds the chunk's position, so equal bytes
// share a key (and are stored once) only at the same offset of objects of
// the same tree shape: re-puts, objects sharing a prefix, appended
// versions. Cross-offset dedup is gone; see the rejected alternatives. A
// one-chunk object's key is its address, so it does not share with the
// first chunk of a larger object. Which of the two keys names an upload
// session's first chunk is known only when a second chunk follows or the
// commit comes, so the session holds the first chunk in memory until
// then and writes it once, under the key the manifest names (a one-chunk
// session commits as a whole Put of those bytes). Rejected: writing it
// under both keys at once and deleting the unused one at the end, which
// doubled the writes of every small upload.
//
// Disk layout (data-dir format 2, io/datadir migrates format 1): "s/c/<hex>"
// chunk bytes (not sealed: the key is the checksum, verified on every
// read), "s/n/<hex>" the sealed version 2 manifest (env.Seal; format 1
// kept version 1 manifests under "s/m/"), "s/p/<hex>" the pin flag,
// "s/scrub" the scrub pass's cursor (Scrub, below). At
// Start the index of objects is rebuilt from paged scans of the manifests
// (each checked against its address) and pins; chunk bytes are never read
// (a manifest is durable only after its chunks, so it vouches for them).
// Until recovery finishes, requests get ErrUnavailable and peers get a
// "busy" status. A manifest whose sealed bytes fail their check in the
// scan (env.ErrCorruption, counted) is read once more after the manifest
// scan (one DiskGet each, before the pin scan): intact then, it was a
// transient read fault and is indexed; corrupt again (counted again; a
// second read the disk itself answers env.ErrCorruption counts as such,
// it is not retried), or decoded but wrong for its address, it is
// deleted and never served, and the other replicas' audits restore a
// placed copy. A pin whose manifest is not held is not deleted: the pin
// record stays, the pin is listed as lost (gauge storage_pins_lost, at
// most LostPinsMax listed, a logged error), and the repair tick restores
// the object (see Repair and garbage collection). A write of the object
// here is pinned and ends the loss; a client's Delete of a lost pin
// deletes the record and succeeds, also when it waited for a write of
// the object that then failed (runDeletes). A pin whose manifest is on
// disk but not indexed (a newer build wrote it, or LocalObjectsMax was
// reached) is not lost: recovery remembers those manifests during the
// scan (at most LocalObjectsMax addresses; beyond that no pin without an
// indexed manifest is listed at that start) and lists none of their
// pins, so a restore never overwrites a newer build's manifest nor
// refetches an object intact here. Those pins are kept instead
// (keptPins, at most KeptPinsMax listed, the records beyond stay on disk
// unlisted until a later start): no write of such an object is made on
// this node until a restart indexes it (a put's local write fails, a
// pinned put answering ErrKeptByNewerBuild, which is not retryable and
// says what clears it (the gateway's 409 KEPT_BY_NEWER_BUILD), an
// unpinned one losing this replica only (ErrUnavailable, retryable: the
// other replicas may make up for it), a peer's commit is answered busy,
// a put's hand-offs keep no copy here),
// for it would overwrite the newer build's manifest, and an unpinned copy
// written here would let the GC pass delete the pin record with it; so
// the GC pass never sees it. A client's Delete of a kept pin deletes its
// record and succeeds; the manifest stays, unpinned, for the build that
// wrote it. Known gaps: a peer's commit of a kept pin's object is
// answered busy, which the pusher treats as every refused commit (the
// put's push fails, a hand-off retries it a bounded number of times), so
// the peer's refusal is not told apart on the wire; pins
// beyond KeptPinsMax are not protected (a write of such an object may
// overwrite the newer manifest unpinned and the GC pass then delete the
// record, as before kept pins); when recovery's memory of unindexed
// manifests overflowed, a pin whose manifest was truly lost is kept, not
// restored, until a later start; and the chunks of an unindexed manifest
// are not counted as used, so a Delete or GC of another object sharing
// one may remove it.
//
// Then, while the node already serves, the orphan sweep (sweep.go) pages
// through the chunk keys with keys-only scans (env.DiskOp.KeysOnly, so no
// chunk byte is read) and deletes every chunk nothing references: chunks
// staged for a push or an upload session before a crash, chunks of
// manifests recovery dropped as corrupt, chunks whose unsynced delete the
// crash undid. One page of at most SweepPageMax keys is in flight at a
// time; a failed page is retried at the next tick. Deleted chunks are
// counted in storage_orphans_swept_total. A chunk written by a StoreChunk
// while the sweep runs is counted in index.storing until it is staged, so
// the sweep never deletes a chunk a commit is about to rely on. The sweep
// runs only when recovery indexed every manifest on disk.
//
// # Membership
//
// Config.Members, when set, is a closed membership: placement draws from
// it (below), and a peer request (StoreChunk, Commit, Check,
// FetchManifest, FetchChunk) from a node that is neither this node nor a
// member is answered statusBad before anything else is done (no state
// change, no disk read, no byte served) and counted as
// storage_rejects_total{reason="not_member"}; statusBad tells an honest
// peer missing from this node's list that it was refused. The refusing
// node logs the sender's id (a warning saying to list it in members if
// it belongs to the cluster) once per RefusedLogEvery of env time, and
// remembers at most RefusedLogIDsMax ids (the one logged longest ago is
// forgotten first). The refused put names the refusing placement node in
// its error ("<id> refused it: this node is likely not in its
// membership"): statusBad also answers an invalid request, but an honest
// put's chunks and manifest are valid, and the wire has no other status
// an older node would decode (decodeFrame refuses a status past
// statusBad, so a new status would leave old nodes timing out instead). A get asks no
// non-member provider the DHT names. The peer protocol carries no token:
// a node's QUIC identity is all it shows, so without a membership any
// node that reaches the port could store objects (no quota, no audit, no
// memory budget: those are the gateway's) and read every object whatever
// the gateway's policy says. The simulator gives every node the same
// Members; rond gives its nodes self, the bootstrap peers, the registry
// replicas and its members setting unless open_network is on (cmd/rond's
// doc, "Membership"). Without Members (the DHT places) every sender is
// served, as DESIGN 5.4's open placement has it. A SetMembers request
// replaces Members on a running machine (rond's reload of its members
// setting): from the next input on placement draws from the new list and
// a dropped node is refused; operations already running keep the
// placement they chose, and objects the dropped node holds are not
// moved. Its Replicas and WriteQuorum, when set, replace R and W the same
// way (rond recomputes them from the new membership as at start).
//
// This deviates from a purely open DHT placement: DESIGN 5.4 places an
// object on the R nodes closest to its address; with a membership they
// are the R closest members. The routing table of an open DHT holds
// whatever ids pinged it, so 60 fake ids (the red team's sybils) became
// placement targets: puts failed (W never reached) and the fakes received
// the object bytes. A closed membership trades the open network's
// self-organisation for that: a node joins by being listed.
//
// Config.HeldBytesMax bounds what peers push into this node: a StoreChunk
// that would take the bytes held (committed objects, staged chunks, and a
// largest chunk for each one being written) past it is answered
// statusBusy before any byte is written and counted as
// storage_rejects_total{reason="full"}. rond sets it to a micronode's
// memory_max, whose gateway bounds only its own clients' writes.
//
// Staged shares: the staged table (StagedChunksMax chunks pushed for
// objects not committed yet, writes in flight included) is shared by
// every member that pushes here, and a chunk stays in it until its commit
// or StagedTTL. The red team filled it from one member with 16-byte
// chunks it never committed: every other member's push was refused
// "busy" for StagedTTL, so one member blocked all writes cluster-wide.
// Each sender has a share of it: StagedSenderChunksMax (a quarter of the
// table) chunks and StagedSenderBytesMax (256 MiB) bytes, counting its
// staged chunks and its StoreChunk writes in flight (index.shares, kept
// per sender as chunks are staged, committed and pruned, so the count is
// O(1) and no map is iterated). The share applies only under pressure
// (Storage.overStagedShare): a push that takes its sender past its share
// is refused statusBusy, before any byte is written, only while fewer
// than StagedReserveChunks (a quarter of the table) slots would be left
// free with it, or, with Config.HeldBytesMax, less than a quarter of
// HeldBytesMax. It is counted as storage_rejects_total{reason=
// "sender_share"} and the sender logged (paced like a refused
// non-member: refusedlog), so the operator sees which member floods. The
// share is checked before the table's own bound, so under pressure the
// flooder is refused as such whether or not the table is full.
//
// A fixed share always applied broke honest writes: a push sends every
// chunk of its object and only then commits, so all of them stay staged
// here, counted against the pushing node, until the commit. One streamed
// object of more than 1024 chunks (256 MiB), or five 64 MiB puts at once
// from one gateway, went past the share on every replica and failed
// ("unknown outcome"), and repair re-pushing it kept the share full for
// that node's later puts. Applied under pressure only, a lone sender
// stages up to StagedChunksMax-StagedReserveChunks = 6144 chunks (1.5 GiB
// at ChunkBytesDefault, more than the 4096 of the table before shares;
// the table is 8192 entries of about 100 bytes of index, under 1 MiB,
// and HeldBytesMax still bounds their bytes on a micronode), and a
// flooder can take the table only down to the reserve: then, over its
// share, it is refused, and the reserve stays for the others (each
// within its share is admitted until the table is full). The byte share
// is kept, under pressure the same way: the chunk count bounds the
// table's entries, not the bytes they hold on disk, and on a micronode
// HeldBytesMax is shared with the committed objects, so a flooder
// pushing chunks of ChunkBytesMax is stopped when a quarter of
// HeldBytesMax is left. Without HeldBytesMax a flooder can still stage
// 6144 chunks of up to ChunkBytesMax (6 GiB of disk) until StagedTTL, as
// before shares (4096). Two colluding members fill the table (the first
// down to the reserve, the second the reserve within its own share;
// four were needed with the share always applied), each named by
// sender_share once refused; a membership is a trust decision
// (Membership above).
// The ceilings an honest writer still meets: a streamed object of more
// chunks than the lone room (above 1.5 GiB at ChunkBytesDefault; above
// 1 GiB before shares) fails to replicate, its pushes refused busy as
// overload; and under pressure (another sender holding most of the
// table) a node's concurrent pushes to one replica fit only within its
// share, 2048 chunks (eight ObjectBytesMax puts at ChunkBytesDefault),
// the rest refused busy like any overload. A fixed share was chosen over
// a fair share (the table divided among the senders holding some): it
// does not shrink as more senders push, and a flooder cannot make a
// newcomer's share smaller than what the flooder already holds.
//
// Reads are bounded per sender the same way: a FetchChunk read holds up
// to a chunk's bytes from its submission to its reply, so one member
// asking for a large chunk 400,000 times held gigabytes (the disk queue,
// DiskJobsMax, was the only bound). A sender has at most
// FetchReadsPerSenderMax reads in flight here (Storage.fetchReads): an
// honest node's gets reach it only with all its InflightGetsMax gets at
// their GetWindowMax on this one holder. Beyond it a FetchChunk is answered busy, the
// get tries another holder, and storage_rejects_total{reason=
// "fetch_share"} counts it. An RPC resends its request, same corr id,
// up to RPCAttemptsMax times when no reply came (a slow disk here): a
// resend arriving while that request is read is dropped, the read
// answering it (Storage.fetching), so it is not counted again and an
// honest node's retries do not make it look like a flooder.
//
// # Placement and the write path
//
// An object is placed on the R (Config.Replicas, default 3) nodes closest
// to its address by XOR distance, taken from Config.Members when set, else
// from the DHT's routing table plus this node. The node that receives a
// Put (the coordinator) writes it locally when it is a placement node (or
// the client pins it) and pushes it to every other placement node: chunks
// first (StoreChunk, at most PushWindowMax in flight, each verified and
// written by the target and staged; the chunk's staged slot is taken
// before its write, so a full table, StagedChunksMax counting the writes
// in flight, refuses a push "busy" before any byte is written and no
// chunk is written without being staged), then a Commit carrying the
// manifest.
// A target answers a Commit only after it wrote the sealed manifest and a
// DiskSync that follows every chunk write completed; the disk is FIFO, so
// that sync makes the chunks and the manifest durable together. The put is
// acknowledged when W (Config.WriteQuorum, default 2; fewer when there are
// fewer placement nodes) placement nodes are durable and, when the client
// pins it, once this node's own pinned write is durable too (placed here
// or not: the acknowledgement promises the pinned copy). A failed pinned
// write answers ErrUnknownOutcome carrying the disk error at once (the
// placement nodes may still store the object; the client may retry) and
// the put is never acknowledged, so it hands nothing off. A pinned put
// of an object this node already holds unpinned writes and syncs the pin
// record alone (pinExisting); the object counts as pinned for GC from
// the moment that write starts (it is never collected meanwhile), but
// no pinned put of it is answered before the record is durable: one
// arriving while the write is in flight waits for it (at most
// waitersMax, more are refused busy) and gets its outcome, and a failed
// or refused pin write unpins the object again and answers every waiter
// ErrUnknownOutcome with the disk error (a retry writes the record
// anew; a record the failed job did leave on disk pins the object at
// the next restart, or is deleted with the copy). The remaining
// pushes continue and their completion is observed as
// storage_replication_lag_seconds. The placement nodes an acknowledged
// put did not reach get a hand-off from the coordinator (see Hand-offs).
//
// InflightPutsMax bounds the puts not yet answered. An acknowledged put
// whose pushes are still open trails: it no longer counts there (before,
// with one member of three down every put stayed until its push to that
// member spent its retries, and a client's sequential puts were refused
// busy once 32 trailed: a quarter of them on the red team's rond
// cluster), but against TrailingPutsMax (64) puts and
// TrailingPutBytesMax (256 MiB) of what they hold in memory (a whole
// put's bytes and its manifest; a committed session's bytes are on disk,
// so its manifest and the chunk reads its push windows may hold). When an
// acknowledgement takes the trailing puts past either bound, the oldest
// are let go until both hold: their pushes are cancelled (every request
// they have outstanding is forgotten, so no retry is sent and nothing
// holds their bytes) and they finish as at their deadline, the placement
// nodes they had not reached getting hand-offs (counted in
// storage_trailing_let_go_total, not as rejects: each was answered as
// stored). Memory for puts is so at most InflightPutsMax whole objects
// plus TrailingPutBytesMax.
//
// The trailing puts' pushes also hold at most TrailingRPCsMax (half of
// RPCsInflightMax) requests, retries included (a retry reuses its
// request's slot): with members down, each trailing put keeps a push
// window open to each (24 requests at R 5 with three down), and before,
// 43 such puts filled the RPC table, so the next put's push to a live
// member, a get's fetch or a repair found no room (refused overload).
// A put that starts trailing brings its pushes' requests into the
// count, and a trailing push needing one more first lets the oldest
// trailing puts go until it fits (itself, when it is the oldest: the
// request is not sent). Let go, not wait: what is left of an
// acknowledged put is what its hand-offs do, paced and one attempt per
// node at a time, while a waiting push would keep its bytes and its
// other requests (most likely to the same unanswering node) and need a
// queue to be woken from. A trailing put that finishes (every push
// answered, or its deadline) cancels its pushes' requests still
// outstanding (the rest of a failed push's window), so none outlives it
// in the table uncounted. The active puts, gets, repair and hand-offs so
// always have the other half; the requests an active put leaves
// outstanding when a push fails or its deadline passes still run out
// their retries (about 3.75 s), under RPCsInflightMax as before. W and
// the acknowledgement are unchanged: only puts already acknowledged
// trail.
// A put that misses its deadline replies
// ErrUnknownOutcome once a commit or local write was issued (it may be
// durable somewhere), else ErrUnavailable (definitely not stored by this
// request). Every peer handler is idempotent (retries, duplicated and
// reordered frames are expected): a chunk or object already held is
// acknowledged at once, a commit already in flight is waited for.
//
// # Streaming uploads and reads
//
// A whole Put holds the object in memory, so it is bounded by
// ObjectBytesMax. Larger objects (up to StreamObjectBytesMax, 4 GiB:
// ManifestChunksMax chunks of the default size) are streamed through an
// upload session: PutBegin opens one (at most SessionsMax, ids drawn from
// env.Rand so that an id from before a restart never names a new
// session), each PutChunk hashes one chunk and queues its write to the
// local disk, and PutCommit{Addr, Size} turns the staged chunks into the
// object. A PutChunk is answered as soon as its write is queued while the
// session has at most SessionWriteBytesMax bytes being written, else when
// its writes drain below that: the client's next chunk and its hashing
// overlap the writes of the previous ones, and the disk groups the
// queued writes under one fsync instead of one per chunk. A failed write
// fails the session: the next PutChunk, or the commit, carries the error.
// A commit that arrives while writes are in flight waits for them, so the
// acknowledgement still follows the chunks' writes and the manifest's
// sync. The commit then runs as a put whose
// bytes are read back from the local disk: it writes the manifest here
// when this node is placed (or the client pins), and pushes the chunks
// and the manifest to the other placement nodes exactly as a repair does,
// acknowledging once W placement replicas are durable. Its deadline is
// PutTimeout plus commitTimePerChunk per chunk.
//
// Chunks are staged locally and replicated at commit, not pushed as they
// arrive, because placement depends on the object address, which is
// known only once the last byte was hashed. A session holds its chunks
// through index.sessionRefs, so pruning, deletes and garbage collection
// leave them alone; at commit the references move to the put and are
// released (deleting chunks nothing else holds) when it finishes. A
// session idle for SessionTTL is collected by the tick, and PutAbort ends
// one at once: its chunks are deleted and nothing was ever visible,
// because only a manifest makes an object and the manifest is written at
// commit. Sessions live in memory: a restart forgets them (their commit
// is refused), and the chunks they staged before a crash are deleted by
// the orphan sweep after the restart, like staged push chunks. A delete
// of a session's chunks that fails (a disk error) or finds the disk job
// table full marks a sweep due, which the next tick runs, so such chunks
// do not wait for a restart.
//
// Trust boundary: the machine never holds a streamed object whole, but it
// hashed every chunk as a subtree when it arrived, so at commit it knows
// the address and refuses a claim that differs (along with a failed
// write or a wrong size). No false claim is stored.
//
// Reads stream with GetManifest{Addr} and GetChunk{Addr, Chunk, Offset}
// (or GetChunks{Addr, Chunks, Offset}: up to GetChunksMax consecutive
// chunks in one request, their reads submitted in one step): the reader
// keeps a few chunks in flight and each chunk is verified against its key
// at its offset by the node that returns it; the manifest was verified
// against the address before it was returned. Get.SizeMax lets a reader ask
// for a whole object only when it is small, learning the size otherwise.
//
// # Reads and corruption
//
// Get reads the manifest locally, else from the other placement nodes,
// else from the providers the DHT knows (a fetched manifest must merge to
// the address). Each chunk is read locally when held, else fetched; every
// chunk is checked against its key at its offset before use. A chunk that fails
// the check is corruption: it is counted in storage_corruption_total, never
// served (a peer answers "corrupt" instead), fetched from another replica,
// and the local copy is rewritten with the verified bytes (a damaged chunk
// found while serving a peer is queued and healed by the tick). A chunk
// marked damaged is not read again until its heal rewrote it (damagedAt),
// but for a bounded re-read (below): a get fetches it from the replicas
// as if it were not held (healing it with their bytes), a peer's
// FetchChunk at its offset is answered "corrupt", a push or commit that
// needs the copy fails, each without a read, so each damage is read and
// counted once (a read already in flight when it was marked finds it
// marked and counts nothing). Verified bytes of the chunk at its offset
// that reach the node otherwise heal it too: a StoreChunk push of it is
// written over the damaged copy before it is acknowledged, and a client's
// put of an object listing it (the put's bytes, which it split and
// hashed) rewrites it before the put's own writes (healFrom; the copy a
// put keeps for its hand-offs starts from the same put), and a session
// upload's chunk, hashed at that offset, rewrites it before the commit
// goes on (stageChunk). One heal write of a chunk is in flight at a
// time: a second heal meanwhile (two puts, a resent StoreChunk) writes
// nothing and waits for the first's result, and a repair is counted (the
// mark cleared) only by a write that succeeded while the chunk was still
// marked, so one damage counts one repair (healWith). A heal that
// fails (no replica serves the chunk) is retried by later ticks and the
// chunk stays marked. The fault may have been in the read rather than
// the bytes stored (the simulator's corrupt_read injects such), and with
// no other copy the local one is the object's only hope: when a heal, or
// a get's fetch of the chunk, finds no source, the local copy is read
// again if its last read is at least a RepairInterval old (rereadDue:
// at most once per repair tick, so a truly rotten chunk is not read on
// every request). Each re-read is counted in storage_rereads_total by
// result (verified, failed), each heal that cleared a mark in
// storage_heals_total by the source of its bytes (replica, push, put,
// session) as well as in storage_repairs_total; the simulator reports
// both (scenarios/content_damaged.yaml reaches every one but session).
// A re-read that verifies at the chunk's known offset clears the mark
// without a rewrite (the hash proves the bytes) and a get uses its
// bytes; one that fails counts no new corruption (each damage is
// counted once; storage_rereads_total counts the re-read). A get of a chunk this node holds, whose copy failed (marked
// damaged, or failed its read now and not marked because
// DamagedChunksMax are), which no source serves, fails with
// ErrCorruption (a retryable 502), never ErrNotFound: the node holds the
// object. The damage is forgotten, and a
// later read finds and counts it again, only when nothing locates the
// chunk any more or no held object lists it (the tick cannot heal it), or
// when the chunk is deleted. Damage found while DamagedChunksMax chunks
// are marked is counted but not marked, so each read of it counts it
// again.
//
// Copies outside the placement: a chunk is fetched from the placement
// nodes (for a get, also the providers its manifest search asked); when
// every one of them failed it (each copy found corrupt, or none held it)
// the other members the DHT names as providers of the object are asked
// too (fetchChunkWide: one lookup of at most ProviderCandidatesMax
// providers, members only, each fetched chunk verified at its offset as
// always), and so does a heal (the repair tick's healDamaged). The
// lookup is made once per object and get, or per object and heal pass,
// and shared by every chunk of it that needs it (providerLookup; before,
// once per such chunk: the same question again within one request). A
// lookup that fails with no provider (the DHT overloaded, or no contact
// answered) is no answer: the chunks waiting for it wait for a new one,
// up to ProviderLookupsMax per get or pass, and only the last failure's
// empty answer is final (before, the first was: an overloaded DHT failed
// every rotten chunk of the get). A good copy held off the placement (a pinned put's
// coordinator, a hand-off's kept copy, a node the placement moved from)
// so serves a get and rewrites every rotten placement copy (before, the
// gets failed with "every copy ... was corrupt" for good and no repair
// ran while that node served the right bytes). Not widened: a chunk the
// placement nodes did not answer for (ErrUnavailable: they may serve it
// once reachable, and a partition would cost a lookup per chunk) or
// refused at the offset asked (a manifest's lie, see below); and a node
// without a DHT (the unit tests' members alone) asks no one more.
//
// A local chunk read carries its check (chunkRead: env.DiskOp.Check, a
// pure closure over the key and offset), which the disk runs on the bytes
// it read, off the node's loop: io/pebbledisk runs consecutive reads and
// their checks in parallel, so the hashing of a GET uses every core
// instead of the loop's one. A read that fails its check comes back as
// env.ErrCorruption and takes the path above (chunkIntact: counted, marked
// damaged, healed); a disk that did not run the check (DiskResult.Checked
// false) leaves it to chunkIntact on the loop, so no chunk is ever used
// unverified. GetChunk and GetChunks first refuse as a bad request a
// chunk at an offset where no manifest could put it (checkRun: its size,
// overflow, subtree alignment).
//
// A failed check is damage only at the chunk's known offset. A chunk key
// is bound to its offset, so bytes checked at any other offset fail
// whatever the disk holds. The index locates each chunk
// (index.chunkOffset): at the offset this node verified it at, if it did
// (an upload session hashed it there, or a StoreChunk push was checked
// there), else at the one its held manifests list it at (maintained with
// the reference counts by hold and drop); two held manifests listing a
// chunk at different offsets mean one lies, and unless a verified offset
// settles it the chunk is not located until the disagreeing ones are
// dropped. A read that fails its check at the known offset, or finds a
// held chunk missing, is counted and marked damaged; one that fails
// elsewhere, or on a chunk nothing locates, is evidence against whoever
// named the offset and counts nothing. So the node serving a FetchChunk
// at an offset other than the known one answers statusBad ("held, not
// there") without a read, and one for a chunk nothing locates that fails
// its check there answers statusNotFound: a peer's request cannot make
// the serving node count corruption or heal a healthy chunk (a peer that
// serves bytes that do not verify is still counted by the node that asked
// it, as it must be). A get whose manifest places a chunk this node
// locates at another offset is proven wrong before any read, and so is a
// GetManifest's answer (the gateway reads the chunks at the offsets it
// returns): the manifest is dropped as for a size lie, below, and a
// GetChunk or GetChunks that places one off its offset fails with
// ErrBadManifest (its offsets are a manifest's). A chunk fetched for a
// get from peers that answer statusBad (and none serves it there) is not
// proof, since peers can lie, but no source serves the chunk where the
// manifest puts it, so the get drops that manifest too and asks the next
// candidate; if another holder did not answer, or answered statusCorrupt
// (an honest holder does so only at the chunk's known offset, but a liar
// may too), it counts a timeout, so that with no candidate left an honest
// manifest behind a partition or over a rotten chunk fails as
// unavailable (retryable), not as a bad manifest, while a liar's silence
// or false statusCorrupt costs the get one candidate. A GetChunk whose
// chunk the holders refuse fails with ErrBadManifest (ErrUnavailable if
// another was silent or answered corrupt), never ErrNotFound: the object
// exists, its holders say so. A range
// within one chunk is replied as a slice of the chunk's bytes, without a
// copy; one over several chunks, when the caller asks (Get.Parts), as the
// chunks' slices, else copied into one buffer. A reader may lend buffers
// to the reads (GetChunk.Into, GetChunks.Into, Get.Into: passed as
// env.DiskOp.Into, which the disk reads into when the value fits), so a
// streamed GET allocates nothing per chunk; the check runs on the bytes
// read into the buffer as on any other, and the caller may reuse a buffer
// only after a reply without error, when every read that held it is done.
// ErrCorruption (wrapping env.ErrCorruption) is returned only when every
// copy found was corrupt.
//
// Sizes are claims too. A chunk's key binds the length of its bytes, but
// the manifest's size of the last chunk is not bound by the keys
// (proto.TreeRoot merges the last CV whatever its size, and a one-chunk
// object's key is its address), so a fetched (or committed) manifest may
// claim a last chunk, and a Size, other than the bytes. Manifest.validate
// refuses what can be refused without the bytes; every chunk read then
// compares the verified bytes' length with the claimed size (the whole
// check, a fetched chunk, the group cache's verified length), and bytes
// that match their key but not the claim prove the manifest bad: the
// claim lies, so nothing is counted as corruption or marked damaged, and
// no byte beyond the chunk's is ever served. The get drops the manifest
// (a get never stores or pushes one it fetched): once its chunk reads in
// flight are over (their bytes discarded) it starts over with the next
// candidate, chunk phase included, so a peer that advertises the object
// and lies costs a get one candidate, not the get; the get fails with
// ErrBadManifest when no candidate is left. A lie in this node's own
// committed manifest (a commit of an earlier build, or one this build
// could not judge: known gaps, below) is dropped the same way: the get
// asks the candidates as if the node held no manifest, and the object
// remembers the verdict (in memory, with the object: no other bound is
// needed), so later gets skip the manifest and ask the candidates at
// once, without a chunk read to prove the lie again. Only bytes verified
// against their keys set the verdict (a peer's refusal does not), so no
// peer can make a node ignore an honest manifest. The lie stays on disk:
// it is not rewritten nor the object dropped for repair to restore (that
// would let a wrong verdict cost a pinned object, and races GC and
// audits), so peers that fetch it prove it themselves (one candidate
// each), and a restart forgets the verdict (the next get proves it
// again, or the background scrub does first: Scrub, below). A range that ends past
// a manifest's Size (or the empty tail from the Size on) is not answered
// from the claim: the manifest's last chunk, whose key binds its offset
// and its length, is checked first (checkEnd), so a manifest claiming a
// smaller Size costs a get one candidate like any other size lie, and
// the range is served from an honest one. The group cache's verified
// length of the chunk at its offset decides without a read; else the
// chunk is read (or fetched) whole once and its verdict cached, so an
// honest range past the end stays ErrRange (416) and costs at most one
// chunk read while the verdict is not cached, none once it is; a client
// asking ranges past the end costs a node no more than reading the
// object's last chunk. This applies to this node's own manifest too,
// whose Size may be an earlier build's lie. When no source serves the
// last chunk (unavailable, corrupt, not found) a fetched manifest's
// claim is not answered, whether the check runs past the end (checkEnd)
// or beside a range (sideCheck): the get fails with the chunk's error, as a
// read of a chunk of the range would (ErrUnavailable, retryable, when a
// holder was silent or busy; not found everywhere is ErrUnavailable too,
// never ErrNotFound: the manifest, verified against the address, proves
// the object exists), so an honest range past the end, or a
// HEAD, answers 503 instead of 416 or 200 while every holder of the
// last chunk is unreachable: the price of not believing a Size no byte
// proved (content_liars seed 411 served a liar's Size in a partition
// through the range check beside, sideCheck, before it failed the same
// way). This node's own manifest's claim stands: ErrRange (or the empty
// tail), as an own manifest is answered elsewhere. A holder's refusal
// of the offset drops the manifest, as for any read. A GetManifest answering a fetched
// manifest, and a whole Get answering ErrTooLarge from one, check its
// Size the same way before answering (the gateway answers HEAD, 416s
// and Content-Length from it and caches it): free when the verdict is
// cached (a size lie's verified length is cached too, so the next
// candidate is judged without a read),
// else one read or fetch of the last chunk per object, which a streamed
// GET reads again at its end; this node's own manifest is answered as it
// is (its chunks were verified when it committed, by this build's commit
// check, except an earlier build's). A range within a fetched manifest's
// Size that stops before its last chunk (so no read of it checks the
// last chunk's size) carries the Size in its reply too: the same check
// runs beside the range's chunk reads (sideCheck: one more read in the
// get's window, started first, so a range over more chunks than the
// window holds runs with one read fewer in flight until the check is
// over), and the get answers once both are over: a silent candidate is
// waited for once, by the reads in parallel, not once more before them,
// and a cached verdict costs nothing. A lie it proves
// drops the manifest (the range's reads in flight are discarded) and the
// next candidate is asked, as for any size lie; a last chunk no source
// serves fails the get as a chunk of the range would (its reply would
// answer the claim as the object's Size, unproven). A range from this node's own
// manifest is answered as GetManifest answers it, without the check (a
// holder's range costs its chunks' reads alone). A wrong size in a GetChunk or GetChunks, whose sizes
// the client gave, fails the read with ErrBadRequest. A part read
// that finds the value shorter than the groups it asks for is damage
// (the cache's length was verified), as a part that fails its check is.
//
// The sizes of chunks before the last are not bound by the keys either
// (a 64 KiB chunk claimed as two 32 KiB ones merges to the same root),
// so a manifest may move a chunk to another offset: that lie is caught
// by the offsets above (this node's index, or the holders' refusals), or
// by the size of a chunk read whole, and costs the get one candidate,
// never a corruption count or a heal.
//
// A commit is refused (statusBad) when its manifest places a chunk at
// another offset than the one this node locates it at (a session's or a
// push's verified offset, else its held manifests' offset; a push of a
// held chunk that nothing locates records the offset it verified), or
// claims another size for a chunk than the length this node verified:
// the one a push verified (staged chunks record it with the offset), else
// the group cache's verified length at the manifest's offset (a peek, no
// read). When neither knows the last chunk's length (the chunk is held
// through a session or another object that shares it, so its push was
// acknowledged without a write, or no push came: a held chunk is not
// missing), the commit reads the chunk at the manifest's offset and
// refuses a size that is not its length (commitManifest,
// readLastForCommit: one chunk read, only for a commit over a held last
// chunk). So the offsets the index records are ones the chunks verified
// at, and a lying peer cannot make this node's own manifest move a chunk
// nor claim another Size than the object's (the sizes of the chunks
// before the last are bound by the offsets of the chunks that follow,
// where this node locates them).
// The sizes the held manifests list are not used as evidence: a manifest
// of an earlier build was committed without this check, so they are
// claims.
//
// Known gaps. Manifests written by earlier builds are rechecked only by
// the scrub (Scrub, below), at its pace: until it reaches one (after a
// restart, every recovered manifest), a lie among them (a lying peer's
// commit) makes the index locate its chunks at the lie's offset when
// nothing verified here disagrees, so a get's checks there count as
// corruption, and a range within this node's own manifest that stops
// before its last chunk replies the manifest's Size unchecked (as
// GetManifest answers an own manifest; the gateway does not use that
// Size: its Content-Range total comes from GetManifest or its size
// cache). Once the lie is proven (by the scrub or a get) gets skip the
// manifest, but its listings still locate the chunks it moved at the
// lie's offset, so the honest offset is refused to peers, to the node's
// own gets and to commits until the lie is dropped. A range past the
// Size of this node's own manifest whose last chunk no source serves
// answers ErrRange, the claim unproven (an earlier build's lie among own
// manifests stands there as in GetManifest's answer). Liars among the placement nodes count
// toward the write quorum: a put acknowledged by W liars while the
// honest placement node was cut off has no honest replica until the
// coordinator's hand-off reaches that node (see Hand-offs; an honest
// coordinator keeps a copy meanwhile). The hand-off is bounded: when its
// table was full, or the coordinator restarted between the
// acknowledgement and the end of the put (before it kept a copy), the
// object depends on the acknowledging replicas' audits, whose pushes a
// liar can make fail every time (garbage pushes), as before hand-offs
// (content_liars_handoff.yaml, every lie at rate 1, lost such objects
// on seeds 10 and 14 then). A lost pin (recovery found its manifest
// corrupt twice) is restored only from the object's holders: when none
// serves it, the pinned copy stays missing, retried with a backoff that
// doubles to LostPinRetryMax (in memory: a restart retries at once), so
// up to that long after a holder is reachable again, or until a client's
// pinned put brings the bytes; a
// restore holds the whole object in memory (as a get does), one at a
// time, so a streamed object larger than Config.ObjectBytes is never
// restored (it would need a chunk-by-chunk restore; each attempt fails
// with ErrTooLarge, backed off); lost pins beyond LostPinsMax keep their
// records on disk but are restored only after a later start lists them;
// and a pinned object whose manifest a newer build wrote stays unserved
// (and unlisted) until that build runs again.
//
// Simulator support: LieFrame (adversary.go) rewrites a storage frame
// into a lie a peer can tell on the wire (a manifest that moves chunks
// or lies about the last chunk's size and still passes checkFor; a
// FetchChunk answered statusBad, statusCorrupt or with flipped bytes; a
// FetchChunk at another offset; a StoreChunk whose bytes do not match
// the key, or the right bytes at another offset; a Commit whose manifest
// moves chunks or lies about the last chunk's size; a Check answered
// "held" when the liar does not hold the object, "not held" when it
// does), drawing from the caller's stream only when it lies. A reply
// does not carry its request's kind, so the caller says which replies
// answer a Check (LieCheckAsked finds the Checks it sends a liar). The
// simulator runs it over its liars' outgoing frames (scenario
// `adversary:`, scenarios/content_liars.yaml, content_liars_push.yaml and
// content_liars_handoff.yaml);
// production code never calls it. What an honest node does with the
// write-path lies: a pushed chunk is checked against its key at its
// offset before anything is written (serveStoreChunk), so garbage is
// refused (statusBad) and neither stored, staged nor counted as
// corruption; a commit is refused when its manifest moves a pushed chunk
// or claims another size than the push verified (movesChunks); a false
// "held" only spares the liar a repair push (the audit pushes to the
// nodes that say "not held"), and garbage collection removes a copy only
// when every placement node says "held", so with one honest placement
// node it removes a copy only once that node holds the object (said so,
// or acknowledged the audit's push after its sync). With only liars
// placed, they decide: a false "held" from each lets the copy go, as
// R liars can always lose an object. Config.CorruptionFrom tells the
// simulator the source of each corruption counted (the peer whose bytes failed, or this node's
// disk), so its liar_corruption check judges each source; production
// leaves it nil (a node ID is no metric label: unbounded).
//
// # Repair and garbage collection
//
// A tick every Config.RepairInterval (jittered) restores one lost pin
// (recovery dropped its corrupt manifest: see Disk layout), taking the
// lost pins whose backoff has passed in turn, one restore in flight, none
// while the index holds LocalObjectsMax objects: it fetches the object as a
// client's get does (the manifest from the placement nodes, then the
// DHT's providers, checked against the address; each chunk verified
// against its key), splits the verified bytes as a pinned put would and
// writes the copy here under the pin record already on disk; a failure
// (no holder reachable, a failed write, a full disk queue) is logged and
// backs that pin off: its next attempt waits Config.RepairInterval,
// doubling after each failure up to LostPinRetryMax, so a pin whose
// holders are all gone costs a get per backoff, not per tick.
// The tick also audits at most
// RepairObjectsPerTickMax local objects, walking them in address order from
// a cursor, with at most RepairAuditsMax audits in flight: it asks every
// other placement node whether it holds the object and pushes the object
// (from the local, verified chunks) to those that do not. An object this
// node holds but is not placed on, and that is not pinned (a copy kept
// for a hand-off included), is removed once the audit saw every placement
// node hold it; that is the GC pass. Delete
// unpins and removes only this node's copy: the other replicas keep theirs
// and an audit may restore the copy if this node is a placement node. A
// Delete that finds the object's local write in flight (a put's, a peer's
// commit, a hand-off's kept copy) waits for it and then removes the copy
// (object.deletes, finishWrite): it answers not found only when this node
// holds no copy and writes none, or the write failed (and the object is
// no lost pin: then the pin record is deleted and the Delete succeeds).
// Network-wide deletion needs tombstones and is out of scope.
//
// # Scrub
//
// Nothing else reads a stored chunk until a client or a peer asks for it,
// so the scrub (scrub.go) reads every chunk of every committed local
// object in the background: bit rot on a rarely read replica is found
// before it is needed, and a manifest this build did not commit is
// proven or caught. It walks the objects in address order from a cursor
// (kept on disk now and then: a restart resumes the pass, below), and each object's chunks in
// manifest order, one read at a time (at most one scrub read in flight),
// through the normal disk path: the disk runs the whole chunk check
// (wholeChunkCheck) at the offset the manifest puts the chunk at, against
// the size it claims. After a read of n bytes it waits n /
// Config.ScrubBytesPerSecond (default 8 MiB/s, negative: off) on a timer;
// after a pass over every object it waits Config.ScrubPassInterval
// (default a day); it never takes the last disk job slot (client work's:
// it waits a RepairInterval instead). Objects deleted or collected while
// a read is in flight are left (the read's bytes are discarded). A read
// ends one of three ways:
//
//   - the bytes verify at the offset with the claimed size: the next chunk.
//     When every chunk did, the manifest's offsets and sizes are proven by
//     verified bytes (object.proven, in memory). A manifest this build
//     committed is proven at its commit (the commit check), so the scrub
//     reads its bytes for rot only.
//   - the bytes verify against the key at the offset but have another
//     length: the key binds its bytes' length, so the manifest lies (a
//     lying peer's commit, of an earlier build). The object gets the
//     verdict a get would reach (object.lies: gets skip it and ask the
//     candidates), storage_scrub_lies_total counts it, and the manifest is
//     kept, as for a get's verdict (Reads and corruption). The chunks are
//     read in order, so a chunk's offset is proven by the chunks before it
//     (each verified at its offset with its size): a manifest that moves a
//     chunk claims another size for a chunk before it, which the scrub
//     reads first and at its own offset, so a move is caught as a size lie
//     before a read at the moved offset.
//   - the check fails (or the chunk is missing): damage, exactly as a
//     get's failed read (readIntact: counted in storage_corruption_total
//     and marked damaged only at the chunk's known offset, then healed by
//     the repair tick from a replica). The chunks after it are read only
//     when the manifest is proven (their offsets do not depend on the
//     failed chunk's claimed size), else the object's scrub ends there.
//     A chunk already marked damaged is not read again (as damagedAt).
//
// An object whose manifest is proven wrong already is passed without a
// read (its offsets are claims). Its chunks are read through the objects
// that list them honestly, if any, but rot found there is not counted
// nor healed while the lie stays held: the lie still lists the chunk at
// another offset, so no offset is known to be its own (readIntact), and
// the honest object is not proven (a known gap, below).
//
// The cursor survives a restart (scrub.go, scrubRecord): the address of
// the last object the pass finished (the zero address once a pass ended)
// is written under "s/scrub", sealed, after a version byte. Within a
// pass it is written when an object's scrub ends and at least
// ScrubCursorInterval (1 min of the env's time) passed since the last
// write; one write in flight, never in the disk's last job slot (then a
// later object's end writes a later cursor). At Start, after the pin
// scan, recovery reads it (when the scrub is on) and the pass resumes
// after that object, so a node restarted more often than a pass takes
// (about 36 hours per TiB at the default rate) still reaches its highest
// addresses. A pass's writes have no sync of their own: one becomes
// durable with the next sync of any job (every commit syncs) or the
// disk's own flush. A crash that loses some keeps an earlier record
// (the disk keeps what the last sync covered, and of the writes after
// it at most a prefix), and an earlier record always names a lower
// object, also across passes: a pass's end writes the zero address at
// once (not waiting for the interval) with a sync of its own, one per
// pass (none when no record was written since the last durable zero, or
// since a Start that found no record: the end time below is then written
// without one), and the next pass reads nothing
// until that sync succeeded
// (retried every RepairInterval while it fails, or while the disk has
// one slot left; the pause starts once it is durable). Without it a
// record of the pass that ended, naming an object high in it, could
// survive a crash that lost the next pass's records, and the next pass
// would resume above objects it had not read and count itself over. So
// the pass resumes at or below where it was and repeats at most the
// reads since the surviving record (about ScrubCursorInterval of them,
// 480 MiB at the default rate, or more when no sync followed for
// longer): scrubbing is repeated, never skipped, and a sync per minute
// for a hint would cost more than the reads it saves. A missing record,
// or one that is corrupt, of an unknown version or length, or that could
// not be read, starts the pass from the lowest address (logged); it
// never fails the start, and the next write replaces it even when it
// names the zero address (a pass that ends before any other write). The
// pass-end record holds, after the zero address, when the pass ended (the
// env's clock, 8 bytes big-endian), written also when the zero address was
// durable already (then without a sync of its own: a crash that loses it
// keeps an earlier end time or none, and a restart waits less of the
// pause). A restart during the pause between passes waits only the rest
// of it (at least RepairInterval), and never more than one pause: an end
// time in the future (a clock that went backwards) does not stall the
// scrub. A record without an end time (of an earlier build) starts the
// next pass at once, as a node without a record does; an earlier build
// reading a record with one finds it of the wrong length and starts from
// the lowest address (logged), where it would start anyway. The gauge
// below is 1 through the rest of the pause. Objects below the cursor written since
// are scrubbed by the next pass, as before. The gauge
// storage_scrub_pass_ratio shows the pass's progress: the fraction of
// the address space below the last object finished (about the fraction
// of objects, addresses being uniform hashes), 1 from a pass's end
// through the pause between passes.
// storage_scrub_bytes_total counts the bytes read (a read whose check
// failed counts the chunk's claimed size), storage_scrub_objects_total
// the objects finished or passed.
//
// # Hand-offs
//
// A put acknowledged by W placement nodes may have missed the others
// (cut off, down, busy, or a push that failed or was refused). When the
// put finishes (every push answered, or its deadline passed), the
// coordinator records a hand-off (object, node) for each placement node
// other than itself that did not acknowledge it (handoff.go): at most
// HandoffsMax, one per pair. Each is attempted on its own timer, not the
// repair tick, so RepairInterval does not delay it: a Check asks the node
// whether it holds the object; "held" ends the hand-off, "not held"
// pushes the object from this node's local copy (its chunks read and
// verified, as a repair push), and an acknowledged push ends it
// (storage_handoffs_delivered_total). A failed attempt (no answer, busy,
// a refused push) is retried after 1 s, doubling up to 1 min (jittered
// from env.Rand), for at most HandoffAttemptsMax checks and HandoffAgeMax
// (an entry past its age is dropped on its own timer, attempted or not).
// At most HandoffsInflightMax attempts run at once, and at most one per
// node. A node that fails an attempt backs off as a whole, 1 s doubling
// per such attempt in a row up to 1 min (jittered), before any hand-off
// to it is attempted again: it did not answer the check (down, cut off:
// the check's RPC spent its retries, about 3.75 s), answered it busy, or
// said it lacks the object and then did not acknowledge the push (it
// refused or dropped a chunk or the commit: a full disk, a liar, a node
// cut off meanwhile). Only an attempt that ends with the node holding
// the object resets the count; one that failed here (an RPC not sent,
// the local copy gone or failing its read) leaves it as it was. So a
// node that takes the checks and fails every push costs one attempt (a
// push's disk reads and bytes) per backoff, about ten in three minutes
// whatever the number of its hand-offs, as a dead node does, not one per
// hand-off at each one's own pace (before, a node with 20 hand-offs whose
// disk refused the chunks got 168 attempts in three minutes:
// TestHandoffRefusedPushBacksNodeOff). Its other hand-offs wait with it:
// a refusal is taken as the node's (a full disk refuses every object).
// A node that refuses one object and takes the others is delayed by
// about a second per attempt of that object (each success resets the
// count), for that object's HandoffAttemptsMax attempts at most.
// The attempts due start earliest due first (a due time is the entry's,
// or its node's backoff when later; ties in the table's order), so a
// dead node's entries never hold every slot nor queue ahead of the
// hand-offs to live nodes (before, 150 entries to a cut node delayed one
// to a live node by 10 min, until they expired, while the table filled).
// An audit that finds the node holding the object ends its hand-off too. No time source but
// the machine's timers and env.Now is used, so runs stay deterministic.
//
// What it pushes from: this node's committed copy. A placement
// coordinator has its replica and a pinned put left one; a coordinator
// that is neither holds nothing after a put (a whole put's bytes were in
// memory, a streamed upload's chunks are released at its end). So, when
// it records a hand-off, such a coordinator first keeps a copy: it writes
// the object, unpinned, from the put's bytes, or from the session's
// chunks already on its disk (before the put releases them: only the
// manifest and a sync are written then). It keeps none, and records no
// hand-off, when the client deleted the object on this node while the
// put ran (a Delete marks the puts in flight for its address): a
// hand-off never writes back an object the client deleted. Any other
// removal meanwhile (a GC pass, a failed local write) does not stop it:
// the copy is written again from the put's bytes or chunks. A Delete that
// arrives while the kept copy's write is in flight takes effect when the
// write completes, as for any local write of the object in flight (a
// put's, a peer's commit): the requests that wait for the write are
// answered first (one that overlapped the Delete may be ordered before
// it), then the copy is removed, its hand-offs are dropped (gone) and the
// Delete succeeds; a write that failed stored nothing, and the Delete
// answers ErrNotFound (TestHandoffDeleteWhileCopyWritten; before, it
// answered ErrNotFound at once and the copy stayed, pushed by its
// hand-off, until a later Delete or the GC pass). A Delete while the put
// itself still runs, before any copy is written here, answers ErrNotFound
// when this node holds none (an unpinned put on a node not placed) and
// does not stop the put from keeping one at its end. That copy is an ordinary object
// this node is not placed on: its audits push it to the placement nodes
// that say they lack it, and the GC pass removes it once every placement
// node says it holds it. So it outlives the hand-off (expired, dropped
// or forgotten at a restart), and an honest coordinator holds an honest
// copy until its own audit sees every placement node hold one.
//
// Bounds: storage_handoffs_pending is the table's size;
// storage_handoffs_dropped_total{reason} counts hand-offs given up: full
// (the table had HandoffsMax entries: the new one is not recorded and no
// copy is kept for it), expired (attempts or age spent), gone (this node
// holds no copy to push from any more: the client deleted it, the GC pass
// collected it, or its write failed), moved (the node is no longer among
// the object's placement nodes when an attempt starts: the DHT's view
// changed; the copies' audits serve the new placement). A client making
// many puts while a placement node is cut off fills the table and no
// more: memory is HandoffsMax small entries (no object bytes), and the
// copies kept are objects on disk like the copies of pinned puts any
// client may ask for (bounded by LocalObjectsMax, collected as above).
//
// Crash: the table is in memory and a restart forgets it (the copies
// kept are durable and their audits go on, at the repair loop's pace).
// A restart between the acknowledgement and the put's end hands nothing
// off: the object then depends on the other replicas' audits (Known
// gaps). Rejected: keeping a put's bytes in memory for its hand-offs (up
// to ObjectBytesMax each, so a byte budget would drop most under load; a
// crash loses them; a streamed object is never in memory whole); leaving
// it to the repair audits alone (their cursor walks every local object,
// RepairObjectsPerTickMax per tick: hours on a full node, and a
// coordinator that is not placed has no copy to audit).
//
// # Repair backoff
//
// An audit pushes the object to every placement node that says it lacks
// it; alone, that pushes again at every audit (about once a
// RepairInterval per holder while the cursor wraps over few objects) to
// a node that acknowledges every push and keeps nothing (a liar), or
// that says "not held" and then refuses the push (a full disk, honest or
// not): before, three holders uploaded about 880 MB in a minute for 10 MB
// of content to one such member, and storage_repairs_total counted each
// acknowledged push (TestRepairLiarBackedOff: 1200 pushes in ten
// simulated minutes). So the audits remember, per (object, placement
// node), a push the node acknowledged and no check has confirmed since,
// and the pushes it failed (repairbackoff.go). A node that failed a
// push of an object (refused a chunk or the commit: statusBad,
// statusFailed such as a full disk's, a malformed missing list, or
// chunks still missing after PushCommitRoundsMax rounds), or that says
// it lacks an object whose last push it acknowledged for the second time
// since a check last confirmed it (it discards what it acknowledges, or
// lost it again), is not pushed that object again for 5 s, doubling per
// such backoff up to 10 min (not jittered: each holder's audit tick is,
// and no draw from env.Rand moves other schedules). The first such loss
// is pushed again at once: an honest node that lost its disk twice
// before the holder's next audit confirmed the object is repaired at
// that audit. A push answered busy (load shed, a sender over its staged
// share, a micronode at HeldBytesMax) backs the pair off 5 s, doubling
// only to 30 s (repairBackoffBusyMax) and not counted toward the 10 min
// doubling: it says little of what the node does once well, so a node
// that shed load for minutes is pushed again within 30 s of being well,
// not minutes later. A push left unanswered (the RPC timed out) after
// the node answered the audit's check doubles to 10 min like a refusal:
// a member that takes the checks and drops every push would otherwise
// cost up to PushWindowMax chunks, each sent RPCAttemptsMax times, per
// object every 30 s. An audit that skips a push for a backoff marks the pair, and
// the object is audited again at the first tick after the backoff ends
// (revisitBackedOff, before the cursor's objects, at most half of
// RepairObjectsPerTickMax and within RepairAuditsMax per tick, so the
// cursor always moves although revisits can keep each other going), not when the
// cursor next comes round (objects / RepairObjectsPerTickMax ticks:
// hours on a full node): a backoff delays a push by itself and no more.
// A pair costs one push per backoff, the liar's first loss one more:
// about nine in ten minutes from each holder, then one per 10 min
// (TestRepairLiarBackedOff); a busy node costs each holder one refused
// push per object about every 30 s while it stays busy (its first chunks
// only, up to PushWindowMax in flight: a busy answer comes before any
// write). Since the status codes do not tell a micronode's HeldBytesMax
// (busy) from transient load, such a node is pushed at that rate for as
// long as it stays full (a disk that fails the write, statusFailed,
// doubles). Only a Check that answers "held" forgets the pair (the
// repair is confirmed); a push that failed here (a local read, an RPC
// not sent) teaches nothing. A node that lost a copy it held, without
// such a history with this holder, is pushed at the next audit as
// before (TestRepairLostTwiceRepairedPromptly: three losses in a row,
// each pushed within 10 s of the audit that found it). The backoff is
// per object, not per node (unlike the hand-offs'): a liar about one
// object does not delay repairs of others to it, and a full disk
// refuses each object a logarithmic number of times.
// storage_repair_backoffs_total{reason} counts each backoff started:
// lost (a second loss of an acknowledged push), refused, and busy; the
// pushes skipped meanwhile are not repairs, and storage_repairs_total
// counts only acknowledged pushes (and heals).
// Bounds: at most RepairBackoffsMax pairs (in memory, a restart forgets
// them); a new one evicts the oldest pair never backed off doubling (an
// acknowledged push not yet confirmed, or one answered busy), else the
// one whose backoff ends first (ties: the oldest), so backed-off liars
// are the last forgotten (an evicted pair's revisit is forgotten too:
// its object waits for the cursor); a pair is dropped when its node says "held" or the
// GC pass removes the local copy. No map is iterated and no time source
// but env.Now is used, so runs stay deterministic.
//
// Known gap: a copy this node keeps without being placed (a hand-off's,
// or a placement that moved) is collected only once every placement node
// says it holds the object or acknowledges the audit's push (see Repair
// and garbage collection). A placement node that says "not held" and
// refuses every push (a liar, or a disk that stays full) keeps such a
// copy here for good: the backoff bounds the pushes, not the copy's
// life. One that acknowledges and discards lets the copy go at the first
// audit whose push it acknowledges (as before the backoff, which only
// spaces those audits out). Collecting on R-1 confirmations, or on a
// liar verdict, is left for later.
//
// # Rejected alternatives
//
//   - Chunks named by the BLAKE3 of their own bytes (format 1) dedupe equal
//     chunks at any offset, but cost a second hash pass over every byte on
//     put (chunk addresses, then the object address) and on a whole read
//     (chunks, then the whole object to catch a wrong manifest), and a
//     range was verified only against the manifest. Format 2 keeps one
//     pass and verifies against the address; the lost cross-offset dedup
//     mattered little, since objects are cut at fixed offsets, so equal
//     chunks at different offsets were rare outside synthetic data.
//   - A separate outboard of 16 KiB groups (bao's default granularity)
//     beside each chunk: finer verification inside a chunk, but the disk
//     reads whole chunks, so it would save hashing only, for 16x the
//     metadata and an extra key or value header per chunk.
//   - Migrating lazily (reading format 1 manifests at recovery and
//     rewriting them in place) would avoid `rond migrate`, but mixes two
//     formats in one store, and an older build could not open it again.
//   - Buffering all chunks in memory and writing them in one batch with
//     the manifest would make a replica write atomic, but costs up to
//     ObjectBytesMax of memory per incoming push; FIFO order plus a sync
//     before the acknowledgement gives the same durability.
//   - Finishing the orphan sweep before the node is ready would need no
//     care for chunks written meanwhile, but it would delay readiness by
//     a scan of every chunk key of the store (about twice the bytes of
//     the manifests recovery reads) for garbage that harms nobody while it
//     waits. Persisting staging (a "staged" key per chunk) would let
//     recovery find orphans without the sweep, at the price of a second
//     write per pushed chunk.
//   - Replicating each chunk of a stream as it arrives would spread the
//     upload's network cost over its duration, but the placement nodes
//     are unknown until the object address is (it depends on every byte);
//     chunk-addressed placement would scatter one object over the whole
//     network and break "an object lives on R nodes".
//   - Hashing the whole object at commit by reading every chunk back
//     would make the machine verify the claimed address itself, at the
//     price of a second full read of up to 4 GiB inside one put; the
//     gateway already hashes the stream it receives.
//   - Pull-based replication (targets fetch from the coordinator) needs
//     the coordinator to keep the bytes until every target asked; push
//     lets the coordinator bound its memory to the put's lifetime.
package storage

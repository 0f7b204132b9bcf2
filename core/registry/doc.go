// Package registry is RON's linearizable name registry (ARCHITECTURE 5.5): a
// node.Service that runs raft (go.etcd.io/raft/v3, RawNode only) among the
// replicas listed in Config.Replicas and accepts client operations on every
// node.
//
// # Ready, persist, Advance
//
// One Ready is handled at a time. On taking a Ready the machine writes its
// snapshot, entries and hard state as env.Seal'ed values (raft/snap,
// raft/e/<index 16 hex>, raft/hs), deleting entries raft truncated, then
// submits a DiskSync, except for a Ready whose only durable change is a
// higher commit index (raft's MustSync rule; the argument is on
// needsSync): its hard state is written and the next sync covers it.
// Only when the writes (and the sync) complete does it update the
// raft.MemoryStorage mirror and call Advance. Two things happen earlier,
// when the Ready is taken (Config.SyncBeforeSend turns both off): its
// messages that promise no durable state leave at once, so a leader's
// appends reach followers, which write and sync them while the leader
// syncs its own copy (raft thesis 10.2.1), and a follower's forwarded
// proposal or read index does not wait for the follower's sync; the vote
// and append acknowledgements (raft's msgsAfterAppend) wait for the
// writes (the argument is on sendEarly). And the committed entries the
// replica already holds durably are applied, so a client is answered
// when its entry commits rather than one disk round trip later (the
// argument is on applyDurable); the others are applied after the writes.
// A leader whose own writes are still on disk also applies the entries
// raft commits meanwhile on its followers' acknowledgements alone (raft
// thesis 10.2.1; the argument is on applyCommittedAhead), so a write's
// answer waits for the leader's sync only when a follower is slower.
// Incoming raft messages and ticks are stepped while a Ready is on disk,
// as raft allows.
// Writes are ordered so that a Ready split over several batches stays
// safe across a crash: the snapshot before the entries it replaces,
// deletions of a truncated tail before the entries replacing it, the hard
// state last. AsyncStorageWrites was rejected: it pipelines followers as
// well (several Readies in flight), which the one-Ready-at-a-time design
// and its crash tests do not cover; the early sends and applies are the
// parts of it that take waits out of a write's path.
//
// Raft messages (and log entries on disk) are raftpb's protobuf encoding;
// raftcodec.go writes and reads the shapes replicas exchange by hand, byte
// for byte as protobuf does, and leaves anything else to protobuf.
//
// At Start a replica scans raft/ in pages, unseals every value and rebuilds
// the mirror and the applied state (the snapshot's state, then the committed
// entries after it) before creating the RawNode with Applied = commit.
//
// # Timeouts
//
// PreVote and CheckQuorum are on: a replica that was cut off cannot disrupt
// a healthy leader when it returns (its pre-vote is refused while the others
// hear from their leader), and a leader that lost its quorum steps down
// within an election timeout, so an isolated old leader cannot serve
// ReadIndex answers. The election timeout (ElectionTicks) is long enough
// that a stalled but live leader is not replaced: on a busy machine the
// cost of electing a new leader (every op in flight at the old one ends in
// ErrUnknownOutcome) is higher than waiting out the stall.
//
// # Moving leadership
//
// Nor is a slow but live leader replaced: its heartbeats, however late,
// keep the followers' pre-votes refused. An operator moves leadership
// away with a TransferLeader request to the leader (leader.go; rond's
// POST /admin/registry/leader, ronctl registry leader), as etcd's
// move-leader: to a named replica (raft id or node id) or, with none, to
// the voter resetStaleMatch would choose (replicating normally, recently
// active, not unconfirmed; the highest match, ties the lowest id). The
// leader checks the target and calls RawNode.TransferLeader; raft stops
// accepting proposals until the transfer ends (they are retried as any
// dropped proposal) and sends MsgTimeoutNow once the target's log matches.
// Refusals (TransferResult) are definite (raft was not asked to move
// anything): ErrNotLeader with the leader this replica knows (a follower
// or non-replica does not forward the request: the caller sends it to the
// leader; a failed replica's wraps ErrFailed), ErrNoSuchReplica,
// ErrTargetNotCaughtUp (probing, receiving a snapshot, not heard from
// within an election timeout, unconfirmed: a follower probes until it
// acknowledged a new leader's first append), ErrNoCandidate (wrapping
// ErrSingleReplica in a one-replica group: no retry helps),
// ErrTransferInProgress. Once started (TransferStarted): success when
// raft reports the target as leader; ErrTransferFailed when this replica
// still leads with no transferee (raft aborted it one election timeout
// after the request: raft resets the leader's election clock then) or
// another replica won (New names it); ErrTransferUnknown when this
// replica cannot tell: it stopped or restarted during the transfer, or
// stepped down and learned no leader within transferWaitTicks
// (3*ElectionTicks, the target may lead unheard from). Success and
// ErrTransferFailed say where leadership is; after ErrTransferUnknown the operator checks
// registry_is_leader. An abort answers as this replica sees it: a
// MsgTimeoutNow delayed past the abort may still elect the target later.
// Ending a transfer makes every pending op due at the next tick: raft
// dropped the proposals and reads made meanwhile, and after an abort no
// leader change retries them (retryOnLeader). Nothing is written: no log
// entry, envelope or state changes, so no cluster version gate.
//
// # Failure states
//
// A disk error or corruption (a bad seal, an undecodable or out-of-order
// record, a log gap, a snapshot whose signature is not a replica's) moves the
// replica to the failed state: it stops stepping raft, so it neither votes
// nor serves with bad data, counts registry_corruption_total for
// corruption, answers new client ops with ErrFailed, and lets ops already
// proposed run out to ErrUnknownOutcome. A restart from durable state
// recovers from an I/O error; corruption stays failed until the disk is
// repaired.
//
// # Amnesia
//
// Losing a replica's raft state while keeping its node key (a new data dir
// under the same key) is NOT a supported operation: it is damage that the
// group limits, not a way to replace a disk. Such a replica comes back
// with no raft state under its old raft id; raft would let it vote and
// acknowledge as if it had never promised a term or held an entry, and
// the group could elect a leader missing writes it had helped commit, a
// permanent divergence. So a replica that recovers no raft state at all
// (no snapshot, no entry, an empty hard state) in a group of more than one
// replica starts unconfirmed (amnesia.go):
//
//   - raft is not ticked (it never campaigns); vote and pre-vote requests
//     and answers and a leader's MsgTimeoutNow are dropped both ways;
//   - it sends envStateQuery (its nonce, last log index and commit index) to the
//     other replicas every StateQueryTicks; each running replica answers
//     envStateReply: whether it holds raft state, its last log index and
//     its raft term;
//   - until every other replica has answered it sends no acknowledgement
//     at all (MsgAppResp, MsgHeartbeatResp, which also answer ReadIndex):
//     it forgot the term it promised, so a stale leader, one at a term
//     below a leader it helped commit for, could otherwise count it.
//     Once all answered it drops every raft message whose term is below
//     the highest term they reported (the replica it promised a term to
//     still holds at least that term) and acknowledges the rest: it
//     follows the leader and serves clients through it;
//   - a heartbeat's commit index is lowered to its own before raft sees
//     it: the leader's match for it may predate the wipe (raft panics
//     committing past the log), and its unverified entries commit only
//     through appends, by log matching;
//   - a leader that gets a state query whose last index is below its
//     match for the querier (it still counts entries the querier lost,
//     and raft ignores rejections at or below the match, so the querier
//     would never catch up) hands leadership to another voter that is
//     replicating normally (RawNode.TransferLeader); the new leader
//     probes the querier from scratch. With no such voter it logs a
//     warning and waits. A leader whose match is valid but whose commit
//     index is above the querier's (the query carries it: a restart lost
//     an unsynced commit index, and heartbeats no longer raise it)
//     re-probes it (ReportUnreachable): the probe append carries the
//     commit index. The leader judges a query by the longest log and
//     highest commit index the querier's incarnation (its nonce) reported
//     so far, so a query the network delayed or duplicated past a later
//     one does not trigger another hand-off or probe.
//
// It confirms, logs why and votes from then on, when
//
//   - every other replica has answered and its applied index reached the
//     highest, over the other replicas, of each one's lowest answer in
//     this incarnation: an entry committed before it lost its disk is on
//     a majority, so on some other replica, which never truncates it, at
//     or below every answer that replica gives; and the target does not
//     move with a busy group's uncommitted tail (the latest answer did:
//     a replica of a group taking 100 writes/s at 60 ms latency never
//     confirmed). A committed prefix that long holds every such entry. One heartbeat
//     from a leader is not enough (the leader could die before sending
//     the entries); or
//   - every replica of the group, itself included, reports no state:
//     nothing was ever committed or voted for, the group is new. A
//     majority is not enough: one replica that lost its disk and one that
//     never started are a majority of three while the third holds every
//     acknowledged write. So a new group elects its first leader only
//     once all its replicas have started (each with an empty dir); a
//     replica that is down from the start holds the group's bootstrap.
//
// It writes raft/unconfirmed (synced, before anything raft writes: disk
// ops complete in order) and deletes it on confirming; a replica that
// restarts with the mark still on disk is unconfirmed again although its
// log is no longer empty (it may have caught up only part of the way).
// Confirming writes raft/confirmed (synced) in the same batch, holding
// the highest term the others reported: while the replica's own raft
// term is below it, a message of a lower term is still dropped after
// confirmation (and after a restart). A replica with the mark reports
// state even with an empty log. An older build
// ignores both keys (recovery skips unknown raft/ keys).
// registry_unconfirmed is 1 while it waits, and the warning at recovery
// says what it waits for.
//
// What this guarantees, for one replica that lost its raft state while
// every other replica kept its own: it does not vote, campaign or
// acknowledge until every other replica has answered, and it does not
// vote until it holds every entry any of them reported; acknowledged
// writes are meant to survive (the tests in amnesia*_test.go, and
// scenarios/amnesia.yaml in the simulator, whose wipe fault erases a
// replica's disk under load). What it does not guarantee, or costs:
//
//   - while it is unconfirmed the group commits and elects only with a
//     majority of the other replicas, and every other replica must be up
//     for it to confirm: a 3-replica group with one replica wiped and one
//     down has no leader, rather than a wrong one, until the down one
//     returns; a group with a replica dead for good and one wiped never
//     confirms it (a 5-replica group with one dead and two wiped cannot
//     elect at all);
//   - two or more replicas emptied at once are not protected: if the
//     others are down, nothing inside the group can tell a wipe from a
//     replica that never held anything, and what only the others held may
//     be lost; rond refuses a data dir that lost its store (io/datadir's
//     store_created) when it can, restore the store instead;
//   - mixed builds: a build before this one counts envelope kinds 8 and 9
//     as malformed (registry_rejects_total, about ten a second from each
//     unconfirmed replica) and never answers, so a replica of this build
//     that starts empty among them stays unconfirmed until they are
//     upgraded (safe: it neither votes nor acknowledges). A fresh group of
//     mixed builds bootstraps through its older builds alone if they are
//     a majority. Downgrading an unconfirmed replica drops the protection
//     entirely: the older build votes at once;
//   - replacing a dead disk: a new node key is a new node id, which is
//     not a voter. The registry's voters are static (Config.Replicas, the
//     same --replicas list on every node; raft ids are positions in it)
//     and this build has no membership change: there is no supported way
//     to replace a registry voter. Restore the replica's store from a
//     backup or a copy of its disk when you can; otherwise keep the group
//     running on the remaining majority.
//
// # Client operations, forwarding and dedup
//
// Each node numbers the ops it accepts within a session drawn from
// env.Rand at every Start. A leader proposes writes itself; a follower
// forwards them to the leader it knows of, as a non-replica does, so that
// neither the proposal nor the answer waits for the follower's own disk
// (forwardWrite; without a known leader it proposes, and raft forwards
// the proposal). A replica serves Resolve through
// ReadIndex, answering once its applied index reaches the read index; the
// ReadIndex context carries a per-incarnation nonce so a late answer to an
// earlier incarnation's read cannot match. A non-replica forwards each op to
// a replica, starting with the last leader it heard of and moving through
// the replicas in order on every retry; replies carry the replier's leader.
// Retries back off exponentially with env.Rand jitter until OpTimeout, then
// the client gets ErrUnknownOutcome; ErrUnavailable only when the op was
// never proposed or forwarded (a Resolve's unknown outcome is harmless:
// io/gateway answers it 503 UNAVAILABLE, retryable). NoLeader reports a
// replica of several that has known no raft leader for NoLeaderGrace
// election timeouts (registry_has_leader is the gauge), and a non-replica
// whose ops' replies have said "no leader" (leader 0) for longer than
// that, lately (NoLeaderReplyTTLOps: it reaches only a leaderless
// minority; a replica that knows no leader answers a forwarded Resolve
// codeRetry at once, as raft would drop its ReadIndex silently);
// ReplicasSilent a non-replica whose revocation pulls no replica has
// answered for a few periods: rond's readiness reads both. StatusQuery
// answers this node's View (leader, term, its part) from memory, for GET
// /status. A replica that learns of a new leader makes
// every pending op due at its next tick (retryOnLeader, as etcd retries
// its reads on a leader change), so an op accepted while there was no
// leader, or forwarded to one that is gone, does not wait out its backoff
// (up to RetryBackoffMax plus jitter) once a leader is known, and one
// accepted shortly before a partition heals is answered rather than
// ending at OpTimeout. Learning again the leader it knew before a spell
// without one (a pre-candidate hearing from it again) is no change: only
// the ops attempted while it knew no leader (raft dropped them) are made
// due; those forwarded to that leader keep their backoff. A non-replica
// learns leaders only from replies and keeps its backoff.
//
// registry_commit_latency_seconds times writes from acceptance to the
// registry's answer (committed, or refused by the state); an op ended by
// its deadline is counted in registry_timeouts_total{outcome} instead
// (unknown_outcome or unavailable). Its time is OpTimeout by
// construction: observed, the ops a partition strands on its cut-off
// side made the commit p99 the share of writes that timed out (over 1%
// gave OpTimeout plus a tick, scenarios/partition.yaml's failing seeds),
// not how fast the registry commits. Resolves ended so were never in
// index_resolve_latency_seconds and are counted the same way.
//
// Retried writes are de-duplicated by the state machine by (origin node,
// session, op number). Each session keeps at most SessionResultsMax
// results, and a "floor" (the lowest op number its origin still waits for,
// carried in every entry); ops below the floor are expired and never
// applied again. PendingOpsMax <= SessionResultsMax, so every op an origin
// still waits for keeps its result. At most SessionsMax sessions are kept;
// when full, the session applied least recently is evicted: a retry
// arriving after its session was evicted could be applied twice. With
// SessionsMax = 128 that needs 128 other client incarnations to write
// within one op's OpTimeout.
//
// A Set that the replica's own applied state already shows as refused (a
// seq at or below the name's, or another owner: final, since a name's
// seq only grows and its owner never changes) is not proposed: a refusal
// carried through the log costs every replica a write and an fsync, and
// under compare-and-set contention most attempts are such conflicts. It
// is judged instead on the state at a ReadIndex, as a Resolve is read
// (checkFirst, checked), by the same rule the apply uses (setOutcome), so
// its ErrStaleSeq carries the name's state at a point inside the op's
// window, as a refusal at apply does; a Set that passes there is proposed
// and judged again at apply. A Set proposed once is never checked this
// way (its outcome may be in the log), a check gets one try (its retry
// proposes, so a lost read or a partition ends the Set as it ends any
// write), and the signature of every Set is still verified at ingress,
// before either path.
//
// A refusal's words are chosen where its answer is delivered
// (Registry.complete, resultErr), never replicated: the dedup table and
// the reply envelope keep the code, which is what every build records.
// So a Claim refused by NamesMax reads ErrRegistryFull ("registry:
// full") and a Set whose seq is ahead of the name's a SeqAheadError
// with both seqs, while they remain ErrTooLarge and ErrStaleSeq to
// errors.Is, and replicas of builds that word them otherwise agree on
// every entry. The registry bounds names in total (NamesMax) and, from
// cluster version VersionQuota on, per tenant ("Tenant quota" below);
// below it a tenant's share is bounded at the gateway only (io/gateway
// doc.go, "Name quota").
//
// # Replicated state and snapshots
//
// The state is names (owner key, target, seq), signed node descriptors,
// the dedup table and a hash chain: chain = BLAKE3(prev || index || term ||
// entry data) over every applied entry, empty ones included. Every entry
// is validated again at apply time (except a Set's signature, below), so a
// bad entry in the log is rejected by every replica alike. StateHash is the BLAKE3 of the canonical content
// encoding (every map sorted by key). Counts are bounded (NamesMax,
// DescriptorsMax, SessionsMax) so that the worst-case state fits
// SnapshotBytesMax, one frame and one disk value.
//
// Every SnapshotEntries applied entries, or SnapshotInterval after the
// snapshot stopped covering the state, a replica takes a snapshot: data =
// version | canonical state (applied index, term, chain, content) | signer
// public key | Ed25519 signature. The log is compacted to LogRetainEntries
// behind it. A snapshot received from the leader is verified (signer is a
// replica, signature, decodable state at the metadata's index) before it
// is persisted.
//
// # Signatures
//
// A Set's Ed25519 signature is verified once, by the replica that accepts
// it (at ingress for its own clients, in onForward for a non-replica's;
// the non-replica checks it too, but it is not trusted to; a leader takes
// a follower's forward, like its raft proposal, as checked), and not again
// when any replica applies the entry or replays its log. This is safe
// under the crash-fault model raft assumes: only replicas put entries in
// the log (a raft message is stepped only when it comes from the replica
// whose raft id it claims, over the overlay's authenticated connections),
// a correct replica proposes only Sets whose signature verified, and every
// replica applies the same committed entries byte for byte (entries on
// disk are sealed, so a changed byte is corruption and fails the replica,
// never a different entry). A committed Set therefore always carries a
// signature that verified, and a second check on each of N replicas could
// only ever say "valid": it was a fifth of a 3-replica cluster's CPU
// (issue 15). A replica that forged a signature could as well forge any
// other field of an entry it proposes; tolerating such a replica needs a
// Byzantine protocol, not a second check. Rejected: keeping the check at
// apply and batching it (Ed25519 batch verification): every replica would
// still verify every Set, faster, and the standard library has no batch
// API. Describe and Revoke are still checked at apply: they are rare, and
// a Revoke depends on Config.AdminKeys, which may change between a
// proposal and a replay. Config.Signatures (the simulator's shared cache)
// now serves the two ingress checks of a forwarded Set.
//
// Weak keys. ed25519.Verify is cofactorless: under a key of small order
// (the identity point 01 00..00 and 7 others) the signature R = identity,
// S = 0 verifies for every message, or one in 2..8, so anyone can sign
// for such a key; no key derived from a seed is one. A Claim's or Set's
// owner key and a Describe's node key that is of small order or not
// canonically encoded (proto.CheckPublicKey) are refused where they are
// first accepted: at ingress (checkRequest) and in onForward for a
// non-replica's op (registry_rejects_total{reason="bad_key"}; the
// client's error names the key). Never at apply: validateOp and
// validateDescriptor do not look, so an entry already in a log (from
// before the check) applies as it always did on every replica and after
// a restart. Config.AdminKeys come from the node's configuration; core/
// stack's Validate and rond's admin_keys refuse a weak one at start.
//
// # Revocations
//
// The state also holds a revocation list of capability token ids
// (auth.TokenID -> the token's expiry and the log index that last changed
// the entry). A Revoke is accepted only when signed by a key in
// Config.AdminKeys, checked at ingress and again at apply (a bad entry that
// reached the log changes nothing on any replica). The list is bounded by
// RevocationsMax and pruned at apply time, deterministically: the proposing
// replica stamps each Revoke with its clock, the state keeps the highest
// stamp applied, and entries whose expiry is RevocationRetainAfterExpiry
// behind it are dropped. No replica's own clock is read at apply, so all
// replicas prune alike; the list is in the canonical encoding, the state
// hash and snapshots.
//
// A replica answers Revoked from its applied state. A non-replica with
// Config.RevocationPullInterval > 0 sends "revocations since index N" to
// every replica each interval (jittered by RetryJitterFrac) and merges the
// answers (paged by RevocationsPerPullMax) into a bounded
// auth.MemRevocations view. Propagation bound: a node that can reach a
// replica which applied a revocation committed at T holds it by T +
// interval * (1 + RetryJitterFrac) + a round trip; a partitioned node, the
// same bound after the heal; a restarted non-replica, one round trip after
// its Start (it pulls at once). A linearizable read per check was rejected:
// it would put every authorisation on the quorum's latency and availability.
//
// # Cluster version
//
// Log entries and snapshot states start with a version byte, the cluster
// version they were written under (clusterversion.go), after etcd's
// cluster version. A replica reads every version up to its
// Config.VersionMax and writes the cluster version its state holds, so a
// newer build never writes a format an older replica cannot read:
//
//   - A replica whose VersionMax is above VersionBase advertises it to the
//     other replicas every VersionAdvertiseTicks (an envVersion envelope).
//     A base build sends nothing, so builds that predate this mechanism,
//     which count an unknown envelope as malformed, never see one; a
//     replica that does not advertise counts as VersionBase.
//   - The leader proposes an opClusterVersion entry for the lowest version
//     among its own and every other replica's advertisement fresher than
//     VersionAdvertFreshTicks, when that is above the applied cluster
//     version. The entry is written in the version it raises to, and the
//     raise is state (snapshot, state hash), decided through raft like any
//     write, so every replica switches at the same log index.
//   - Apply rejects an entry of a version above the cluster version at its
//     position (registry_rejects_total{reason="apply_invalid_version_ahead"}),
//     alike on every replica.
//   - A replica that meets an entry or snapshot above its VersionMax (it
//     was downgraded after the raise, or raced the raise) stops by name:
//     the failed state with env.ErrNewerFormat in its error, not counted as
//     corruption, and never skipping the entry, which would diverge its
//     state from the replicas that apply it. Upgrading its binary recovers
//     it from its own disk.
//
// The cluster version never goes down: a rolling downgrade is safe only
// while it has not been raised (etcd adds an explicit downgrade mode; this
// registry does not). Non-replicas do not take part: they read no log
// entries (they learn the version only to carry tenants, "Tenant quota").
// VersionBase (today's format), the test-only VersionTest (the same
// layout under version byte 2, which alone may carry opClusterVersion)
// and VersionQuota (VersionTest's layout plus a Claim's tenant and quota
// and a name's creating tenant, "Tenant quota") exist. No rond setting
// reaches VersionTest (only the io/runtime failpoint registry-version-max,
// off unless a test turns it on); rond's cluster_name_quota, off by
// default, sets VersionMax to VersionQuota (cmd/rond doc.go, "Cluster name
// quota"), so by default a build advertises nothing and stays at
// VersionBase, and the raise is an operator's explicit step, as etcd's
// version raises are. DurableClusterVersion reads the version a
// replica's disk applied, so rond can refuse to start a replica whose
// VersionMax is below it, naming the setting, instead of letting it stop
// at recovery. The simulator's upgrade
// fault restarts a node on VersionTest, and ronsim real's sets that
// failpoint, so scenarios/rolling_upgrade.yaml raises the cluster version
// after its last upgrade in both worlds.
//
// # Membership
//
// Config.Members, when set, is a closed membership (rond gives it the same
// list as storage and the DHT: self, replicas, bootstrap peers and the
// members setting; io/runtime NodeSpec.Membership). A registry message
// from a node outside it is dropped before its envelope is read and
// counted as registry_rejects_total{reason="not_member"}: a forwarded op
// of any kind (Claim carries no signature, so an outsider could otherwise
// fill the registry past the gateway's tokens and quotas, as a member
// still can: "Trust boundary" below; Resolve and StaleResolve would hand
// it names), a revocation pull (it would hand it
// the revocation list), a revocation list and a reply. A forward is
// answered codeNotMember, which the forwarding node returns as
// ErrNotMember at once instead of timing out; nothing else is answered.
// Raft and version messages keep requiring a replica (a replica is always
// a member). Empty Members: any node may forward and pull (an open
// network). This node is always a member of its own registry. A
// SetMembers request replaces Members on a running registry (rond's
// reload of its members setting); it does not touch the raft voters
// (Config.Replicas), which change only with a restart.
//
// The gate is here, not in core/node's routing: each service owns its
// refusal (storage and the DHT check their own Members), its reason metric
// and its answer: a refusal the sender understands needs the protocol's
// reply frame, which only the registry can build. The simulator lists
// every node of a small world (sim/runner), so no run is refused and
// traces are unchanged; larger worlds leave it open.
//
// # Trust boundary
//
// Replicas are trusted crash-fault: a replica that lies could propose any
// entry, so nothing a replica forwards is checked again (a leader takes a
// follower's forward like its own proposal). Members that are not
// replicas (gateways) are trusted to forward what their clients were
// authorised to do, and only partly checked: a Set's signature, every
// owner and node key (bad_key), a Describe's and a Revoke's signatures
// are verified by the replica that serves the forward, so a lying member
// cannot change or take over a name it does not own, forge a node
// descriptor or revoke a token.
//
// A Describe is tied to the node that forwards it: a non-replica
// describes only itself, the descriptor's node id equal to the
// forwarder's, which the overlay authenticated. The replica serving the
// forward refuses any other before proposing it: ErrNotOwner, saying so,
// and registry_rejects_total{reason="describe_not_self"} (a non-replica's
// own ingress refuses it the same way, without forwarding). Before
// (2026-12-08, red team), a member forwarded descriptors of keys it made
// up, each validly signed, until the table held DescriptorsMax; no op
// removes a descriptor, so every node described after was refused
// too_large for good, across restarts. A replica's Describe (its client's
// or its forward) may describe any node. In a closed membership a member
// can now add only its own descriptor; in an open network (empty
// Members) a node can still come as many identities, each describing
// itself, so the table is bounded by DescriptorsMax, not protected. A
// Describe of a new node while the table is full is refused before it is
// proposed (descriptorsFull; registry_rejects_total{reason=
// "descriptors_full"}, ErrTooLarge, the answer apply would give), so a
// flood of them no longer grows every replica's log; apply still checks.
// During a rolling upgrade, an older replica serving a forward does
// neither check.
//
// A Claim carries no signature and no
// token: the registry cannot tell who asked for it, and its tenant digest
// and quota (from VersionQuota on) are the forwarder's word. So a lying
// member can claim names under no tenant, a tenant it invents or another
// tenant's digest, with any quota, until the registry holds NamesMax
// names and every honest tenant meets ErrRegistryFull (names are never
// released). registry_names shows it; such claims are not in any node's
// audit log (the audit is the ingress gateway's) and not in
// registry_ops_total (counted by the node whose client asked).
//
// A partial guard was built and not landed (2026-12-08): refusing a
// non-replica's untenanted Claim at VersionQuota. It stops only the
// trivial form (the member then names an invented tenant), and it would
// have made exempt tokens claim only through a replica's gateway and
// left older non-replicas retrying until their ops timed out.
//
// The fix (not built): from a new cluster version, a forwarded Claim
// carries the client's capability token, and the replica that serves the
// forward verifies it once, before proposing, never at apply, with
// core/auth's verifier as the gateway does: signed by one of the admin
// keys, unexpired by the replica's clock, granting name writes, its
// tenant's digest equal to the entry's, not revoked in the registry's
// own replicated revocation list; the quota is the replica's
// configuration, not the forwarder's. Refusals get a code the gateway
// maps to 403 and registry_rejects_total{reason="claim_token"}; the
// simulator's tokenless workload is minted a token at that version. That
// bounds a lying member to the tenants whose tokens it has seen and to
// their quotas.
//
// # Tenant quota
//
// From cluster version VersionQuota (3) on, a Claim entry carries the
// claiming tenant's digest (TenantDigest: BLAKE3 of the tenant name,
// 16 bytes) and the quota its gateway applies, and each name's record
// keeps the digest of the tenant whose claim created it. Apply refuses a
// Claim of a new name with codeNameQuota (ErrNameQuota; the gateway's 403
// NAME_QUOTA) when the names created by its tenant already number the
// entry's quota, before the NamesMax check. What counts:
//
//   - Only names a tenant's claim created. A Claim of a name that exists
//     is never new: its owner's re-claim succeeds at the quota, another
//     owner's is ErrTaken, and neither counts for the claiming tenant.
//     Names are never released, so a count only grows.
//   - Names created before the raise (entries of an older version carry
//     no tenant) count for no one; nothing is rebuilt for them: the
//     tenant of an old claim is not in the log. Likewise a Claim with no
//     tenant (an exempt token: rond's root token, or a client that has no
//     tenants, such as the simulator's workload) is neither counted nor
//     bounded.
//   - The quota travels in each entry (Quota 0: counted, not bounded), so
//     an operator's change of names_per_tenant applies to the next claim
//     without a state migration, and the refusal is a function of the
//     state and the entry on every replica. Gateways that disagree each
//     bound by their own value: a tenant reaches the highest quota among
//     the gateways it claims through; lowering it refuses new names until
//     the tenant is below it, and releases none.
//
// The count is not encoded: it is derived from the names' tenant digests
// (which the state encodes from VersionQuota on, so a snapshot keeps
// them) and rebuilt on decode, in no order that reaches output.
//
// The tenant must reach the proposer. A replica proposes with its applied
// cluster version, and forwards to its leader in that format. A
// non-replica does not read the log: it sends a Claim's tenant
// (envForwardQ, a forward kind older builds cannot read) only once a
// replica told it the cluster is at VersionQuota (an envVersion sent to a
// non-replica that forwarded a plain Claim: to a non-replica, envVersion
// means the applied cluster version, which never goes down). It does so
// whatever its own VersionMax (rond's cluster_name_quota may be off on a
// gateway): it reads no log, and a replica says VersionQuota only once
// every replica reads envForwardQ. Until then,
// and on each restart of the non-replica until its first Claim is
// answered, its Claims leave without the tenant and count for no one: a
// tenant gains at most the claims it has in flight in that window per
// non-replica start, which the gateway's own edge quota still bounds. A
// leader whose applied cluster version lags the raise also proposes
// without the tenant. Non-replicas of builds before this one count the
// envVersion as malformed (registry_rejects_total{reason="malformed"})
// and keep sending plain Claims, which work as before but are not
// bounded by the registry: upgrade them before the replicas, or expect
// that count while they catch up.
//
// registry_claims_untenanted_total counts, on each replica, the names
// created at VersionQuota or above by a Claim without a tenant: those of
// exempt tokens, and every claim that went past the quota (an older
// build's gateway, a restarted non-replica's first claims, a lagging
// leader's proposals). A count that grows with no exempt traffic shows
// such a bypass.
//
// No build reaches VersionQuota by default: Config.VersionMax defaults to
// VersionBase. rond's cluster_name_quota setting (and, in tests, the
// io/runtime failpoint registry-version-max, return(3)) raises it: every
// replica that has it on then advertises VersionQuota, and the leader
// raises the cluster once all do. The simulator's and ronsim real's
// upgrades still move to VersionTest.
//
// # Names
//
// Names are lowercased (ASCII only) and then must be dot-separated labels
// of [a-z0-9-], 1..63 bytes each, 253 in all. Other bytes are rejected, not
// mapped, so two different inputs become the same name only by ASCII case.
//
// # Canaries
//
// Config.Bug selects deliberately wrong variants (LocalResolve,
// AckBeforeCommit, SkipSync) only in builds with the canary tag; normal
// builds ignore it and count registry_rejects_total{reason="canary_ignored"}.
package registry

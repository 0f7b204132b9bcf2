// Command rond runs a RON node: the same state machines as the simulator,
// bound to QUIC (io/quicnet), pebble (io/pebbledisk) and the real clock by
// io/runtime, behind the HTTP API of io/gateway.
//
// # Two commands
//
//	go run ./cmd/rond                  # a micronode: one node, in memory
//	go run ./cmd/ronctl put README.md  # store a file (RON_TOKEN from rond's banner)
//
// With no flags rond starts a micronode: everything in memory (pebble on
// an in-memory file system: nothing survives the process), HTTP on
// 127.0.0.1:8080, QUIC on UDP 127.0.0.1:7070, a registry of which it is
// the only replica (single-voter raft), and the DHT and storage machines
// (one replica, R = W = 1, while alone). It mints a root capability token
// (every op) from a fresh MAC key, prints it once with curl examples, and
// writes it to --root-token-file when given (mode 0600).
//
// # Macronode
//
//	rond --data-dir /var/lib/ron --http-addr :8080 --quic-addr :7070 \
//	     --bootstrap <id>@10.0.0.2:7070 --replicas <id>,<id>,<id>
//
// --data-dir stores pebble under DIR/pebble, the node key in DIR/node.key
// and the capability MAC key in DIR/cap.key (both mode 0600, created on
// first start), so the node id and tokens survive restarts. A node
// joins peers with --bootstrap (DHT contacts and overlay peers). The
// registry runs on the nodes in --replicas (plus this one with
// --registry-replica); with peers but no replica list the node runs no
// registry and name routes answer 503.
//
// # Membership
//
// A node with peers runs a closed membership: this node, its --bootstrap
// peers, its --replicas and its --members (members / RON_MEMBERS, node
// ids in hex like replicas: nodes of the cluster reached otherwise, e.g.
// listed in another node's bootstrap). Storage places each object on the
// R members closest to its address (R = min(3, members)) and serves its
// peer protocol (store, commit, check, manifest and chunk reads) only to
// members; the DHT learns, answers and takes provider records only from
// members; the registry serves forwarded ops (claim, set, resolve,
// revoke) and revocation pulls only to members (a refused node's op fails
// with "not a member of the cluster"). A request from any other node is
// refused and counted as storage_rejects_total / dht_rejects_total /
// registry_rejects_total{reason="not_member"} (core/storage, core/dht and
// core/registry doc, "Membership", "Members"). In front of them the QUIC
// transport closes any other node's connection right after its handshake
// (transport_handshake_fail_total{reason="not_member"}; io/quicnet doc,
// "Closed membership"), before a frame of it is read, and the overlay
// admits sessions only from members, so strangers with fresh keys hold
// neither connections, frame buffers nor overlay sessions; every member,
// listed with an address or only by id, may use the quarter of the
// inbound connections kept for the cluster. Every node of a
// cluster must list the same membership, and must be able to reach every
// member (by its bootstrap address, or a connection the member opened): a
// member no one reaches is still a placement target and costs puts
// replicas. The peer protocol carries no token, so without a membership
// any node reaching the QUIC port could store objects (no token, quota,
// audit or --memory-max: those are the gateway's) and read every object,
// and fake ids in the routing table became placement targets. A node
// alone (no bootstrap, replicas or members) has no membership, so that a
// second node can join it without being listed, and serves its peer
// protocol to any node reaching its QUIC port, only while that port is
// loopback (the default; within --memory-max on a micronode). With a
// --quic-addr that is not loopback, or a --policy file, it runs the
// membership of itself alone instead (runtime.NodeSpec.ClosedAlone): the
// peer protocol carries no token and does not consult the policy, so an
// open node alone would take any outsider's objects and serve every
// object. List --members on such a node for other nodes to join it.
//
// Nodes that disagree on membership are told so. A refusing node logs
// each refused peer's id, once per id per 10 minutes ("refused peer <id>:
// not a member (transport); list it in members on this node if it
// belongs to the cluster"; storage, dht or registry instead of transport
// for a member a service still refuses), at most 10 such lines a minute
// in all, followed by a count of those not logged (ids are free to make,
// so strangers cannot fill the log), and deploy/prometheus/alerts.yml's
// RonPeerRefusedNotMember fires on it. The refused node logs "peer <id>
// refused this node: not a member of its cluster; list this node (<id>)
// in members on that node". Its puts miss the refusing member's copy,
// which it cannot reach: they fail or lose that copy as with a member
// down (a put refused by a member that still reads its frames, a node
// on an older build, fails with an error naming it: "<id> refused it:
// this node is likely not in its membership").
//
// Upgrading a cluster to a build with the membership (from one that
// served every peer): before restarting any node on it, list every node
// of the cluster on every node (bootstrap, replicas or members), else an
// object held only by nodes a node does not list cannot be read through
// that node (it neither asks them nor is served by them), and puts
// through unlisted nodes miss the listing nodes' copies.
//
// Adding a node (growing 3 nodes to 4) means listing it in members on
// every node; members is reloaded without a restart. On SIGHUP, and when
// its --config file changes (polled every second), rond builds its
// configuration again as at start (file < RON_* < flags) and, when the
// membership changed, hands it to the QUIC transport and to the overlay,
// storage, the DHT and the registry as a request on the node loop
// (overlay.SetMembers, storage.SetMembers, dht.SetMembers,
// registry.SetMembers), logs "membership changed" with the count, the
// added and the removed ids (never self) and R and W, and sets the
// cluster_members gauge (the size of the membership, self included; 0 for
// none; "no membership: the peer protocol serves any node" is logged when
// a reload leaves none, as removing the last member of a lone loopback
// node does). A reload that did not reach every service (a node loop too
// busy to answer within 5s, say) is handed again at the polls of the
// config file (every second) until every service took it, waiting 1 s
// after the first failure and twice as long after each further one, up
// to 30 s; the failure is logged the first time and then at most once a
// minute, with its count (failures=N); the added and removed ids are
// counted from the membership last applied.
// Any other setting
// that changed needs a restart: rond logs "a changed setting needs a
// restart" naming it and ignores it (the flags map is reloaded as
// before). An invalid file (a member that is not a 64-digit hex node id,
// say) is logged with the setting and the value and the membership stays
// as it is. members set by --members or RON_MEMBERS win over the file, so
// a reload does not change them (logged). A removed member's kept QUIC
// connection is closed at once (its next one is refused); it is refused,
// placed on no more and dropped from the DHT's routing table at once
// (provider records it announced expire); the reload neither moves nor
// copies the objects it holds. The bootstrap peers and the replicas stay
// members whatever members says, and the registry's raft voters
// (replicas) never change on a reload. R (replicas per object) and W
// (the write quorum) follow the membership as at start (R = min(3,
// members), W = min(2, R); storage.SetMembers carries them): a cluster
// grown from 2 to 3 members places 3 copies from the reload on, and a lone
// loopback node (open, R=1) closed by a reload places 3 instead of one.
// Objects stored before keep their copies until repair reaches them, and a
// node the runtime rebuilds after a panic takes the same R and W. Until
// every node lists the new node, its puts miss the
// others' copies, and the alert above names the nodes still to list it.
//
// open_network / RON_OPEN_NETWORK / --open-network keeps the open DHT
// placement instead (DESIGN 5.4 as written): any node reaching the QUIC
// port joins the routing table, can become a placement target, stores
// objects here and reads every object over the peer protocol. rond logs
// a warning when it starts so with peers, and refuses to start (exit 2)
// with open_network and a --policy file: a policy that requires tokens
// for reads would be bypassed by any peer; so would any other, since the
// policy is checked by the gateway only, which is why rond refuses every
// policy file rather than guess what a reloaded one will say. It also
// refuses open_network with members listed.
//
// A micronode's memory_max also bounds what its peers push into it
// (storage.Config.HeldBytesMax): a push past it is refused as busy
// (storage_rejects_total{reason="full"}) and the pushing peer's put
// misses that copy, as it would with a full disk.
//
// # Configuration
//
// Precedence: defaults < the YAML file (--config FILE or RON_CONFIG;
// strict, unknown keys are errors) < RON_* environment variables < flags.
// Keys: data_dir, http_addr, quic_addr, bootstrap (list), registry_replica,
// replicas (list), members (list), open_network, node_key, root_token_file, cap_key_file, policy,
// log_format (text|json), log_level, edge_cache_bytes, oap_addr (and its
// limits, "OAP/1 client API"). Environment: RON_DATA_DIR,
// RON_HTTP_ADDR, RON_QUIC_ADDR, RON_BOOTSTRAP (comma-separated),
// RON_REGISTRY_REPLICA, RON_REPLICAS, RON_MEMBERS, RON_OPEN_NETWORK, RON_NODE_KEY, RON_ROOT_TOKEN_FILE,
// RON_CAP_KEY_FILE, RON_POLICY, RON_LOG_FORMAT, RON_LOG_LEVEL,
// RON_EDGE_CACHE_BYTES (the gateway's edge cache of hot objects, default
// 64 MiB, 0 disables), RON_OAP_ADDR. segment_writes / RON_SEGMENT_WRITES /
// --segment-writes (direct|buffered, default buffered) chooses how a
// macronode writes chunk bytes to its segment files: with O_DIRECT where
// the file system takes it, or through the page cache (io/pebbledisk's
// doc, "Direct I/O"). An
// invalid value stops the start with a message naming the setting and exit
// status 2. Revocation adds admin_key_file / RON_ADMIN_KEY_FILE /
// --admin-key-file and admin_keys (list) / RON_ADMIN_KEYS / --admin-keys.
// Admission adds anonymous_read_rate / RON_ANONYMOUS_READ_RATE /
// --anonymous-read-rate: the requests per second that all reads without a
// token share (default 5000, burst twice that), apart from the 200/s
// bucket of each token's tenant; anonymous reads over it get 429
// OVER_QUOTA with Retry-After, and they still pass the in-flight cap and
// its read headroom like every request.
// anonymous_read_burst / RON_ANONYMOUS_READ_BURST /
// --anonymous-read-burst sizes that shared bucket (0 or unset: twice the
// rate, at least 1; a set value 1..1e9).
// tenant_rate / RON_TENANT_RATE / --tenant-rate and tenant_burst /
// RON_TENANT_BURST / --tenant-burst size each token tenant's bucket at
// this gateway (0 or unset: 200 requests/s, burst the larger of 400 and
// the rate; a rate above 0 and at most 1e9, a burst 1..1e9); over it,
// 429 OVER_QUOTA with Retry-After. The bucket is per node: a tenant has
// it on every gateway.
//
// The admission gate's limits (core/admission's doc) are settings too;
// 0 or unset keeps the gate's default, so a node that sets none admits as
// before. inflight_max / RON_INFLIGHT_MAX / --inflight-max: the requests
// running at once (256; 1..4096, the connection cap). read_headroom /
// RON_READ_HEADROOM / --read-headroom: the slots of it only reads take
// (64, at most a quarter of inflight_max; below inflight_max, so writes
// keep a slot). queue_depth_max / RON_QUEUE_DEPTH_MAX / --queue-depth-max:
// the requests waiting for a slot, all tenants (1024; at most 65536);
// one more is 503 OVERLOADED. queue_wait_max / RON_QUEUE_WAIT_MAX /
// --queue-wait-max: the longest wait, a duration (2s; 10ms..1m); past it
// 503 OVERLOADED. writes_per_tenant_max / RON_WRITES_PER_TENANT_MAX /
// --writes-per-tenant-max: the writes one tenant runs at once (a quarter
// of the write slots, inflight_max less read_headroom: 48; at most all
// of them). queued_writes_per_tenant_max /
// RON_QUEUED_WRITES_PER_TENANT_MAX / --queued-writes-per-tenant-max: the
// writes one tenant has waiting (a quarter of queue_depth_max: 256; at
// most queue_depth_max); one more is 429 OVER_QUOTA (tenant_writes).
// Each is checked against the gate's value of the others (a default
// where unset), and requests_per_source against inflight_max: a value out
// of range stops the start with exit status 2 and a message naming the
// setting. Derived bounds follow inflight_max: requests_per_source's
// default (a quarter), the streamed-GET slots (a half) and a source's
// share of the read-ahead budget.
//
// read_ahead_bytes / RON_READ_AHEAD_BYTES / --read-ahead-bytes bounds the
// chunks that all streamed GETs together read ahead of their clients
// (io/gateway's read-ahead budget): 0 or unset takes 256MiB, or a quarter
// of a micronode's memory_max when smaller; a set value must be at least
// one chunk of the largest size (1023KiB), and a micronode's at most its
// memory_max (the buffers live in that memory). A GET finding no room for its
// first chunk within a second is refused with 503 and Retry-After.
//
// requests_per_source / RON_REQUESTS_PER_SOURCE / --requests-per-source
// bounds the requests one source address (the connection's remote IP)
// may have in flight at once, waiting for admission or running, a
// streamed GET until its last byte: 0 or unset takes 64, a quarter of
// the gateway's in-flight cap (inflight_max, 256), so one address holding idle
// streams cannot take every admission slot; a set value is 1..inflight_max. One
// more is refused with 429 OVER_QUOTA, Retry-After and reason
// source_inflight (omnigate_shed_total{reason="source_inflight"}). A
// reverse proxy or load balancer in front of rond connects from one
// address for all its clients: raise it there (up to 256) and bound
// clients at the proxy instead (io/gateway doc.go, "Requests per source").
// The source's share of the streamed GETs' read-ahead budget grows with
// it: the part of the budget it is of the in-flight cap (at least a
// quarter, the default; the whole budget at 256).
// GETs with a body of more than 1 MiB (streamed, or written in one call
// from the edge cache) from all sources together (a proxy's included)
// hold at most half of the in-flight cap (128; not a setting): one more
// is refused with 503
// OVERLOADED, Retry-After and reason stream_slots, so slow readers leave
// the other half to small reads and writes (io/gateway doc.go, "Streamed
// responses").
//
// names_per_tenant / RON_NAMES_PER_TENANT / --names-per-tenant bounds the
// names one tenant may claim through this node's gateway (io/gateway's
// name quota): default 128, an eighth of the registry's 1024, so no one
// tenant can fill the registry; a set value is 1..1024. The root
// token itself (tenant root, every op, no caveat) is not bounded; a
// token of tenant root issued with fewer ops or attenuated is. A claim
// past it is 403 NAME_QUOTA; a claim in a full registry is 507
// REGISTRY_FULL (not retryable); both are counted in
// gateway_names_refused_total{reason}. The count is this gateway's since
// it started (io/gateway doc.go, "Name quota"), unless cluster_name_quota
// is on ("Cluster name quota" below).
//
// audit_retain_bytes / RON_AUDIT_RETAIN_BYTES / --audit-retain-bytes
// bounds the audit log (core/audit doc.go, "Retention"): 0 or unset
// takes 1GiB, a set value is at least 16MiB. Past it the oldest whole
// segments (2048 records each) are deleted in one atomic batch that also
// records the head of what was dropped (the base); the log holds at most
// the bound plus one segment. GET /audit then starts after the base and
// sends it in X-Ron-Audit-Base; ronctl audit verify checks the chain
// from it. audit_retained_bytes and
// audit_retention_dropped_{records,segments}_total show it working.
// audit_retain_age / RON_AUDIT_RETAIN_AGE / --audit-retain-age (a Go
// duration, e.g. 720h; at least 1h; unset: none) also drops a closed
// segment whose newest record is older than it, checked as records
// become durable (a node that records nothing keeps what it has).
// audit_object_writes (default false) records each committed PUT /o;
// turn it on once the node will not be rolled back to 6db240a or an
// older build ("Audit and rollbacks").
//
// Byte sizes (edge_cache_bytes, memory_max, read_ahead_bytes, audit_retain_bytes, and their
// flags and RON_* variables) take bytes or a number and a unit, binary (KiB, MiB, GiB,
// TiB) or decimal (KB, MB, GB, TB): --edge-cache-bytes 256MiB,
// memory_max: 2GB. A micronode's edge cache must fit in its memory_max,
// and any edge cache in the machine's memory. A RON_* variable that no
// part of the project reads (a mistyped setting) is named in a warning at
// start, with the closest known one; rond still starts.
//
// An unknown key in the file is refused as FILE:LINE: unknown key "k" (did
// you mean "key"?) with the nearest known key by edit distance; a value of
// the wrong type names FILE:LINE: key too, and so does a value out of its
// range when the file set it. What YAML would read silently as something
// else is refused the same way: a second document (after "---"), a
// fraction for an integer setting (names_per_tenant: 1.5), a flag without
// a value (null, not false). Every address setting must be host:port with
// a port up to 65535 (oap_addr also takes off). rond config check FILE validates a
// file (defaults, the file, validation; no environment, no flags) without
// starting: exit 0, or 1 with the same message. The config file must be a
// regular file (symlinks followed): a FIFO, socket, device or directory is
// refused at once naming the path and its type, never opened in a way that
// blocks (io/regfile). rond config schema prints
// the file's JSON Schema (draft 2020-12), generated from Config's yaml tags
// with each key's type, default and description; a byte size is a string
// with a unit or an integer ("type": ["string", "integer"], the pattern
// the parser uses, examples such as "64MiB"), taken from the same settings
// table the file's reader converts sizes by. A port another process
// holds (most often a second rond) stops the start naming the setting, the
// address and the flag that moves it. rond --help prints the usage on
// stdout; --version prints the version, the Go version and the VCS
// revision.
//
// # Cluster name quota
//
// cluster_name_quota / RON_CLUSTER_NAME_QUOTA / --cluster-name-quota (off
// by default) moves the name quota into the registry: the registry
// counts the names each tenant's claims created, cluster-wide and across
// restarts, and refuses a new name past names_per_tenant (403 NAME_QUOTA,
// "tenant t reached its quota of N names in the registry"), whichever
// gateway the claim came through (core/registry doc.go, "Tenant quota").
// It needs registry cluster version 3 (registry.VersionQuota), a log entry
// format older builds cannot read; as etcd does, the raise is explicit:
//
//   - On, the node reads version 3: a replica advertises it, and the
//     leader raises the cluster once every replica advertises it (within
//     seconds). A node that is no replica reads no log: it sends its
//     claims' tenants once a replica says the cluster is at 3, with the
//     setting on or off (its first claims after each start, before a
//     replica answered one, go without: at most its own edge count of
//     names per tenant). registry_cluster_version and ronctl status
//     (raft log  cluster version N) show the raise;
//     registry_claims_untenanted_total on a replica counts the names
//     created at 3 without a tenant (exempt tokens, and claims that went
//     past the quota, e.g. through a gateway of an older build).
//   - Turn it on on every node, replicas and gateways, only after all of
//     them run this build (or a later one). Until every replica has it on,
//     nothing changes: the version stays 1 and each gateway bounds only the
//     claims made through it since it started. Names created before the
//     raise count for no one.
//   - It is one-way once the cluster is raised. The cluster version never
//     goes down: a replica on an older binary then stops by name (the
//     registry fails with "entry N is of cluster version 3, this replica
//     reads up to 1"), so there is no downgrade past this build. Turning
//     the setting off does not lower it either: a replica whose store has
//     applied version 3 refuses to start with it off, exit 2, naming
//     cluster_name_quota ("off, but this replica's store has applied
//     registry cluster version 3"); turn it back on. (Started anyway, the
//     replica would stop at recovery meeting the version-3 entries, its
//     log naming the binary, not the setting.) A replica whose store had
//     not applied the raise yet starts and stops the same way when it
//     catches up. On a node that is no replica the setting changes
//     nothing (above): its tenants stay bounded by the registry.
//   - Off before the raise (not every replica had it on yet) is a plain
//     rollback: nothing was written in the new format.
//
// # Capabilities, policy and audit
//
// Key files are created with mode 0600; a key file that group or others
// can access is refused (io/keyfile). The node key is a hex Ed25519 seed.
// --cap-key-file FILE (default DIR/cap.key for a macronode) holds the
// versions of the capability MAC key (see Key rotation), so `ronctl token
// issue --key FILE` mints tokens this node accepts. --policy FILE is a
// core/policy bundle (YAML), validated at start (invalid: exit 2) and
// reloaded when the file changes (polled every 500 ms) or on SIGHUP; an
// invalid bundle at reload is logged with the rule and field and the old
// one stays. Without it the gateway's default applies: reads public,
// writes need a token with the op. The node's audit log records the root
// token's issue, name writes, deletes and quota rejects, and who may do
// what (reloadaudit.go): the cap keys, the policy and the membership the
// node started with, every reload that changed one of them and every
// refused reload, and each committed object write when
// audit_object_writes is on (off by default; "Audit and rollbacks"). GET /audit streams it to an admin token, `ronctl audit
// verify` checks the chain and `ronctl audit list` prints it.
//
// # Audit of reloads
//
// One record per change, in the hash chain, with the kinds the log
// already has (a new kind reads as a break to the builds before the
// audit kind rule, such as 6db240a, which discard the records from it
// on as a crash tail or stop the log; core/audit/doc.go, "Kinds"):
//
//	key_rotate cap_keys         at start and when a reload changed the keys: the
//	                            versions as "vN:FINGERPRINT" (16 hex digits of a
//	                            BLAKE3 key derived from the seed: it tells seeds
//	                            apart and reveals nothing of them), added and
//	                            removed, the current version before and after
//	policy_change BUNDLE        at start and when a reload applied another bundle:
//	                            the digest and rule count, and the bundle before
//	policy_change cluster:members
//	                            at start and when a reload changed the membership
//	                            every service took: the node ids added and removed,
//	                            count and digest before and after; also, once, a
//	                            reloaded membership that reached only some services
//	                            (the transport enforces it; handed again at the polls)
//	key_rotate refused:cap_keys, policy_change refused:policy, policy_change
//	refused:members             a refused reload: the error (file, line, field;
//	                            never key material) and what stays in force (for
//	                            members, also one still being applied)
//
// A policy_change subject other than a bundle's name holds a ':', which
// a bundle name cannot, so a bundle named "members" is not read as the
// membership (cap_keys needs none: bundles are never key_rotate).
// A reload that changed nothing is not recorded, and a refusal is
// recorded once until it differs (another file content, size or
// modification time, another error) or a reload succeeds: a bad file
// left in place through many SIGHUPs is one record. The records are
// appended in the order they were made, the start-up records first, each
// once the node itself serves (runtime.LocalReady: a node /readyz reports
// not ready only for the registry, registry_no_leader or
// registry_unreachable, still takes them; the log is local): one the node could not take (restarting after a
// panic, overloaded, a call timed out, the log stopped after a full disk)
// stays first in line and is tried again, backing off from 50 ms to 10 s
// (each failed attempt counts in gateway_audit_failures_total{reason="error"});
// an append cut by a timeout or a restart may have landed, so a record
// can appear twice, never lost. At most 64 wait: beyond that a record is
// dropped, counted in audit_records_dropped_total{reason="queue_full"}
// and logged with its kind, subject and detail, as are the records still
// waiting when rond stops (reason "shutdown", logged at WARN). A drop
// while rond runs fires the RonAuditRecordsDropped alert
// (deploy/prometheus/alerts.yml); a shutdown drop is counted after the
// HTTP server has stopped, so /metrics is never scraped with it and it
// shows only in the WARN log at stop: look there after each stop.
//
// # Audit and rollbacks
//
// audit_object_writes / RON_AUDIT_OBJECT_WRITES / --audit-object-writes
// (default false; opt in) records every committed PUT /o as object_write
// (kind 9: tenant, token, address, size, new or already stored; io/gateway
// doc.go, "Audit"), how an operator finds what a tenant stored. On, it
// costs a storage Has and an audit append per new object; writes of
// stored bytes are recorded once per (tenant, address) and paced. Off, a
// PUT writes no audit record and skips the Has. rond logs the setting at
// start: off, how to turn it on; on, that a rollback to a build before
// audit kind tolerance loses records.
//
// Why off by default: object_write is a kind that builds before the audit
// kind rule (6db240a, the baseline of make real-upgrade, and every build
// before the commit that added core/audit doc.go "Kinds") read as a break.
// Started on such a build, a node whose log holds one object_write record
// deletes that record and every later one as a crash tail when at most
// 1024 follow it, and otherwise stops its audit log (each later append
// dropped and logged). Any node of this build that served one PUT with
// the setting on is in that state. Measured with 6db240a
// (scripts/real-upgrade-audit.sh, part of make real-upgrade): after 3
// PUTs with it on the old build retried recovery for about a second,
// logged "audit: discarding an unsynced tail left by a crash" (it is not
// one) and deleted the 3 object_write records; its next records took
// their seq numbers, so an export made before the rollback and the old
// build's log differ from that seq on, and ronctl audit verify on the
// old build's log passes (nothing shows the loss). Until its recovery
// ends, its GET /audit stops at the first object_write record. With the
// setting off (the default, which the script asserts) it kept every
// record and appended after them. Builds from the rule on read the record
// as "unknown kind 9" and lose nothing. This follows the upgrade rule of
// a new persisted format (README, "Upgrades"; cluster_name_quota): opt in
// only once every node runs this build. Unlike cluster_name_quota before
// the raise, turning it off again is no rollback: what it wrote stays.
//
//   - Turn it on once no rollback of the node to those builds is planned
//     (every node of the fleet runs this build or a later one). Until then
//     its log holds only kinds they read.
//   - Turning it off later protects nothing already written: the records
//     stay in the hash chain (no build rewrites a chained record). Before
//     rolling such a node back, export its log: ronctl audit list --json
//     --node URL --token ADMIN > audit.jsonl (ronctl audit verify --file
//     checks the export later); what the older build then deletes or
//     refuses to append is only in the export and the older build's logs.
//   - Not keyed off the registry's cluster version: that version says
//     which registry log entries the replicas read, is raised only by an
//     explicit opt-in (cluster_name_quota) and says nothing about which
//     binary one node may be started on next; a node's audit log is its
//     own, so the node's operator decides.
//
// # Key rotation
//
// The cap key file holds one line per live version, the last current:
// the root token minted at start and `ronctl token issue --key FILE` use
// the current version, and tokens of every live version verify. A file
// of one hex key (the format of before versions) reads as version 1.
//
//	ronctl key rotate --cap-key-file FILE            # add version N+1
//	ronctl key retire --cap-key-file FILE --version 1  # drop version 1
//
// Both rewrite the file atomically (temporary file, fsync, rename), and
// rond reloads it within 500 ms of the change, or at once on SIGHUP, the
// way it reloads the policy: the verifier's keyring is swapped in one
// step, each version added above the current one counts in
// kms_rotation_events_total{key="root"}, and a file that does not parse
// (logged with its line and field) or has loose permissions leaves the
// keys in force. When the current version changes rond mints a new root
// token with it, writes it to --root-token-file and audits its issue;
// the root token of before keeps working until its version is retired,
// then gets 401 unknown_key like every token of that version. Nodes that
// share a cap key must share the rotated file: rotate once and copy the
// file to each (every rotation draws a fresh random seed). Key material
// never reaches a log line, an error or ronctl's output.
//
// # Revocation
//
// Every node's registry takes revocations signed by an admin key, and
// non-replicas pull them every registry.RevocationPullIntervalDefault
// (1 s). The key this node signs with is --admin-key-file FILE (hex
// Ed25519 seed, mode 0600, created if missing), else one derived with
// BLAKE3 derive-key from the seed of the cap key's oldest live version
// (fixed at start: a rotation keeps it, a retire of that version changes
// it at the next start): nodes sharing a cap key
// (which they must, for tokens to verify everywhere) then share the admin
// key, and it grants nothing the cap key does not already grant (minting
// an admin token). The registry's AdminKeys are --admin-keys hex,... when
// given, else this node's admin key alone; every replica must list the
// same keys. A listed key of small order or not canonically encoded is
// refused at start (exit 2, naming admin_keys and, from a config file,
// its line): ed25519.Verify is cofactorless, so under such a key anyone
// could sign a revoke. POST /tokens/revoke (an admin token; `ronctl token revoke
// TOKEN`) commits a revoke; the gateway checks tokens against the node's
// registry view through io/gateway's RevocationCache. A node without a
// registry neither accepts nor enforces revocations (it logs so).
//
// # OAP/1 client API
//
// --oap-addr host:port (default 127.0.0.1:0, a free loopback port printed
// in the banner; "off" disables) serves the same client API as HTTP over
// OAP/1 on QUIC, ALPN "oap/1", through io/oapgate: each request is a
// stream whose START frame carries the token as capability bytes, handed
// to the same gateway, so tokens, policy, admission, audit and the error
// envelope are shared. The endpoint presents the node's certificate;
// `ronctl --oap ADDR --node-id ID` pins it. It is drained on shutdown
// like HTTP. At its 1024 connections (oap_conns_max) a new one evicts the one idle
// longest (oapgate_conns_evicted_total, logged at info, paced); a
// connection with no request stream for 2 minutes (oap_conn_idle_timeout) is closed
// (oapgate_conns_idle_closed_total), keep-alive PINGs or not; a request
// on a connection being closed either way is refused busy
// (oapgate_streams_refused_total{reason="conn_closing"}). Handshake
// failures count by reason (transport_handshake_fail_total{reason}) and
// by listener (transport_handshake_fail_endpoint_total{endpoint}, peer or
// oap).
//
// Its connection limits are settings (oapgate.Config), each 0 or unset
// for oapgate's default, logged with the endpoint's address at start:
// oap_conns_max / RON_OAP_CONNS_MAX / --oap-conns-max, the connections
// open at once (1024; 1..65536, oapgate.ConnsMaxLimit);
// oap_conns_per_source_max / RON_OAP_CONNS_PER_SOURCE_MAX /
// --oap-conns-per-source-max, the connections from one source address,
// handshakes included (64; 1..oap_conns_max), one more refused at the
// handshake (transport_handshake_fail_total{reason="per_source"}): a
// proxy or NAT in front of many clients is one source, raise it there;
// oap_conn_idle_timeout / RON_OAP_CONN_IDLE_TIMEOUT /
// --oap-conn-idle-timeout, a duration (2m; 5s..24h: at least oapgate's
// waits for a HELLO, 3 s, and a START, 5 s). A value out of range stops
// the start with exit status 2 and a message naming the setting (and its
// line, from the file). oapgate cannot change them on a running server:
// a reload logs a change as needing a restart and ignores it.
//
// # Data dir format
//
// A macronode's data dir carries a format record, DIR/FORMAT (io/datadir).
// rond refuses a dir of a newer format in one line naming both versions,
// and a dir of an older format (0 to 2: before chunks keyed by chaining
// value, format 2, and before side files, format 3) in one line naming
// "rond migrate --data-dir DIR --to 3"; a new dir gets the current
// format's record. A DIR/pebble without a record that is not a pebble
// store (no manifest marker naming a manifest) is refused, by rond and
// rond migrate alike, naming what it holds, and left untouched: it is
// not taken for format 0. A recorded dir's store is opened with
// pebbledisk.Options.MustExist, and one whose DIR/pebble lost its
// manifest marker (a zero-length file a backup may skip) but holds
// store files is refused (exit 2) naming them and the backup, untouched:
// opened as is, pebble would start an empty store over it and delete
// the tables and segments. After the store's first successful Open,
// before the node runs, rond marks the record store_created
// (datadir.MarkStoreCreated, written atomically as the record is); a
// dir so marked whose DIR/pebble is then missing or holds no store (a
// volume that did not mount, an rm) is refused (exit 2) and left
// untouched, naming the store, the record and what to do: restore the
// store, or start over on purpose as a new node with a new --data-dir
// and a new node key (the node id is the key's: with --node-key outside
// the data dir, as deploy/compose has it, a new dir alone is the same
// node id, empty, as is removing DIR/FORMAT and DIR/pebble). The
// store_created mark lives in the data dir, so it cannot catch a dir
// lost whole. A storage node that starts empty under its old id has
// dropped every replica it held (repair restores them). Wiping a registry
// replica's store while keeping its node key is not a supported
// procedure: a replica of a group of more than one replica that starts
// with no raft state neither votes nor acknowledges until every other
// replica has answered its state query, and votes once it has caught up
// to the highest log index they reported (core/registry doc.go,
// "Amnesia", which lists what this does not cover: two replicas emptied
// at once, a replica dead for good next to a wiped one, older builds
// that count the queries as malformed, a downgrade). A new registry
// group elects its first leader once all its replicas have started. A
// new node key is a new node id; the registry's voters are the fixed
// --replicas list and this build cannot replace a voter, so a dead
// disk is restored from a backup or run without. A record without the
// mark (an older build's, or a crash before the mark) starts as before
// and gains the mark. rond holds the data dir's lock, DIR/LOCK (flock),
// from its checks of the dir until it exits, and rond migrate holds it
// for a whole migration: a second rond or rond migrate on the dir is
// refused naming the lock file and the pid and host last written in it
// (rond exits 1 then, not 2: a retry passes once the other is done), and
// so is a rond whose checks of the dir fail while the lock is held (a
// migration at work). The lock file is mode 0644 and, made by root (sudo
// rond migrate), given to the data dir's owner; one rond can read but
// not write is taken read-only.
// A dir whose record names its node but whose
// node key file is missing is refused ("node.key is missing from DIR
// ... restore it") before any key is written: a new key would belong
// to another node. Only rond migrate changes a format, up or down
// (migrate.go); it opens formats 1 and 2 with every value inside pebble,
// as the older builds keep them (pebbledisk.Options.Legacy). The
// micronode keeps its large values in memory without file copies
// (pebbledisk.Options.ValuesInMemory).
//
// # Feature flags
//
// Risky paths sit behind named flags, all on by default (flags.go):
// repair (the storage repair loop), republish (DHT provider republishing),
// oap (the OAP/1 client endpoint) and anonymous_reads (reads without a
// valid token). The config file's flags map switches them (unknown names
// are refused with the nearest known one) and is re-read on SIGHUP and
// when the file changes. POST /admin/flags with an admin token flips them
// on a live node, e.g.
//
//	curl -X POST -H "Authorization: Bearer $RON_TOKEN" -d '{"repair": false}' http://127.0.0.1:8080/admin/flags
//
// Every flip is audited (kind policy_change, subject flag:NAME) and, on a
// macronode, persisted in DIR/flag-overrides.json before it takes effect,
// so it survives restarts. Precedence, lowest first: default < the config
// file < a live flip (an override; a reload does not undo it, flagstore.go).
// feature_flag_enabled{flag} and GET /status (ronctl status) show the
// state, and /status each flag's source.
//
// A slow but live registry leader is not replaced by raft (PreVote and
// CheckQuorum keep a leader that answers heartbeats): POST
// /admin/registry/leader on the leader's node (ronctl registry leader
// [--to N]) hands leadership to another replica (io/gateway doc.go).
// registry_leader_transfers_total{result} counts those requests (moved,
// noop, aborted, other_winner, unknown, refused), and
// registry_leader_changes_total every leader change a replica sees. GET
// /status (ronctl status) shows the leader, the term and this node's part
// as the node sees them (io/gateway RegistryStatus).
//
// # Signals
//
// SIGINT and SIGTERM stop accepting HTTP requests, drain in-flight ones
// (up to 10 s), stop the node, sync the disk and exit 0. SIGHUP reloads
// the policy file, the cap key file and the config file's flags and
// members ("Membership").
package main

const usageText = `rond runs a RON node (content-addressed storage, names, DHT).

Usage: rond [flags]
       rond config check FILE    validate a config file without starting
       rond config schema        print the config file's JSON Schema
       rond migrate --data-dir DIR --to N [--dry-run]   move a data dir's format
       rond --version

With no flags: a micronode in memory on http://127.0.0.1:8080 (QUIC on
127.0.0.1:7070); it prints a root token and curl examples.
Precedence: defaults < --config FILE (YAML) < RON_* env vars < flags.

Examples:
  rond --data-dir /var/lib/ron --root-token-file /var/lib/ron/root.token
  ronctl key rotate --cap-key-file /var/lib/ron/cap.key   # rond reloads it
  ronctl key retire --cap-key-file /var/lib/ron/cap.key --version 1
  rond --anonymous-read-rate 20000     # reads without a token: 20000/s shared
  rond --oap-conns-max 4096 --oap-conns-per-source-max 256 --oap-conn-idle-timeout 10m
                                       # more OAP/1 clients, many behind one NAT, idle ones kept longer

Flags:
`

// Package dht is RON's Kademlia machine (ARCHITECTURE 5.3): a routing table over
// NodeIDs with the XOR metric, iterative lookups, and signed provider
// records (content address -> provider node) with a TTL and republishing.
// It is a node.Service named "dht" on OAP/1 app_proto_id ProtoDHT, and a pure
// state machine: time, timers, randomness and the network come from env.
//
// # Routing table
//
// Bucket i holds at most K contacts whose id shares exactly i leading bits
// with ours, least recently seen first. A contact enters only when it sends
// a valid request or a reply we were waiting for; ids merely named in
// replies are never trusted into the table. When the bucket of a newcomer
// is full, the least recently seen contact is pinged and evicted only if it
// stays silent (ping-before-evict); the newest waiting newcomer takes its
// slot. Old contacts win because long-lived nodes are the likeliest to stay
// and because a flood of fresh ids must not flush a table. After the pinged
// contact answers, the bucket drops newcomers without pinging for
// EvictionPingGap: in a large network nearly every sender is new to a full
// bucket, and a ping per message would add about a sixth to the RPCs. A
// contact whose RPCs fail ContactFailsMax times in a row is removed.
// Entries are 33 bytes (id and a failure count; the slice order is the
// recency order) and buckets are allocated only up to the deepest one in
// use, so a node of a 100k network keeps its table in about 11 KB
// (BenchmarkTable100k).
//
// # Lookups
//
// A lookup for a target seeds a shortlist with the K closest contacts of
// the table, plus this node itself as an already-answered candidate (it is
// part of the network: a node among the K closest to an address must see
// itself in the result). The window is the first K shortlist entries that
// have not failed. While fewer than Alpha queries are in flight, the closest
// window entry not yet asked is sent FIND_NODE (or FIND_PROVIDERS); every
// reply merges the ids it names into the shortlist (sorted by distance,
// deduplicated, at most LookupCandidatesMax). An RPC unanswered after
// RPCTimeout (jittered) is resent with the same corr id, up to
// RPCAttemptsMax sends; then the candidate fails and leaves the window. The
// lookup stops when every window entry has answered (ok), when every remote
// query failed (timeout), or when a node beyond the hop budget would have
// entered the window (hop_budget: the window as it stands is returned). A
// FindProviders lookup also stops as soon as it holds the records asked for.
// Replies are matched by corr id and sender; duplicates, stale replies and
// replies from the wrong node are counted and ignored.
//
// Hop definition. A contact seeded from the local table has depth 0 learned;
// querying a candidate learned at depth d is a query at depth d+1, and the
// ids in its reply are learned at depth d+1. The hop count of a lookup is
// the deepest learned-at depth among its final K closest: the depth of the
// path to the node that returned the final closest set, i.e. the rounds of
// queries needed to discover the result. The final round that only
// confirms the result nodes are alive is not counted. A lookup never
// queries nodes learned beyond HopsMax, so an ok lookup has Hops <= HopsMax.
// For FindProviders with records found, it is the deepest depth of a node
// that returned a kept record (0 for records from the local store).
//
// # Provider records
//
// A ProviderRecord carries the address, the provider's NodeID and Ed25519
// public key, an expiry (Unix ns, provider clock) and a signature over
//
//	RecordSigningDomain || addr (32) || provider id (32) || expiry (u64 BE)
//
// Receivers check, cheapest first: not expired, expiry at most
// ProviderTTL+ExpirySkewMax ahead, BLAKE3(public key) == provider id, and
// the signature. A PROVIDE is first checked against the refusals that
// need no verification (a non-member provider, the quotas of the record
// store below, which read the record's address and provider but charge
// nothing): a member flooding records over its quota costs a map lookup
// per record, not an ed25519 verification. Failures are dropped and counted in
// dht_rejects_total{reason} (expired, expiry_too_far, wrong_provider_id,
// weak_key: a small-order key anyone can sign for, bad_signature). Provide looks up the K closest to the address and sends
// PROVIDE to each; Stored counts acknowledgements. The provider republishes
// every RepublishInterval (< ProviderTTL), so a record outlives its TTL
// only while its provider lives.
//
// # Record store
//
// The store keeps at most ProviderRecordsMax records, ProvidersPerAddrMax
// per address. Every record verification accepts is equally valid, and any
// node can sign records for itself with the latest expiry accepted (now +
// ProviderTTL + ExpirySkewMax), so no rule below lets a newcomer win a slot
// by its expiry. A record is charged to its sender, the authenticated node
// that delivered the PROVIDE (this node for its own record), and stays
// charged to it; a republish (the same provider for the same address)
// replaces the record in place when it expires later, keeping its place
// and its charge, so it is never counted twice. For a new record, in order:
//
//   - Quotas: a sender charged with ProviderRecordsPerSenderMax records
//     (default an eighth of the store), or a provider with that many
//     records here, gets no more: dht_rejects_total{reason="sender_quota"}
//     or {reason="provider_quota"}. This node's own records are exempt. One
//     key can thus fill at most an eighth of the store, relaying records
//     signed by fresh keys or not. Replays cannot lock a provider out: any
//     FIND_PROVIDERS reply hands out its signed records, so another node
//     may deliver them first, but a provider delivering its own record
//     while at the provider quota sheds the youngest of its records that
//     other senders delivered (it sent fewer than the quota itself, else
//     the sender quota refused it first).
//   - Full address: a new provider is refused; incumbents, which their
//     providers keep by republishing, win (as old contacts win a full
//     bucket). Only this node's own record gets in, in place of the
//     youngest record there of the sender charged with the most records
//     at the address (ties to the sender charged with the most in all,
//     then to the lower id): the full-store rule at the address, so a
//     flooder's records go before a late honest provider's.
//   - Full store: the youngest record of the sender charged with the most
//     records (ties to the lower id) is shed, the newcomer counting as the
//     youngest record of its own sender. So a newcomer whose sender would
//     then hold at least as many records as the largest holder is refused,
//     and a flood only ever sheds the flooder's own records: a sender's
//     records go only to a sender holding at least two fewer.
//
// FIND_PROVIDERS serves an address's unexpired records oldest arrival
// first (a republish keeps its place), up to the max asked: incumbents
// first, as at a full address, in an order no newcomer can choose. Serving
// in provider id order let records signed by keys with low ids hide every
// honest provider from a reader asking for a few (storage asks for
// ProviderCandidatesMax, 8).
//
// Refusals at a full address or store, and records shed, count in
// dht_shed_total{what="provider_record"}; every valid record not stored,
// quotas included, is answered PROVIDE_ACK shed.
//
// Rejected alternatives. Shedding the record that expires first (this
// store's first rule): a record stamped with the latest accepted expiry
// beats every honest one, and the red team emptied addresses and whole
// stores so. LRU: readers would keep records alive and a flood of fresh
// records pushes out everyone else's. A seeded-random victim at a full
// address: an attacker with enough keys retries until every honest record
// is gone. A per-address quota per sender: every honest sender sends one
// record per address already, and the attacker's keys cost nothing, so it
// adds nothing to the provider and sender quotas. The cost of the rules
// chosen: records for an address that an attacker filled before the
// honest providers announced stay out until the attacker stops
// republishing, sybil keys each under the quota still share a full store
// with honest senders (max-min fair, not exclusive), a record replayed by
// another node before its provider sent it stays charged to that node
// (and may be shed as its; the provider's next republish restores it
// elsewhere or here), and in a network of
// at most K nodes, where every node holds all of a provider's records, a
// provider announcing more objects than the quota has the rest stored at
// no node but itself.
//
// Operations note. Each node stores at most the quota
// (ProviderRecordsPerSenderMax) of one provider's records, and a record
// goes to the K nodes closest to its address, so a network of N nodes
// holds about quota x N/K of one provider's records: a provider announcing
// far more objects than that in a medium network (say 8192 x 100/20 =
// 40960 objects at the defaults and 100 nodes) loses discoverability for
// some of them, whichever the closest nodes refused. Such a provider
// needs a larger quota or more nodes. In a small cluster (N <= K), every
// node holds all of a provider's records, so once a provider is past the
// quota its republishes of the records refused keep being refused:
// dht_rejects_total{reason="sender_quota"} rising with each republish
// interval is expected there and is not an attack by itself.
//
// # Members
//
// Config.Members, when set, is a member allow-list (rond sets it to its
// closed membership; the simulator leaves it unset, so its DHT-only scale
// scenarios run the open DHT). A message of a node outside it (this node
// is always a member) is dropped unanswered and counted as
// dht_rejects_total{reason="not_member"}, and its id is logged (a warning
// naming it and saying to list it in members if it belongs to the
// cluster) once per RefusedLogEvery of env time; at most RefusedLogIDsMax
// ids are remembered, the one logged longest ago forgotten first. The
// sender is never learned, so
// it enters no routing table and becomes no storage placement target, and
// its PROVIDE stores nothing. A lookup does not query a non-member a reply
// names (counted the same), a PROVIDE of a non-member's record is refused
// (ackRejected), and a FIND_PROVIDERS answer's records of non-members are
// dropped. Unset, every sender is learned and served: an open network,
// where any id that reaches the node may fill its buckets (ping-before-
// evict only slows that) and hold provider records. A SetMembers request
// replaces Members on a running machine (rond's reload of its members
// setting): a dropped node leaves the routing table at once and is
// refused from then on; provider records it announced stay until they
// expire (storage asks members only).
//
// # Maintenance
//
// On Start the bootstrap contacts enter the table and a self-lookup runs;
// when it ends, every empty bucket shallower than the deepest one gets a
// lookup for a random id in its range. A tick every quarter of the shorter
// of RefreshInterval and RepublishInterval (clamped to 1s..1m, jittered)
// expires records, refreshes buckets no lookup aimed at for
// RefreshInterval (at most RefreshPerTickMax per tick), republishes due
// records, rejoins through the bootstrap list if the table emptied, and
// exports the gauges. Refresh and republish only use half the lookup slots,
// leaving the rest to clients. All soft state is rebuilt on restart: the
// DHT keeps nothing on disk.
//
// # Limits
//
// Every table is bounded by a named constant: BucketsCount buckets of K <=
// KMax contacts, LookupsInflightMax lookups of LookupCandidatesMax
// candidates and LookupQueriesMax queries, PendingRPCsMax RPCs, one pending
// eviction per bucket, ProviderRecordsMax records, ProvidingMax republished
// addresses, KMax ids and ProvidersPerReplyMax records per reply. What hits
// a limit is shed and counted in dht_shed_total{what}.
//
// # Wire format
//
// Each message is one OAP/1 frame (REQ or RESP, never compressed) whose
// payload is a kind byte then fields in core/proto/wire encoding: PING/PONG
// (empty), FIND_NODE (target), NODES (ids as one byte string of 32-byte
// ids), FIND_PROVIDERS (address, max), PROVIDERS (records, ids), PROVIDE
// (record), PROVIDE_ACK (status). Decoding is strict and canonical.
//
// # Rejected alternatives
//
// A replacement cache of several candidates per bucket (as in the paper):
// one waiting candidate per bucket gives the same churn behaviour in the
// simulator at a fraction of the memory. A lookup result without this node:
// callers placing replicas would have to redo the distance comparison.
// Ending lookups when a round brings nothing closer (the paper's rule) is
// cheaper but returns the exact K closest less often than requiring the
// whole window to answer.
package dht

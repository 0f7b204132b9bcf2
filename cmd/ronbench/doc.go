// Command ronbench drives a RON node over HTTP on loopback and prints
// throughput and latency figures for BENCHMARKS.md ("Production node").
//
//	ronbench                          # an in-process node, in memory
//	ronbench --data-dir /tmp/x        # in-process macronode (pebble on disk; a rond data dir, one with DIR/FORMAT, is refused)
//	ronbench --rond bin/rond          # the rond binary as a child process
//	ronbench --peers --rond bin/rond --kubo bin/ipfs   # issue 15's side by side
//
// For each object size (4 KiB, 1 MiB, 64 MiB) it PUTs distinct objects
// with --workers concurrent clients, then GETs them back, and reports
// MB/s, requests/s and p50/p95/p99/max latency of the successful
// requests; failures (any status but 201/200, or a short body) are
// counted, not timed. It ends with small-object GETs on --small-conns
// (16) connections for --small-time. Every phase is bounded by a request
// count and by --phase-time, so a run takes a few minutes at most.
//
// # In-process node against rond
//
// The in-process node is rond's composition (io/pebbledisk, io/runtime
// with the same node spec, io/quicnet, io/gateway) served by net/http on
// a loopback port, so the requests cross a real TCP connection. It
// differs in two settings: the gateway's per-tenant rate limit
// (gateway.TenantRateDefault, 200 requests/s) is raised out of the way,
// and its per-tenant name quota (gateway.NamesPerTenantDefault, 128) is
// off, so --cas-names may claim up to the registry's 1024 names, because
// a benchmark measures what the node can do, not the quota. With
// --rond the quota stays: each worker uses its own tenant's token (minted
// from a capability key ronbench writes and passes with --cap-key-file),
// so the ceiling is 200 requests/s per worker and 429s are counted.
// --cpuprofile writes a CPU profile of the whole process (clients
// included) while the load runs; it is meaningful for the in-process node.
//
// --cas-names N adds a compare-and-set phase: N names claimed by one
// owner (the claims spread over the writers' tenants, so against --rond
// N may reach names_per_tenant times --cas-conns), then --cas-conns writers for --cas-time, each setting a random
// name to its own idea of the seq plus one. A 409 carries the name's
// current seq (gateway.ConflictEnvelope), and the writer retries from it
// without reading the name first; the phase reports successes per second
// and how many conflicts were answered that way.
//
// # Side by side with kubo and etcd (--peers, make bench-peers)
//
// --peers runs issue 15's table on one machine in one invocation: the
// byte workloads (4 KiB GET and 1 MiB random Range GET on 16
// connections, whole GET and PUT of a --big-mib object on one) on a rond
// macronode (and a micronode with --micronode), kubo (--kubo or $KUBO:
// `ipfs init --profile=test`, `ipfs daemon --offline`, add through the
// RPC API with kubo's defaults, GETs through its path gateway on
// 127.0.0.1) and a net/http FileServer over a directory (no PUT figure:
// its file is written directly; it runs in a child process of its own like
// every other server, or in ronbench's process with
// --fileserver-in-process, as before 2026-12-06); the name workloads (sequential sets by
// one client, writes by 16 clients to their own names, CAS by 16 clients
// on 100 names, linearizable resolves by 16 clients) on three rond
// macronodes that are all registry replicas and on a 3-member etcd
// (--etcd or $ETCD, default etcd on PATH) through its v3 JSON gateway
// (put, txn, range) with net/http, so no etcd library enters go.mod.
// Worker k of the 16-client workloads talks to member k mod 3 on both.
// The sequential set's one client talks to each system's leader by default
// (--set1-member leader; follower or member0 on request), read from
// registry_is_leader and etcd_server_is_leader before each set1 phase
// (member 0 if no single leader shows within 10 s) and noted in the
// report. A write at a follower travels to the leader and back, so
// comparing the two systems' member 0 compared placements as much as
// systems. An etcd CAS is one txn whose
// failure branch reads the key, as rond's 409 carries the current seq:
// neither needs an extra round trip to learn it.
//
// Every workload runs --runs times; in each run the systems take turns
// on one workload before the next workload starts, and the order is
// reversed every other run. The report gives each system's median and
// every run's figure, then each Goal of the issue as a ratio of medians
// from this invocation only, and the load average at each run's start:
// on a shared machine the figures are indicative. A peer whose binary is
// absent or does not start is printed MISSING with the reason and its
// goals are "not judged"; nothing stands in for it. After the name
// workloads it prints the leader changes each cluster's members counted
// meanwhile (registry_leader_changes_total, and etcd's
// etcd_server_leader_changes_seen_total, from /metrics).
//
// rond's per-tenant quota (200 requests/s) is a service limit, not the
// path under test: --peers reads without a token with
// --anonymous-read-rate raised, and writes with tokens of a ring of
// tenants in turn. Nothing else is changed: fsync, verification and
// signature checks are rond's defaults.
//
// rond serves no /debug/pprof, so for a profile of the byte workloads
// --peers --rond in-process --skip-names --cpuprofile FILE runs them on
// the in-process composition above (quotas raised the same way); the
// profile covers the whole process, clients included.
//
// Rejected: wrk or a shell loop of curl. Neither reports latency of 64 MiB
// bodies with distinct contents per request, and a PUT of the same bytes
// twice measures the deduplicated path, not the write path.
package main

// Command ronbench drives a RON node over HTTP on loopback and prints
// throughput and latency figures for BENCHMARKS.md ("Production node").
//
//	ronbench                          # an in-process node, in memory
//	ronbench --data-dir /tmp/x        # in-process macronode (pebble on disk)
//	ronbench --rond bin/rond          # the rond binary as a child process
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
// differs in one setting: the gateway's per-tenant rate limit
// (gateway.TenantRateDefault, 200 requests/s) is raised out of the way,
// because a benchmark measures what the node can do, not the quota. With
// --rond the quota stays: each worker uses its own tenant's token (minted
// from a capability key ronbench writes and passes with --cap-key-file),
// so the ceiling is 200 requests/s per worker and 429s are counted.
// --cpuprofile writes a CPU profile of the whole process (clients
// included) while the load runs; it is meaningful for the in-process node.
//
// --cas-names N adds a compare-and-set phase: N names claimed by one
// owner, then --cas-conns writers for --cas-time, each setting a random
// name to its own idea of the seq plus one. A 409 carries the name's
// current seq (gateway.ConflictEnvelope), and the writer retries from it
// without reading the name first; the phase reports successes per second
// and how many conflicts were answered that way.
//
// Rejected: wrk or a shell loop of curl. Neither reports latency of 64 MiB
// bodies with distinct contents per request, and a PUT of the same bytes
// twice measures the deduplicated path, not the write path.
package main

// Package real runs a scenario file against real rond processes (`ronsim
// real`): one macronode per scenario node on loopback, each with a fresh
// data dir, the registry replicas the scenario names and every other node
// as a bootstrap peer. The scenario's registry workload goes through the
// HTTP API, its faults are applied for real, the history is recorded in
// the simulator's format (sim/workload.Op, times in nanoseconds since the
// run started) and checked by sim/check, the code `ronsim run` uses. The
// content workload (put, get, range_get) goes through PUT /o and GET
// /o/{addr}; the nodes run without the gateway's edge cache, which the
// simulator's nodes do not have and which would hide disk faults from
// reads. With --oap-share a share of the clients send every request over
// OAP/1 instead (cmd/ronsim passes io/oapgate's client in as an
// http.RoundTripper: sim/ cannot import io/).
//
// # Faults
//
// Every node reaches every other through a UDP relay of its own per
// directed link (relay.go): node i's bootstrap entry for node j is the
// relay of i -> j, which forwards to j's QUIC port and carries the replies
// back. A packet from the dialer is judged on the link i -> j, a reply on
// j -> i, so a one-way cut cuts one direction of every connection
// whichever side dialed. The relays apply the scenario's partitions
// (symmetric, one-way, isolate, isolate the leader, bridge, heal) and the
// network's latency, loss, duplication and reordering; the kernel here has
// no netem, and per-node network namespaces would need root and leave
// state behind on a crash. rond keeps configured peer addresses over
// learned ones (io/quicnet), so no connection bypasses a relay.
//
// A crash is SIGKILL to the node's process group; the node restarts on
// the same data dir, ports and key after restart_after. A SIGKILL loses
// the process, not the kernel's page cache, so on its own it would keep
// every write rond handed to the kernel without an fsync, a weaker crash
// than the simulator's, which drops every unsynced write. When the
// scenario has a crash, every rond therefore runs with io/pebbledisk's
// unsynced-write journal (failpoint unsynced=keep), and a node killed
// while its disk.unsynced_survive is 0 (the default) restarts with
// unsynced=lose:PID: before pebble opens, the writes the killed process
// PID had not synced are dropped, as a power loss drops them (pebbledisk's
// doc, "Lost unsynced writes"). unsynced_survive 1 keeps the bare SIGKILL;
// values in between, and torn writes, are refused: a real crash here
// drops all unsynced writes or none. Only the pebble store is covered:
// rond's other files (node key, format record) are written once and
// synced. A pause is SIGSTOP/SIGCONT. "leader" is
// resolved when the fault fires, from the node logs (rond logs raft's
// "became leader at term N" at debug level; it has no endpoint naming the
// leader). A fault kind with no real injection is refused by Validate
// with its line in the file, before anything starts: never run as if it
// had been applied.
//
// Clock faults set io/runtime's clock failpoint ("OFFSET_NS:DRIFT") and
// disk faults the pebbledisk write, sync and read failpoints of the
// target node, at run time through its GO_FAILPOINTS_HTTP endpoint (a
// loopback port per node); the failpoints in force are passed again in
// GO_FAILPOINTS when a node restarts. --failpoint NAME=TERMS turns any
// failpoint on in every node for the whole run (io/quicnet's send and
// receive drop or delay peer frames), and --canary turns on a
// core/registry canary bug in a rond built with -tags canary.
//
// # Soak
//
// --duration D repeats the fault timeline every scenario length (whole
// repetitions, so the run ends with the scenario's own quiet tail) and
// keeps the workload going for D; each node process's resident memory and
// threads are sampled from /proc, and its goroutines from go_goroutines
// on its /metrics (io/runtime registers the Prometheus Go collector),
// every SampleInterval. After LeakWarmup, a process whose memory more
// than doubles (and grows by LeakBytesMin) between the first and the
// last quarter of its life, or whose goroutine count climbs from quarter
// to quarter and ends GoroutineGrowthMin and GoroutineGrowthRatio above
// the first quarter, fails the leaks check.
//
// # What differs from the simulator
//
// Wall-clock timing makes a run non-deterministic: the seed fixes the
// node keys, the workload's draws and the fault targets drawn at random,
// not the order answers arrive in, so the report has no trace hash. The
// liveness check cannot read raft's applied index, so replica agreement is
// read name by name through GET /names/{name}?stale=1 on each replica,
// which is also what durability checks. Clients send only to nodes that
// answered /readyz since their latest start: 200, or 503 for the registry
// alone (reason registry_no_leader or registry_unreachable: a node
// restarted into a partition serves, cut off from the registry quorum).
//
// # Processes
//
// Every rond runs in its own process group with a parent-death signal, so
// a kill reaches its children and no node outlives ronsim; Run kills every
// group and closes every relay on every return path, including SIGINT and
// SIGTERM. --keep keeps the data dirs, each node's log (every start) and
// the history; a failed run keeps its temporary dir the same way (and
// porcupine's visualisation in it), and the report names it.
package real

// Package runner turns a scenario into a simulation run: it composes each
// node's services, builds a sim.World, schedules the scenario's fault
// timeline and random faults, drives the workload, runs the checks and
// produces a Report (ronsim's output).
//
// Composition is decided by the scenario: every node of a cluster of at
// most OverlayNodesMax nodes runs the overlay with a full mesh of peers;
// n1..nR run the registry as replicas when registry_replicas is R > 0, and
// every other node runs it as a forwarding client. When the mix puts or
// reads content, every node runs core/storage (R=3, W=2) placing objects
// by static membership (all node ids) in clusters of at most
// OverlayNodesMax nodes, else through the node's DHT; the content checks
// (content.go) then ask for integrity of every read, convergence of every
// acknowledged object back to its placement after the run, and
// durability: a whole, intact read of each. Static membership was chosen
// over DHT placement for small clusters because a routing table that is
// still filling would move placements under the checker's feet; the
// convergence check recomputes placement itself (check.Placement) rather
// than asking the machine it checks.
//
// When the mix looks nodes up, every node runs core/dht (dht.go). Its
// bootstrap contacts are n1 and three earlier nodes, drawn once per run so
// a restart rejoins the same way; without the content workload the nodes
// join one after another over the first half of the warm-up (a joiner
// wrapper delays env.Start), because 100,000 simultaneous self-lookups are
// neither what a real network sees nor affordable: the bootstrap storm
// held several GiB of in-flight lookups. The lookup workload grades each
// answer against every live id (sim/workload), and Report.DHT carries the
// hop, latency, success and memory figures for the lookups check.
//
// Fault targets "leader" and "random" are resolved when the fault fires
// (the leader is the up replica that believes it leads; random draws from
// the world's "faults" stream). Random faults follow a Poisson process per
// kind; when Survivable is set, a random crash or isolation is skipped if it
// would leave fewer than a majority of registry replicas up and connected,
// so that a failed check means a bug, not bad luck (STYLE 17). A wipe
// whose target is already down (a random crash just before) erases its
// disk all the same; the node restarts, empty, when that crash's restart
// is due. The runner remembers when each registry replica was last wiped
// until it sees the replica running confirmed again, for synced_writes:
// a wipe explains the loss of a write invoked before it, not after.
package runner

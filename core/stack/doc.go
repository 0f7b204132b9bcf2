// Package stack is the one composition of a node: it turns a Description
// (the node's key, its peers, the registry's replicas, which optional
// services run and their configurations) into the node's services, in a
// fixed order, behind one core/node event loop.
//
// io/runtime (the node rond runs) and sim/runner (the nodes the simulator
// checks) both build their nodes with New and nothing else composes
// services, so a service added here runs in both worlds, and a service that
// runs in rond is one the simulator exercises. What differs between the
// worlds is only what they write into the Description: the simulator sets
// its deliberate bugs, a signature cache shared by the nodes of one
// process, a static storage membership and staggered DHT joins; rond sets
// what its configuration file says. A test at the repository root
// (stack_parity_test.go) builds the same node through both worlds' paths
// and fails when their services, types or configurations differ.
//
// The services, in order: overlay (when there are peers), registry (when
// there are replicas), authz (always: it answers capability checks and the
// revocation query from the registry's view), dht, storage (placing through
// the dht when it runs) and audit. dht, storage and audit are optional
// (Description.Off); a scenario that keeps one off says so with its
// nodes.off key (scenarios/README.md).
//
// Description.Validate names the first bad setting; among its checks, a
// Registry.AdminKeys entry of small order or not canonically encoded
// (proto.CheckPublicKey) is refused, since anyone could sign a Revoke
// under it.
//
// Rejected alternative: each world composing its own list "mirroring" the
// other. That is how audit came to run only in rond and authz only in the
// simulator, so the revocation scenario checked a path rond did not take.
package stack

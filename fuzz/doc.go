// Package fuzz holds the cross-package fuzz targets: inputs that travel
// through several layers the way the world sends them, where each
// package's own fuzzers stop at its border.
//
//   - FuzzGatewayRequest: an HTTP request through the gateway handler into
//     a running node (in-memory pebble).
//   - FuzzScenarioSimulation: a scenario file through the loader into a
//     short simulation, run twice: the same seed must give the same trace.
//   - FuzzRegistryRaftMessage: a raft message, framed as a peer sends it,
//     through the registry codec into a running replica's raft.
//   - FuzzOAPStream: bytes on an OAP/1 stream through oapgate into the
//     gateway and the node.
//
// Corpora live in testdata/fuzz/ and grow with `make fuzz-grow`; CI runs
// every target for a short budget (scripts/fuzz-gate.sh). The package has
// no non-test code besides this file.
package fuzz

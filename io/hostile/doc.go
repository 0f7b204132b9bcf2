// Package hostile is the abuse suite: a whole node (runtime, pebble,
// gateway behind the server rond runs, the OAP/1 endpoint and the peer
// transport) on loopback, attacked one way at a time while a legitimate
// client keeps working. It has no production code; its tests are the
// point (hostile_test.go).
//
// Each attack runs next to the same legitimate load measured without it
// and asserts that the legitimate client is still served and that the
// attack's refusals are counted in /metrics; it logs the figures it
// measured (success rate and p99 of the legitimate client, with and
// without the attack, refusals, heap held per attacker connection). The
// default run is short and bounded in time and count; with
// -hostile.bench it runs longer and prints the "Under attack" table of
// BENCHMARKS.md:
//
//	go test ./io/hostile -run TestUnderAttack -hostile.bench -v
package hostile

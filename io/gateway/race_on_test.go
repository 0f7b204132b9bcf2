//go:build race

package gateway

// raceEnabled: the race detector is on; it instruments code with
// allocations of its own, so allocation counts are not the program's.
const raceEnabled = true

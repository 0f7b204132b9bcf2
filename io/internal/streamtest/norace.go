//go:build !race

package streamtest

// raceEnabled: see race.go.
const raceEnabled = false

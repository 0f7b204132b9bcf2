//go:build canary

package storage

// canaryBugs is true only in builds with the canary tag, where the tests
// enable the deliberate bugs of Config.Bug* to prove the checks catch them.
const canaryBugs = true

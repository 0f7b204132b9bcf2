//go:build canary

package dht

// canaryBugs is true only in builds with the canary tag, where the
// simulator's canary tests enable Config.Bug to prove its checks catch it.
const canaryBugs = true

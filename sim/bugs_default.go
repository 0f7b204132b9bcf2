//go:build !canary

package sim

// simCanary is false in normal builds: Config.Bug is ignored.
const simCanary = false

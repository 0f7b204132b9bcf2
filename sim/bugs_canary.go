//go:build canary

package sim

// simCanary is true in canary builds: Config.Bug is honoured.
const simCanary = true

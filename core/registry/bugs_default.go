//go:build !canary

package registry

// canaryBugs is false in normal builds: Config.Bug is ignored (and the
// attempt logged and counted), so a wrong variant can never ship.
const canaryBugs = false

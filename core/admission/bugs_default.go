//go:build !canary

package admission

// canaryBugs is false in normal builds: Config.Bug is ignored, so a wrong
// variant can never ship.
const canaryBugs = false

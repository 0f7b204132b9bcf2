//go:build canary

package registry

// canaryBugs is true in canary builds (go test -tags canary): Config.Bug
// switches take effect so the simulator can show it catches each.
const canaryBugs = true

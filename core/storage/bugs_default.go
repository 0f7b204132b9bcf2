//go:build !canary

package storage

// canaryBugs is false in normal builds: Config.Bug* fields are ignored.
const canaryBugs = false

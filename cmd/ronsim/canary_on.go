//go:build canary

package main

// canaryBuild is true in canary builds: RONSIM_CANARY is honoured.
const canaryBuild = true

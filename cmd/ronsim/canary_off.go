//go:build !canary

package main

// canaryBuild is false in normal builds: RONSIM_CANARY is ignored.
const canaryBuild = false

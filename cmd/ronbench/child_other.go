//go:build !linux

package main

import "os/exec"

// dieWithParent has no portable equivalent of Linux's parent-death signal:
// elsewhere a child outlives a ronbench that is killed.
func dieWithParent(*exec.Cmd) {}

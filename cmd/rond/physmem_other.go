//go:build !linux

package main

// physicalMemory returns the machine's RAM in bytes, and whether it is
// known: not on this system.
func physicalMemory() (int64, bool) { return 0, false }

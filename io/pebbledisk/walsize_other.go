//go:build !linux

package pebbledisk

// extendPreallocate: not on this platform; the file's own preallocation
// applies.
func extendPreallocate(uintptr, int64, int64) (bool, error) { return false, nil }

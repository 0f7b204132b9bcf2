//go:build !linux

package pebbledisk

// extendPreallocate: not on this platform; the file's own preallocation
// applies.
func extendPreallocate(uintptr, int64, int64) (bool, error) { return false, nil }

// syncData: not on this platform; the file's own sync applies.
func syncData(uintptr, bool) (bool, bool, error) { return false, false, nil }

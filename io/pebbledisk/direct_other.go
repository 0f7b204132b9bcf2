//go:build !linux

package pebbledisk

// createDirect: no O_DIRECT here; segments are written through the file
// system.
func createDirect(string) (segmentFile, error) { return nil, errNoDirect }

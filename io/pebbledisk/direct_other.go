//go:build !linux

package pebbledisk

import "errors"

// errNoDirect: the platform has no O_DIRECT.
var errNoDirect = errors.New("pebbledisk: no direct I/O on this platform")

// createDirect: no O_DIRECT here; segments are written through the file
// system.
func createDirect(string) (segmentFile, error) { return nil, errNoDirect }

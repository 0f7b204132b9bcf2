//go:build !unix

package scenario

import "os"

func openNonblock(path string) (*os.File, error) { return os.Open(path) } // #nosec G304 -- the caller names the scenario file

func clearNonblock(*os.File) error { return nil }

//go:build unix

package keyfile

import (
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ron-network/ron/io/regfile"
)

// TestKeyFileMustBeRegular: a key path naming a FIFO (mode 0600, so the
// permission check passes) is refused at once naming the path and its
// type, by Read and ReadCap alike; before, the read blocked for ever
// waiting for a writer. A directory is refused the same way.
func TestKeyFileMustBeRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "node.key")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, kind string }{{fifo, "a named pipe (FIFO)"}, {dir, "a directory"}} {
		_, err := Read(c.path, 32)
		_, capErr := ReadCap(c.path)
		for _, err := range []error{err, capErr} {
			if !errors.Is(err, regfile.ErrNotRegular) || !strings.Contains(err.Error(), c.path+" is "+c.kind) {
				t.Errorf("%s: %v; want it refused as %s", c.path, err, c.kind)
			}
		}
	}
}

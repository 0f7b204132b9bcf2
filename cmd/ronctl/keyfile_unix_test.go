//go:build unix

package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestKeyFileMustBeRegular: key id and name claim refuse a --key path
// that is a FIFO or a directory at once, exit 1 naming the path and its
// type; before, a FIFO blocked ronctl for ever in open(2).
func TestKeyFileMustBeRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "owner.key")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, kind string }{{fifo, "a named pipe (FIFO)"}, {dir, "a directory"}} {
		for _, args := range [][]string{{"key", "id", c.path}, {"name", "claim", "x.example", "--key", c.path, "--token", "t"}} {
			var out, errOut bytes.Buffer
			code := run(args, nil, &out, &errOut)
			if code != 1 || !strings.Contains(errOut.String(), c.path+" is "+c.kind) {
				t.Errorf("%v: exit %d, stderr %q; want 1 naming %s as %s", args, code, errOut.String(), c.path, c.kind)
			}
		}
	}
}

//go:build unix

package scenario

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLoadRefusesAFIFO: Load opened a named pipe with os.Open, which
// blocks until a writer comes; now it is refused at once, naming the
// path and its type.
func TestLoadRefusesAFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pipe.yaml")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := Load(path)
		done <- err
	}()
	select {
	case err := <-done:
		if want := path + " is a named pipe (FIFO), not a regular file"; err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Load(FIFO): %v, want %q", err, want)
		}
	case <-time.After(60 * time.Second): // a backstop: the refusal is immediate
		t.Fatal("Load blocked on a FIFO")
	}
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "is a directory, not a regular file") {
		t.Fatalf("Load(directory): %v", err)
	}
}

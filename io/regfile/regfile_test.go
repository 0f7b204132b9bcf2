//go:build unix

package regfile

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestRefusesWhatIsNotARegularFile: a FIFO (with no writer: opening it
// for reading would block for ever), a socket, a character device and a
// directory are refused with an error naming the path and its type;
// symlinks are followed to what they name.
func TestRefusesWhatIsNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	regular := filepath.Join(dir, "regular")
	if err := os.WriteFile(regular, []byte("key: value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	linkToFIFO := filepath.Join(dir, "link-to-fifo")
	linkToRegular := filepath.Join(dir, "link-to-regular")
	if err := os.Symlink(fifo, linkToFIFO); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(regular, linkToRegular); err != nil {
		t.Fatal(err)
	}
	for path, kind := range map[string]string{
		fifo:       "a named pipe (FIFO)",
		linkToFIFO: "a named pipe (FIFO)",
		sock:       "a socket",
		os.DevNull: "a character device",
		dir:        "a directory",
	} {
		_, err := ReadFile(path, 1<<20)
		if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), path+" is "+kind) {
			t.Errorf("ReadFile(%s): %v; want it refused as %s", path, err, kind)
		}
	}
	for _, path := range []string{regular, linkToRegular} {
		data, err := ReadFile(path, 1<<20)
		if err != nil || string(data) != "key: value\n" {
			t.Errorf("ReadFile(%s) = %q, %v", path, data, err)
		}
	}
	if _, err := ReadFile(regular, 4); err == nil || !strings.Contains(err.Error(), "larger than 4 bytes") {
		t.Errorf("ReadFile over the bound: %v", err)
	}
	if _, err := ReadFile(filepath.Join(dir, "absent"), 1<<20); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadFile(absent): %v", err)
	}
}

// TestOpenedFileBlocks: the file Open returns reads in blocking mode (the
// O_NONBLOCK of the open is cleared).
func TestOpenedFileBlocks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	flags, _, errno := syscall.Syscall(syscall.SYS_FCNTL, f.Fd(), syscall.F_GETFL, 0)
	if errno != 0 {
		t.Fatal(errno)
	}
	if flags&syscall.O_NONBLOCK != 0 {
		t.Errorf("flags %#x still have O_NONBLOCK", flags)
	}
}

package datadir

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestLockTakesAReadOnlyLockFile: a lock file this process cannot write
// (one that rond migrate run as root created 0600 before the service
// user's rond starts: here a file mode 0400, which takes the same path)
// is still taken, read-only, and still excludes a second Lock, whose
// error names the pid and host last written in it. The old build opened
// it read-write only and failed: "open DIR/LOCK: permission denied".
func TestLockTakesAReadOnlyLockFile(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root opens a read-only file read-write")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, LockName)
	if err := os.WriteFile(path, []byte("4242 otherhost\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	unlock, err := Lock(dir)
	if err != nil {
		t.Fatalf("Lock of a read-only lock file: %v", err)
	}
	want := "the lock file was last written by pid 4242 on otherhost"
	if _, err := Lock(dir); !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), want) {
		t.Errorf("second Lock: %v; want ErrInUse, %q", err, want)
	}
	unlock()
	unlock, err = Lock(dir)
	if err != nil {
		t.Fatalf("Lock after the release: %v", err)
	}
	unlock()
}

// TestLockFileIsReadable: a new lock file is mode 0644 (under umask 022),
// so that another user can open it to take the lock; it holds the pid
// and host of its holder.
func TestLockFileIsReadable(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := t.TempDir()
	unlock, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	path := filepath.Join(dir, LockName)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o644 {
		t.Errorf("lock file mode %04o, want 0644", got)
	}
	data, err := os.ReadFile(path) // #nosec G304 -- test dir
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if want := strings.Join([]string{itoa(os.Getpid()), host}, " ") + "\n"; string(data) != want {
		t.Errorf("lock file holds %q, want %q", data, want)
	}
}

// TestLockUnopenableNamesOwner: a lock file this process can neither
// write nor read is refused with one mention of its path, its owner and
// mode, and what to do.
func TestLockUnopenableNamesOwner(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root opens any file")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, LockName)
	if err := os.WriteFile(path, nil, 0o000); err != nil {
		t.Fatal(err)
	}
	_, err := Lock(dir)
	if err == nil {
		t.Fatal("Lock of an unreadable lock file succeeded")
	}
	msg := err.Error()
	for _, want := range []string{"cannot open lock file " + path, "owned by " + currentUser() + ", mode 0000", "permission denied", "chown it", "remove it"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if n := strings.Count(msg, path); n != 1 {
		t.Errorf("error %q names the path %d times, want once", msg, n)
	}
}

// TestHeldProbesWithoutCreating: Held reports a held lock as ErrInUse,
// a free one as nil, and never creates the lock file.
func TestHeldProbesWithoutCreating(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, LockName)
	if err := Held(dir); err != nil {
		t.Errorf("Held of a dir without a lock file: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Held created the lock file: %v", err)
	}
	unlock, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := Held(dir); !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "last written by pid "+itoa(os.Getpid())) {
		t.Errorf("Held of a held lock: %v; want ErrInUse naming this pid", err)
	}
	unlock()
	if err := Held(dir); err != nil {
		t.Errorf("Held of a released lock: %v", err)
	}
	// The probe released what it took.
	unlock, err = Lock(dir)
	if err != nil {
		t.Fatalf("Lock after Held: %v", err)
	}
	unlock()
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestLockAcrossUsers runs as root only: the upgrade step the docs give,
// rond migrate run as root on the service user's data dir, then rond as
// that user (here nobody, in a child process). A lock file root creates
// goes to the dir's owner, and one an older build left root's, mode
// 0600, is taken read-only: both times the service user takes the lock.
// The old build made the file root's, 0600, and the service user's rond
// failed "open DIR/LOCK: permission denied".
func TestLockAcrossUsers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to act as another user")
	}
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534}
	base, err := os.MkdirTemp("", "ronlock")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil { // #nosec G302 -- the child must reach its files
		t.Fatal(err)
	}
	bin := filepath.Join(base, "datadir.test")
	exe, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, exe, 0o755); err != nil { // #nosec G306 -- the child runs it
		t.Fatal(err)
	}
	asNobody := func(dir string) string {
		t.Helper()
		cmd := exec.Command(bin, "-test.run=^TestLockChild$", "-test.count=1") // #nosec G204 -- the test's own binary
		cmd.Env = append(os.Environ(), "RON_LOCK_CHILD=1")
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: nobody}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("Lock as nobody: %v\n%s", err, out)
		}
		return string(out)
	}
	newDir := func(name string) string {
		dir := filepath.Join(base, name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, int(nobody.Uid), int(nobody.Gid)); err != nil {
			t.Fatal(err)
		}
		return dir
	}

	// Created by root: given to the dir's owner, writable by it.
	dir := newDir("created")
	unlock, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	fi, err := os.Stat(filepath.Join(dir, LockName))
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != nobody.Uid || st.Gid != nobody.Gid {
		t.Errorf("lock file root created is %d:%d, want the dir's owner %d:%d", st.Uid, st.Gid, nobody.Uid, nobody.Gid)
	}
	if out := asNobody(dir); !strings.Contains(out, "locked writable") {
		t.Errorf("nobody on a lock file root created: %q", out)
	}

	// Root's and readable (root's Lock on a dir root owns): taken
	// read-only.
	dir = newDir("readable")
	if err := os.WriteFile(filepath.Join(dir, LockName), []byte("1 oldhost\n"), 0o644); err != nil { // #nosec G306 -- as Lock makes it
		t.Fatal(err)
	}
	if out := asNobody(dir); !strings.Contains(out, "locked read-only") {
		t.Errorf("nobody on root's 0644 lock file: %q", out)
	}

	// Root's, 0600, as the old build left it: refused, once naming the
	// file (the child names it relative to its working dir), its owner
	// and the fix.
	dir = newDir("old")
	if err := os.WriteFile(filepath.Join(dir, LockName), []byte("1 oldhost\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := asNobody(dir)
	path := LockName
	for _, want := range []string{"cannot open lock file " + path + " (owned by root, mode 0600) as nobody: permission denied", "chown it to the user rond runs as", "remove it while no rond"} {
		if !strings.Contains(out, want) {
			t.Errorf("nobody on root's 0600 lock file: %q lacks %q", out, want)
		}
	}
	if n := strings.Count(out, path); n != 1 {
		t.Errorf("%q names the path %d times, want once", out, n)
	}
}

// TestLockChild is TestLockAcrossUsers' child: it takes the lock of its
// working dir (with RON_LOCK_CHILD set) and says whether it could write
// the file.
func TestLockChild(t *testing.T) {
	if os.Getenv("RON_LOCK_CHILD") == "" {
		t.Skip("the child of TestLockAcrossUsers")
	}
	dir := "."
	before, _ := os.ReadFile(filepath.Join(dir, LockName)) // #nosec G304 -- test dir
	unlock, err := Lock(dir)
	if err != nil {
		fmt.Println("refused:", err)
		return
	}
	defer unlock()
	after, _ := os.ReadFile(filepath.Join(dir, LockName)) // #nosec G304 -- test dir
	if string(after) == holderLine() && string(before) != holderLine() {
		fmt.Println("locked writable")
	} else {
		fmt.Println("locked read-only")
	}
}

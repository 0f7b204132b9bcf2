package datadir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockName is the data dir's lock file at its root: rond holds it from
// the moment it has checked the dir until it exits, and rond migrate for
// the whole migration, so that two processes never work on one dir. It
// is not pebble's lock (DIR/pebble/LOCK), which pebble takes when the
// store opens and the migrations take after this one; every process
// takes this one first and neither waits for a lock, so they cannot
// deadlock.
const LockName = "LOCK"

// lockFileMode is the lock file's mode: what it holds (the last holder's
// pid and host) is not secret, and another user (an operator's rond
// migrate run as root, then rond as the service user) must be able to
// open it to take the lock.
const lockFileMode = 0o644

// Lock takes dir's lock (DIR/LOCK, flock, exclusive, never waiting) and
// returns its release; the file stays (unlinking a lock file races with
// a process that opened it). A dir locked by another process, or by
// another Lock of this one, is refused with ErrInUse naming the lock
// file and the process id and host its last holder wrote in it. dir is
// created if need be. The lock is released when the process ends,
// however it ends.
//
// The file is created mode 0644 and, by root, given to the data dir's
// owner, so that the service user can take the lock after an operator
// ran rond migrate as root. A lock file this process cannot write (one
// an older build created 0600 as root) is opened read-only, which flock
// takes as well; only the pid is not written then.
func Lock(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("datadir: %w", err)
	}
	path := filepath.Join(dir, LockName)
	f, writable, err := openLock(dir, path)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := holderOf(f)
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, inUse(path, holder)
		}
		return nil, fmt.Errorf("datadir: lock %s: %w", path, err)
	}
	// The holder's pid and host are for the error above only: the flock
	// is the lock.
	if writable {
		if err := f.Truncate(0); err == nil {
			_, _ = f.WriteAt([]byte(holderLine()), 0)
		}
	}
	return func() { _ = f.Close() }, nil
}

// Held reports whether dir's lock is held by another process (or another
// Lock of this one), as ErrInUse, without creating the lock file: rond
// calls it when a check of the dir failed before it took the lock, since
// the dir may look wrong only because a migration is at work on it. A
// dir without a lock file, or one that cannot be read, is not held (nil).
func Held(dir string) error {
	path := filepath.Join(dir, LockName)
	f, err := os.Open(path) // #nosec G304 -- the operator's data dir
	if err != nil {
		return nil
	}
	defer func() { _ = f.Close() }()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return inUse(path, holderOf(f))
		}
		return nil
	}
	// Free: the probe's lock goes with the file's close.
	return nil
}

func inUse(path, holder string) error {
	return fmt.Errorf("%w: %s is locked by another rond (a running node or rond migrate%s): stop it first (nothing was changed)",
		ErrInUse, path, holder)
}

// openLock opens (creating it if need be) the lock file at path in dir,
// read-write when it can, else read-only (writable false).
func openLock(dir, path string) (f *os.File, writable bool, err error) {
	f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, lockFileMode) // #nosec G304 -- the operator's data dir
	if err == nil {
		giveToDirOwner(f, dir)
		return f, true, nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return nil, false, lockOpenError(path, err)
	}
	f, err = os.OpenFile(path, os.O_RDWR, 0) // #nosec G304 -- the operator's data dir
	if err == nil {
		return f, true, nil
	}
	if !errors.Is(err, syscall.EACCES) && !errors.Is(err, syscall.EPERM) {
		return nil, false, lockOpenError(path, err)
	}
	f, err = os.Open(path) // #nosec G304 -- the operator's data dir
	if err != nil {
		return nil, false, lockOpenError(path, err)
	}
	return f, false, nil
}

// giveToDirOwner gives a lock file root just created to the data dir's
// owner (the service user), so that rond can open it read-write. Best
// effort: a lock file it cannot write is opened read-only anyway.
func giveToDirOwner(f *os.File, dir string) {
	if os.Geteuid() != 0 {
		return
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 {
		_ = f.Chown(int(st.Uid), int(st.Gid))
	}
}

// lockOpenError says why the lock file cannot be opened, naming its owner
// and mode when it is a permission problem and what to do about it.
func lockOpenError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // the path is named once, below
	}
	if !errors.Is(err, syscall.EACCES) && !errors.Is(err, syscall.EPERM) {
		return fmt.Errorf("datadir: cannot open lock file %s: %w", path, err)
	}
	owner := ""
	if fi, serr := os.Stat(path); serr == nil {
		owner = fmt.Sprintf(" (owned by %s, mode %04o)", ownerOf(fi), fi.Mode().Perm())
	}
	return fmt.Errorf("datadir: cannot open lock file %s%s as %s: %w: another user created it (rond migrate run as root?); "+
		"chown it to the user rond runs as, or remove it while no rond nor rond migrate runs on the dir (nothing was changed)",
		path, owner, currentUser(), err)
}

// ownerOf names a file's owner: the user's name, else its uid.
func ownerOf(fi os.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "another user"
	}
	uid := strconv.FormatUint(uint64(st.Uid), 10)
	if u, err := user.LookupId(uid); err == nil {
		return u.Username
	}
	return "uid " + uid
}

// currentUser names the user this process runs as.
func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "uid " + strconv.Itoa(os.Geteuid())
}

// holderLine is what a holder writes in the lock file: its pid and host.
func holderLine() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "?"
	}
	return strconv.Itoa(os.Getpid()) + " " + host + "\n"
}

// holderOf reads the pid and host the lock's last holder wrote, as
// "; the lock file was last written by pid N on HOST", or "". The holder
// may be another process since: a holder that opened the file read-only
// wrote nothing.
func holderOf(f *os.File) string {
	buf := make([]byte, 256)
	n, _ := f.ReadAt(buf, 0)
	fields := strings.Fields(string(buf[:n]))
	if len(fields) == 0 {
		return ""
	}
	if _, err := strconv.Atoi(fields[0]); err != nil {
		return ""
	}
	s := "; the lock file was last written by pid " + fields[0]
	if len(fields) > 1 {
		s += " on " + fields[1]
	}
	return s
}

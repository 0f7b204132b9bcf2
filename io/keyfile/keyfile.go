package keyfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/io/regfile"
)

// Mode is the permission of every key file written here.
const Mode fs.FileMode = 0o600

// FileBytesMax bounds what Read will look at: the hex of a key and some
// whitespace. A bigger file is not a key file.
const FileBytesMax = 1 << 10

// CapKeyID is the key id of the capability MAC key that rond verifies
// with and ronctl mints with; both derive it from the same file.
const CapKeyID = "root"

// ErrPermissions is wrapped when a key file is accessible to group or
// others.
var ErrPermissions = errors.New("keyfile: key file is accessible to group or others")

// Read returns the n key bytes stored in path.
func Read(path string, n int) ([]byte, error) {
	text, err := readPrivate(path, FileBytesMax)
	if err != nil {
		return nil, err
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(text)))
	if err != nil || len(b) != n {
		return nil, fmt.Errorf("keyfile: %s: not a key file (want %d bytes of hex)", path, n)
	}
	return b, nil
}

// readPrivate returns the content of path, refusing a file that group or
// others may access or that is larger than bytesMax, and anything that is
// not a regular file (a FIFO would block the reader for ever): the checks
// are made on the opened descriptor, so what is read is what was checked.
func readPrivate(path string, bytesMax int64) ([]byte, error) {
	f, err := regfile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %#o; run: chmod 600 %s", ErrPermissions, path, perm, path)
	}
	text, err := io.ReadAll(io.LimitReader(f, bytesMax+1))
	if err != nil {
		return nil, fmt.Errorf("keyfile: read %s: %w", path, err)
	}
	if size := max(st.Size(), int64(len(text))); size > bytesMax {
		return nil, fmt.Errorf("keyfile: %s: %d bytes is too large for a key file (at most %d)", path, size, bytesMax)
	}
	return text, nil
}

// Create writes n fresh random bytes to path (which must not exist) with
// Mode and returns them.
func Create(path string, n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	if err := createExclusive(path, []byte(hex.EncodeToString(b)+"\n")); err != nil {
		return nil, err
	}
	return b, nil
}

// createExclusive writes data to a new file path with Mode and syncs it;
// it fails if path exists, and removes what it wrote on any error.
func createExclusive(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, Mode)
	if err != nil {
		return fmt.Errorf("keyfile: %w", err)
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	if cerr := f.Close(); werr == nil && serr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = serr
	}
	if werr != nil {
		_ = os.Remove(path)
		return fmt.Errorf("keyfile: writing %s: %w", path, werr)
	}
	return nil
}

// ReadOrCreate reads path, or creates it when it does not exist.
func ReadOrCreate(path string, n int) ([]byte, error) {
	b, err := Read(path, n)
	if errors.Is(err, fs.ErrNotExist) {
		return Create(path, n)
	}
	return b, err
}

// CapKeyring derives the capability keyring from the bytes of a cap key
// file in the single-key format: one MAC key, CapKeyID version 1.
func CapKeyring(seed []byte) (*auth.Keyring, auth.MACKey, error) {
	secret, err := auth.NewSecret(seed)
	if err != nil {
		return nil, auth.MACKey{}, fmt.Errorf("keyfile: %w", err)
	}
	keys := auth.NewKeyring(nil)
	if err := keys.Create(CapKeyID, auth.KindMAC, secret); err != nil {
		return nil, auth.MACKey{}, fmt.Errorf("keyfile: %w", err)
	}
	key, err := keys.CurrentMACKey(CapKeyID)
	if err != nil {
		return nil, auth.MACKey{}, fmt.Errorf("keyfile: %w", err)
	}
	return keys, key, nil
}

// ReadCapKey reads a cap key file (either format, see CapKey) and returns
// its keyring and the current version's MAC key, which mints.
func ReadCapKey(path string) (*auth.Keyring, auth.MACKey, error) {
	k, err := ReadCap(path)
	if err != nil {
		return nil, auth.MACKey{}, err
	}
	keys, err := k.Keyring(nil)
	if err != nil {
		return nil, auth.MACKey{}, err
	}
	key, err := keys.CurrentMACKey(CapKeyID)
	if err != nil {
		return nil, auth.MACKey{}, fmt.Errorf("keyfile: %w", err)
	}
	return keys, key, nil
}

package keyfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/ron-network/ron/core/auth"
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
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %#o; run: chmod 600 %s", ErrPermissions, path, perm, path)
	}
	if st.Size() > FileBytesMax {
		return nil, fmt.Errorf("keyfile: %s: %d bytes is not a key file (want %d bytes of hex)", path, st.Size(), n)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(text)))
	if err != nil || len(b) != n {
		return nil, fmt.Errorf("keyfile: %s: not a key file (want %d bytes of hex)", path, n)
	}
	return b, nil
}

// Create writes n fresh random bytes to path (which must not exist) with
// Mode and returns them.
func Create(path string, n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, Mode)
	if err != nil {
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	_, werr := f.WriteString(hex.EncodeToString(b) + "\n")
	serr := f.Sync()
	if cerr := f.Close(); werr == nil && serr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = serr
	}
	if werr != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("keyfile: writing %s: %w", path, werr)
	}
	return b, nil
}

// ReadOrCreate reads path, or creates it when it does not exist.
func ReadOrCreate(path string, n int) ([]byte, error) {
	b, err := Read(path, n)
	if errors.Is(err, fs.ErrNotExist) {
		return Create(path, n)
	}
	return b, err
}

// CapKeyring derives the capability keyring from a cap key file's bytes:
// one MAC key, CapKeyID version 1.
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

// ReadCapKey reads a cap key file and derives its keyring.
func ReadCapKey(path string) (*auth.Keyring, auth.MACKey, error) {
	seed, err := Read(path, auth.KeyBytes)
	if err != nil {
		return nil, auth.MACKey{}, err
	}
	return CapKeyring(seed)
}

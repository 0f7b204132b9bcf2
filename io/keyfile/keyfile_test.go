package keyfile

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ron-network/ron/core/auth"
)

func TestCreateWrites0600AndReadsBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cap.key")
	b, err := Create(path, 32)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v, want 0600", st.Mode(), err)
	}
	got, err := Read(path, 32)
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("read back %x %v", got, err)
	}
	if _, err := Create(path, 32); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create over an existing key: %v", err)
	}
	again, err := ReadOrCreate(path, 32)
	if err != nil || !bytes.Equal(again, b) {
		t.Fatalf("ReadOrCreate of an existing key: %v", err)
	}
}

func TestReadRefusesLoosePermissionsWithoutLeakingTheKey(t *testing.T) {
	secret := strings.Repeat("ab", 32)
	for _, mode := range []fs.FileMode{0o640, 0o604, 0o644, 0o660} {
		path := filepath.Join(t.TempDir(), "k")
		if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := Read(path, 32)
		if !errors.Is(err, ErrPermissions) || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("mode %#o: %v", mode, err)
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "abab") {
			t.Fatalf("error leaks key material: %v", err)
		}
	}
}

func TestReadRejectsMalformedFilesWithoutEchoingThem(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"short":  strings.Repeat("cd", 31) + "\n",
		"long":   strings.Repeat("cd", 33) + "\n",
		"nothex": strings.Repeat("zz", 32) + "\n",
		"huge":   strings.Repeat("cd", FileBytesMax),
	}
	for name, text := range cases {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Read(path, 32)
		if err == nil || strings.Contains(err.Error(), "cdcd") || strings.Contains(err.Error(), "zzzz") {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := Read(filepath.Join(dir, "missing"), 32); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

// TestCapKeyringMatchesAuthKeyring: tokens minted from a key file verify
// with a keyring built the way core/auth documents (Create of KindMAC
// from the seed), and the keyring never prints the seed.
func TestCapKeyringMatchesAuthKeyring(t *testing.T) {
	seed := bytes.Repeat([]byte{0x5a}, auth.KeyBytes)
	keys, key, err := CapKeyring(seed)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := auth.Mint(key, "t", auth.Ops(auth.OpWrite), [auth.NonceBytes]byte{1})
	if err != nil {
		t.Fatal(err)
	}
	ref := auth.NewKeyring(nil)
	secret, _ := auth.NewSecret(seed)
	if err := ref.Create("root", auth.KindMAC, secret); err != nil {
		t.Fatal(err)
	}
	v := auth.NewVerifier(ref, nil).Verify(tok.Encode(), auth.Request{Op: auth.OpWrite, Tenant: "t"})
	if !v.Allowed() || key.ID != CapKeyID || key.Version != 1 {
		t.Fatalf("verdict %q, key %s v%d", v.Reason, key.ID, key.Version)
	}
	for _, s := range []string{fmt.Sprintf("%v %+v %#v %s", keys, key, key, key)} {
		if strings.Contains(s, hex.EncodeToString(seed[:8])) || strings.Contains(s, "5a5a") {
			t.Fatalf("printing the keyring leaks the seed: %s", s)
		}
	}
}

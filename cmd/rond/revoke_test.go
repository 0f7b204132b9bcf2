package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ron-network/ron/io/keyfile"
)

// TestAdminKeySources: the derived admin key depends only on the cap key
// (so nodes sharing one agree) and differs between cap keys; an admin key
// file wins and is created with mode 0600.
func TestAdminKeySources(t *testing.T) {
	seedA := bytes.Repeat([]byte{1}, 32)
	capA, _ := keyfile.ParseCapKey([]byte(hex.EncodeToString(seedA)))
	capB, _ := keyfile.ParseCapKey([]byte(hex.EncodeToString(bytes.Repeat([]byte{2}, 32))))
	a1, _ := adminKey(Config{}, capA)
	a2, _ := adminKey(Config{}, capA)
	b, _ := adminKey(Config{}, capB)
	if !a1.Equal(a2) || a1.Equal(b) {
		t.Fatal("the derived admin key must be a function of the cap key alone")
	}
	if bytes.Equal(a1.Seed(), seedA) {
		t.Fatal("the admin key must not be the cap key itself")
	}
	// The derived key follows the oldest live version: a rotation keeps
	// it, retiring that version changes it.
	if _, err := capA.Rotate(); err != nil {
		t.Fatal(err)
	}
	if rotated, _ := adminKey(Config{}, capA); !rotated.Equal(a1) {
		t.Fatal("a rotation changed the derived admin key")
	}
	if err := capA.Retire(1); err != nil {
		t.Fatal(err)
	}
	if retired, _ := adminKey(Config{}, capA); retired.Equal(a1) {
		t.Fatal("retiring the version the admin key derives from kept the admin key")
	}
	path := filepath.Join(t.TempDir(), "admin.key")
	f1, err := adminKey(Config{AdminKeyFile: path}, capA)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 || f1.Equal(a1) {
		t.Fatalf("admin key file: %v %v", st, err)
	}
	f2, _ := adminKey(Config{AdminKeyFile: path}, capB)
	if !f1.Equal(f2) {
		t.Fatal("the admin key file must be read back, not replaced")
	}
}

// TestAdminKeysSetting: --admin-keys must be hex Ed25519 public keys (a
// bad one exits 2 naming the setting); given, it is the registry's list;
// absent, the node's own key alone.
func TestAdminKeysSetting(t *testing.T) {
	_, _, err := loadConfig([]string{"--admin-keys", "abcd"}, envOf(nil), &bytes.Buffer{})
	var ce *configError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "admin_keys") {
		t.Fatalf("bad admin key: %v", err)
	}
	k1 := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32)).Public().(ed25519.PublicKey)
	k2 := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{4}, 32)).Public().(ed25519.PublicKey)
	env := envOf(map[string]string{"RON_ADMIN_KEYS": hex.EncodeToString(k1) + "," + hex.EncodeToString(k2)})
	cfg, _, err := loadConfig(nil, env, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	if got := registryAdminKeys(cfg, k2, 3, log); len(got) != 2 || !got[0].Equal(k1) || !got[1].Equal(k2) {
		t.Fatalf("listed keys: %x", got)
	}
	if got := registryAdminKeys(Config{}, k2, 3, log); len(got) != 1 || !got[0].Equal(k2) {
		t.Fatalf("default keys: %x", got)
	}
}

// TestAdminKeysRefuseASmallOrderKey: under the identity point (01 00..00)
// the signature R = identity, S = 0 verifies every revoke, so listing it
// would let anyone revoke any token. rond refuses it at start, naming the
// setting, and from a config file the file and line.
func TestAdminKeysRefuseASmallOrderKey(t *testing.T) {
	identity := "01" + strings.Repeat("00", ed25519.PublicKeySize-1)
	good := hex.EncodeToString(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32)).Public().(ed25519.PublicKey))
	_, _, err := loadConfig([]string{"--admin-keys", good + "," + identity}, envOf(nil), &bytes.Buffer{})
	var ce *configError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "admin_keys") || !strings.Contains(err.Error(), "small order") {
		t.Fatalf("--admin-keys with the identity point: %v, want a config error naming admin_keys and the small order", err)
	}
	file := filepath.Join(t.TempDir(), "rond.yaml")
	if err := os.WriteFile(file, []byte("log_level: info\nadmin_keys:\n  - "+identity+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	if code := run([]string{"--config", file}, envOf(nil), &bytes.Buffer{}, &stderr); code != 2 || !strings.Contains(stderr.String(), file+":") ||
		!strings.Contains(stderr.String(), "admin_keys") || !strings.Contains(stderr.String(), "small order") {
		t.Fatalf("config file listing the identity point: exit %d, stderr %q; want 2 naming the file, admin_keys and the small order", code, stderr.String())
	}
	if _, _, err := loadConfig([]string{"--admin-keys", good}, envOf(nil), &bytes.Buffer{}); err != nil {
		t.Fatalf("a real admin key: %v", err)
	}
}

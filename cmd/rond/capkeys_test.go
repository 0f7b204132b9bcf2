package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/env/envtest"
	"github.com/ron-network/ron/io/keyfile"
)

// reloadFixture is a capKeys on a file in a temp dir, with metrics, a log
// buffer and the versions its rotated hook saw.
type reloadFixture struct {
	path    string
	keys    *capKeys
	metrics *envtest.Metrics
	log     *bytes.Buffer
	rotated []uint32
}

func newReloadFixture(t *testing.T) *reloadFixture {
	t.Helper()
	f := &reloadFixture{path: filepath.Join(t.TempDir(), "cap.key"), metrics: envtest.NewMetrics(), log: &bytes.Buffer{}}
	keys, err := openCapKeys(f.path)
	if err != nil {
		t.Fatal(err)
	}
	keys.metrics, keys.log = f.metrics, slog.New(slog.NewTextHandler(f.log, nil))
	keys.rotated = func(key auth.MACKey) { f.rotated = append(f.rotated, key.Version) }
	f.keys = keys
	return f
}

// edit applies fn to the file's key and writes it back as ronctl does.
func (f *reloadFixture) edit(t *testing.T, fn func(k *keyfile.CapKey) error) {
	t.Helper()
	k, err := keyfile.ReadCap(f.path)
	if err != nil {
		t.Fatal(err)
	}
	if err := fn(k); err != nil {
		t.Fatal(err)
	}
	if err := keyfile.WriteCap(f.path, k); err != nil {
		t.Fatal(err)
	}
}

func (f *reloadFixture) verdict(tok *auth.Token) auth.Reason {
	return auth.NewVerifier(f.keys, nil).Verify(tok.Encode(), auth.Request{Op: auth.OpWrite, Tenant: "root"}).Reason
}

func (f *reloadFixture) rotations() float64 {
	return f.metrics.Values[envtest.Key(auth.MetricKMSRotations, keyfile.CapKeyID)]
}

func rotate(k *keyfile.CapKey) error { _, err := k.Rotate(); return err }

// TestCapKeysReloadRotationAndRetire: a rotated file, once polled, makes
// the new version mint while the old one verifies, counts one rotation
// and calls the rotated hook; a retire makes the old version's tokens
// unknown_key and counts none; an unchanged file reloads to nothing.
func TestCapKeysReloadRotationAndRetire(t *testing.T) {
	f := newReloadFixture(t)
	old, err := mintRoot(f.keys.current())
	if err != nil || old.KeyVersion != 1 {
		t.Fatalf("first root token: v%d %v", old.KeyVersion, err)
	}
	f.edit(t, rotate)
	f.edit(t, rotate)
	f.keys.poll()
	fresh, _ := mintRoot(f.keys.current())
	if fresh.KeyVersion != 3 || f.verdict(old) != "" || f.verdict(fresh) != "" {
		t.Fatalf("after rotation: minted v%d; old %q, fresh %q", fresh.KeyVersion, f.verdict(old), f.verdict(fresh))
	}
	if f.rotations() != 2 || len(f.rotated) != 1 || f.rotated[0] != 3 {
		t.Fatalf("rotation events %v, hook calls %v; want 2 and [3]", f.rotations(), f.rotated)
	}
	f.edit(t, func(k *keyfile.CapKey) error { return k.Retire(1) })
	if err := f.keys.reload(); err != nil {
		t.Fatal(err)
	}
	if f.verdict(old) != auth.ReasonUnknownKey || f.verdict(fresh) != "" {
		t.Fatalf("after retiring v1: old %q, fresh %q", f.verdict(old), f.verdict(fresh))
	}
	if f.rotations() != 2 || len(f.rotated) != 1 {
		t.Fatalf("a retire counted as a rotation: %v events, hook calls %v", f.rotations(), f.rotated)
	}
	if err := f.keys.reload(); err != nil || len(f.rotated) != 1 || strings.Count(f.log.String(), "cap key reloaded") != 2 {
		t.Fatalf("reload of an unchanged file: %v, hook calls %v, log:\n%s", err, f.rotated, f.log)
	}
}

// TestCapKeysInvalidFileKeepsKeys: a corrupt or loose file is logged
// (line and field, no key material) and the keys in force stay.
func TestCapKeysInvalidFileKeepsKeys(t *testing.T) {
	f := newReloadFixture(t)
	tok, _ := mintRoot(f.keys.current())
	seedLine := lastLine(t, f.path)
	if err := os.WriteFile(f.path, []byte("ron-cap-key v1\n1 "+strings.Repeat("ab", auth.KeyBytes)+"\n1 zz\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.keys.reload(); err == nil || f.verdict(tok) != "" {
		t.Fatalf("corrupt file: %v; old token %q", err, f.verdict(tok))
	}
	if err := os.Chmod(f.path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.keys.reload(); err == nil || f.verdict(tok) != "" {
		t.Fatalf("loose file: %v; old token %q", err, f.verdict(tok))
	}
	logs := f.log.String()
	if !strings.Contains(logs, "line 3: field version") || !strings.Contains(logs, "chmod 600") {
		t.Fatalf("the log does not name the defects:\n%s", logs)
	}
	if strings.Contains(logs, "abab") || strings.Contains(logs, seedLine[2:18]) || f.rotations() != 0 {
		t.Fatalf("the log leaks key material or counted a rotation:\n%s", logs)
	}
}

func lastLine(t *testing.T, path string) string {
	t.Helper()
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(text)), "\n")
	return lines[len(lines)-1]
}

// TestCapKeysRunReloadsOnHangup: run applies a change the poll cannot see
// (same size and modification time) when SIGHUP arrives on its channel.
// The poll is called directly first, so the test asserts what a finished
// poll did rather than what a sleep did not see.
func TestCapKeysRunReloadsOnHangup(t *testing.T) {
	f := newReloadFixture(t)
	other, _ := keyfile.NewCapKey() // version 1 too: a file of the same size
	tok, _ := mintRoot(f.keys.current())
	writeKeepingStat(t, f.path, other.Marshal())
	f.keys.poll()
	if f.verdict(tok) != "" || len(f.rotated) != 0 || strings.Contains(f.log.String(), "cap key reloaded") {
		t.Fatalf("the poll applied a change of neither size nor time (verdict %q, hook calls %v)", f.verdict(tok), f.rotated)
	}
	hup := make(chan os.Signal, 1)
	done := make(chan struct{})
	defer close(done)
	rotated := make(chan struct{}, 1)
	f.keys.rotated = func(auth.MACKey) { rotated <- struct{}{} }
	go f.keys.run(done, hup)
	hup <- syscall.SIGHUP
	select {
	case <-rotated:
	case <-time.After(30 * time.Second):
		t.Fatal("SIGHUP did not reload the key file")
	}
	if f.verdict(tok) != auth.ReasonBadMAC {
		t.Fatalf("token of the replaced key: %q, want bad_mac", f.verdict(tok))
	}
}

package main

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/ron-network/ron/core/audit"
	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/io/gateway"
	"github.com/ron-network/ron/io/keyfile"
)

// capKeys is the capability keyring in force: the gateway's verifier
// reads it from every request goroutine (it is the verifier's
// auth.KeySource), and one goroutine reloads it from the cap key file
// (run) when the file changes and on SIGHUP, as the policy file is
// reloaded. A reload builds a new keyring and swaps one pointer, so a
// verification sees the old keyring or the new one, never a mix; an
// unreadable or invalid file is logged and the keyring in force stays.
//
// A keyring is never modified once published: readers share it without a
// lock. The alternative, one keyring mutated by Rotate and Retire under a
// lock, would put a lock on every verification and would still have to
// diff the file against the keyring to know what to call.
type capKeys struct {
	// path is the cap key file; "" for a micronode's key, which lives in
	// memory and is never reloaded.
	path string
	keys atomic.Pointer[auth.Keyring]

	// Set before run starts, then used by run's goroutine only.
	metrics env.Metrics
	log     *slog.Logger
	// rotated is called after a reload changed the current version, with
	// the new current key (rond mints a new root token with it).
	rotated func(key auth.MACKey)
	// audit records a reload that changed the keys and a refused one
	// (reloadaudit.go); nil records nothing.
	audit func(audit.Event)
	file  *keyfile.CapKey
	size  int64
	mod   time.Time
	// refused identifies the last refusal recorded: the file's size and
	// modification time and the error; "" after a reload that succeeded.
	// The same bad file refused again (every SIGHUP) is recorded once.
	refused string
}

var _ auth.KeySource = (*capKeys)(nil)

// capKeyPath is --cap-key-file, else DIR/cap.key for a macronode, else ""
// (a micronode keeps a fresh key in memory).
func capKeyPath(cfg Config) string {
	if cfg.CapKeyFile == "" && cfg.DataDir != "" {
		return filepath.Join(cfg.DataDir, "cap.key")
	}
	return cfg.CapKeyFile
}

// openCapKeys reads the cap key file (creating it, mode 0600, with one
// version when missing) or makes a key in memory when there is no file.
func openCapKeys(path string) (*capKeys, error) {
	c := &capKeys{path: path, log: slog.Default()}
	var err error
	if path == "" {
		c.file, err = keyfile.NewCapKey()
	} else {
		// Stat before reading: a change in between is then seen by the
		// next poll, at worst reloading what was read.
		c.remember()
		c.file, err = keyfile.ReadOrCreateCap(path)
		if c.mod.IsZero() {
			c.remember() // created just now
		}
	}
	if err != nil {
		return nil, badSetting("cap_key_file", "%v", err)
	}
	keys, err := c.file.Keyring(nil)
	if err != nil {
		return nil, badSetting("cap_key_file", "%v", err)
	}
	c.keys.Store(keys)
	return c, nil
}

// MACKey implements auth.KeySource with the keyring in force.
func (c *capKeys) MACKey(id string, version uint32) (auth.MACKey, bool) {
	return c.keys.Load().MACKey(id, version)
}

// current is the newest version of the cap key, the one that mints.
func (c *capKeys) current() auth.MACKey {
	key, err := c.keys.Load().CurrentMACKey(keyfile.CapKeyID)
	if err != nil {
		panic("rond: the cap keyring lost its key: " + err.Error()) // openCapKeys and reload guarantee it
	}
	return key
}

// run polls the file every gateway.PolicyPollInterval and reloads it on
// every value from hup, until done is closed.
func (c *capKeys) run(done <-chan struct{}, hup <-chan os.Signal) {
	tick := time.NewTicker(gateway.PolicyPollInterval)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			c.poll()
		case <-hup:
			_ = c.reload()
		}
	}
}

// poll reloads when the file's size or modification time changed. A
// rotation replaces the file by a rename, which changes both.
func (c *capKeys) poll() {
	st, err := os.Stat(c.path)
	if err != nil || st.Size() == c.size && st.ModTime().Equal(c.mod) {
		return
	}
	_ = c.reload()
}

// remember notes the file's size and modification time for poll; a
// missing file leaves them as they were.
func (c *capKeys) remember() {
	if st, err := os.Stat(c.path); err == nil {
		c.size, c.mod = st.Size(), st.ModTime()
	}
}

// reload reads the file and, if it holds other keys than those in force,
// swaps them in: versions added above the current one are rotations
// (kms_rotation_events_total), versions gone are retired and their tokens
// stop verifying. Errors name the file, line and field, never key
// material. A change is audited with the versions' fingerprints, and a
// refusal once per bad file (refused).
func (c *capKeys) reload() error {
	c.remember()
	file, err := keyfile.ReadCap(c.path)
	var keys *auth.Keyring
	if err == nil {
		keys, err = file.Keyring(nil)
	}
	if err != nil {
		c.log.Error("rond: cap key reload failed; the keys in force stay", "file", c.path, "err", err)
		if key := fmt.Sprintf("%d %d %v", c.size, c.mod.UnixNano(), err); key != c.refused {
			c.refused = key
			c.record(capKeysRefused(c.path, err, c.file))
		}
		return err
	}
	c.refused = ""
	if file.Equal(c.file) {
		return nil
	}
	old := c.file
	c.file = file
	c.keys.Store(keys)
	added, retired := versionDiff(old.Versions(), file.Versions())
	rotations := 0
	for _, v := range added {
		if v > old.Current() {
			rotations++
		}
	}
	c.metrics.Add(auth.MetricKMSRotations, keyfile.CapKeyID, float64(rotations))
	c.record(capKeysChange(c.path, old, file))
	c.log.Info("rond: cap key reloaded", "file", c.path, "versions", fmt.Sprint(file.Versions()),
		"current", file.Current(), "added", fmt.Sprint(added), "retired", fmt.Sprint(retired))
	// Equal said no, so the same versions means other seeds: the file was
	// replaced rather than rotated.
	replaced := len(added) == 0 && len(retired) == 0
	switch {
	case file.Current() < old.Current():
		c.log.Warn("rond: the cap key file's current version went down; new tokens use the older version",
			"file", c.path, "was", old.Current(), "now", file.Current())
	case replaced:
		c.log.Warn("rond: the cap key file holds other key material under the same versions; tokens minted before stop verifying",
			"file", c.path)
	}
	if file.Current() != old.Current() || replaced {
		c.rotated(c.current())
	}
	return nil
}

func (c *capKeys) record(e audit.Event) {
	if c.audit != nil {
		c.audit(e)
	}
}

// versionDiff returns the versions of now that were not in before, and
// those of before that are not in now.
func versionDiff(before, now []uint32) (added, retired []uint32) {
	for _, v := range now {
		if !slices.Contains(before, v) {
			added = append(added, v)
		}
	}
	for _, v := range before {
		if !slices.Contains(now, v) {
			retired = append(retired, v)
		}
	}
	return added, retired
}

// rootTenant is the root token's tenant. The gateway exempts its full
// tokens (every op, no caveat: the root token) from the per-tenant name
// quota (gateway.Config.NameQuotaExempt): they are the operator's own. A
// narrower token of tenant root is what an operator hands out, and is
// bounded.
const rootTenant = "root"

// mintRoot mints a root token (every op, tenant rootTenant) with key.
func mintRoot(key auth.MACKey) (*auth.Token, error) {
	var nonce [auth.NonceBytes]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("rond: root token nonce: %w", err)
	}
	return auth.Mint(key, rootTenant, auth.OpsAll, nonce)
}

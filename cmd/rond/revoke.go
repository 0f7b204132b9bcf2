package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"log/slog"
	"slices"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/io/keyfile"
)

// adminKeyContext is the BLAKE3 derive-key context of the revocation
// admin key derived from the cap key (see doc.go, "Revocation").
const adminKeyContext = "ron rond 2025 revocation admin key from cap key v1"

// adminKey returns the key this node signs registry revocations with:
// --admin-key-file (hex Ed25519 seed, created with mode 0600 when
// missing), else a key derived from the seed of the cap key's oldest live
// version (keyfile.CapKey.DeriveKey; for a single-key file, its key).
// Deriving gives every node that shares a cap key file the same admin key,
// so the replicas' AdminKeys agree with no further setting; it grants
// nothing new, since whoever holds the cap key can already mint an admin
// token and revoke through any gateway. A rotation keeps the admin key; a
// retire of the oldest version changes it at the next start.
func adminKey(cfg Config, capKey *keyfile.CapKey) (ed25519.PrivateKey, error) {
	if cfg.AdminKeyFile != "" {
		seed, err := keyfile.ReadOrCreate(cfg.AdminKeyFile, ed25519.SeedSize)
		if err != nil {
			return nil, badSetting("admin_key_file", "%v", err)
		}
		return ed25519.NewKeyFromSeed(seed), nil
	}
	seed := make([]byte, ed25519.SeedSize)
	capKey.DeriveKey(seed, adminKeyContext)
	return ed25519.NewKeyFromSeed(seed), nil
}

// parseAdminKeys parses --admin-keys (hex Ed25519 public keys). A key of
// small order or not canonically encoded is refused (proto.CheckPublicKey):
// ed25519.Verify is cofactorless, so under such a key a signature anyone
// can make verifies, and anyone could revoke; no seed-derived key is one.
func parseAdminKeys(list []string) ([]ed25519.PublicKey, error) {
	var out []ed25519.PublicKey
	for _, s := range list {
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != ed25519.PublicKeySize {
			return nil, badSetting("admin_keys", "%q is not a %d-byte Ed25519 public key in hex", s, ed25519.PublicKeySize)
		}
		if err := proto.CheckPublicKey(b); err != nil {
			return nil, badSetting("admin_keys", "%q is not a usable admin key: %v", s, err)
		}
		out = append(out, ed25519.PublicKey(b))
	}
	return out, nil
}

// registryAdminKeys is the registry's AdminKeys: --admin-keys when given,
// else this node's admin key alone. Every replica must list the same keys
// (a replica checks a revoke's signer again at apply); a cluster whose
// nodes share a cap key gets that with the default.
func registryAdminKeys(cfg Config, own ed25519.PublicKey, replicas int, log *slog.Logger) []ed25519.PublicKey {
	listed, _ := parseAdminKeys(cfg.AdminKeys) // validated by loadConfig
	if len(listed) == 0 {
		if replicas > 1 {
			log.Info("rond: revocations: no --admin-keys; this node's admin key alone may revoke (every replica must share the cap key or list the same --admin-keys)",
				"admin_key", hex.EncodeToString(own))
		}
		return []ed25519.PublicKey{own}
	}
	if !slices.ContainsFunc(listed, func(k ed25519.PublicKey) bool { return k.Equal(own) }) {
		log.Warn("rond: revocations: --admin-keys does not list this node's admin key; POST /tokens/revoke here will be refused",
			"admin_key", hex.EncodeToString(own))
	}
	return listed
}

package stack

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/registry"
)

// A registry admin key that is the identity point would let anyone sign
// a Revoke (R = identity, S = 0 verifies every message under it):
// Validate refuses it, naming the setting.
func TestValidateRefusesASmallOrderAdminKey(t *testing.T) {
	identity := make(ed25519.PublicKey, ed25519.PublicKeySize)
	identity[0] = 1
	good := key(2).Public().(ed25519.PublicKey)
	d := Description{Key: key(1), Registry: registry.Config{AdminKeys: []ed25519.PublicKey{good, identity}}}
	err := d.Validate()
	if !errors.Is(err, proto.ErrWeakPublicKey) || !strings.Contains(err.Error(), "Registry.AdminKeys[1]") {
		t.Fatalf("Validate with the identity point as admin key: %v, want ErrWeakPublicKey naming Registry.AdminKeys[1]", err)
	}
	d.Registry.AdminKeys = d.Registry.AdminKeys[:1]
	if err := d.Validate(); err != nil {
		t.Fatalf("Validate with a real admin key: %v", err)
	}
}

package dht

import (
	"errors"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// TestRecordRefusesASmallOrderKey: under the identity point as public key
// the signature R = identity, S = 0 verifies for any record, so anyone
// could publish records for the provider id it hashes to; Verify refuses
// such a key before the signature.
func TestRecordRefusesASmallOrderKey(t *testing.T) {
	now := env.Time(time.Hour)
	var r ProviderRecord
	r.PublicKey[0] = 1 // the identity point
	r.Provider = proto.NodeIDFromPublicKey(r.PublicKey[:])
	r.Addr = proto.AddrOf([]byte("anything"))
	r.Expiry = now.Add(time.Hour)
	r.Signature[0] = 1 // R = identity, S = 0
	var re *RecordError
	if err := r.Verify(now, 24*time.Hour); !errors.As(err, &re) || re.Reason != "weak_key" {
		t.Fatalf("record under the identity key: %v, want weak_key", err)
	}
}

package dht

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// RecordSigningDomain prefixes the bytes a provider signs, so that a
// provider signature can never be replayed as any other RON signature.
const RecordSigningDomain = "ron/dht/provider-record/v1\x00"

// ProviderRecord says that Provider serves the object at Addr until Expiry
// (the provider's clock, Unix nanoseconds). It is self-certifying:
// PublicKey hashes to Provider and Signature covers
//
//	RecordSigningDomain || Addr (32) || Provider (32) || Expiry (u64 big-endian)
//
// so any node may store and forward it without trusting the sender.
type ProviderRecord struct {
	Addr      proto.Addr
	Provider  proto.NodeID
	PublicKey [ed25519.PublicKeySize]byte
	Expiry    env.Time
	Signature [ed25519.SignatureSize]byte
}

// Reject reasons of dht_rejects_total for records.
const (
	ReasonWrongProviderID = "wrong_provider_id"
	ReasonBadSignature    = "bad_signature"
	ReasonExpired         = "expired"
	ReasonExpiryTooFar    = "expiry_too_far"
	// ReasonWeakKey: a small-order or non-canonical public key
	// (proto.CheckPublicKey), under which anyone can forge the signature.
	ReasonWeakKey = "weak_key"
)

// ErrBadRecord is wrapped by every provider record verification failure.
var ErrBadRecord = errors.New("dht: bad provider record")

// RecordError is a rejected record; Reason is its dht_rejects_total label.
type RecordError struct{ Reason string }

func (e *RecordError) Error() string { return ErrBadRecord.Error() + ": " + e.Reason }
func (e *RecordError) Unwrap() error { return ErrBadRecord }

// SigningBytes returns the exact bytes the provider signs.
func (r *ProviderRecord) SigningBytes() []byte {
	b := make([]byte, 0, len(RecordSigningDomain)+2*proto.IDBytes+8)
	b = append(b, RecordSigningDomain...)
	b = append(b, r.Addr[:]...)
	b = append(b, r.Provider[:]...)
	return binary.BigEndian.AppendUint64(b, uint64(r.Expiry))
}

// NewProviderRecord signs a record announcing that key's node provides addr
// until expiry.
func NewProviderRecord(key ed25519.PrivateKey, addr proto.Addr, expiry env.Time) ProviderRecord {
	pub := key.Public().(ed25519.PublicKey)
	r := ProviderRecord{Addr: addr, Provider: proto.NodeIDFromPublicKey(pub), Expiry: expiry}
	copy(r.PublicKey[:], pub)
	copy(r.Signature[:], ed25519.Sign(key, r.SigningBytes()))
	return r
}

// Verify checks r at time now: unexpired, expiry no further than
// ttl+ExpirySkewMax ahead, public key matching the provider id and not of
// small order, and a valid signature. Cheap checks run first so forged floods cost little.
func (r *ProviderRecord) Verify(now env.Time, ttl time.Duration) error {
	if !now.Before(r.Expiry) {
		return &RecordError{Reason: ReasonExpired}
	}
	if r.Expiry.Sub(now) > ttl+ExpirySkewMax {
		return &RecordError{Reason: ReasonExpiryTooFar}
	}
	if proto.NodeIDFromPublicKey(r.PublicKey[:]) != r.Provider {
		return &RecordError{Reason: ReasonWrongProviderID}
	}
	if proto.CheckPublicKey(r.PublicKey[:]) != nil {
		return &RecordError{Reason: ReasonWeakKey}
	}
	if !ed25519.Verify(r.PublicKey[:], r.SigningBytes(), r.Signature[:]) {
		return &RecordError{Reason: ReasonBadSignature}
	}
	return nil
}

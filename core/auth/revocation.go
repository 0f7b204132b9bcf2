package auth

import (
	"errors"
	"fmt"
	"math"

	"github.com/ron-network/ron/core/env"
)

// RevocationsMax bounds a MemRevocations set.
const RevocationsMax = 1 << 16

// ErrRevocationsFull is returned when a revocation set is at its limit;
// the caller should Prune (revocations of expired tokens are useless) or
// shed and count.
var ErrRevocationsFull = errors.New("auth: revocation set full")

// MemRevocations is a bounded in-memory RevocationSet. Each entry
// remembers until when it matters (the revoked token's expiry), so Prune
// can drop entries for tokens that no verifier would accept anyway.
type MemRevocations struct {
	until map[TokenID]env.Time
}

// NewMemRevocations returns an empty set.
func NewMemRevocations() *MemRevocations {
	return &MemRevocations{until: map[TokenID]env.Time{}}
}

// Revoke adds id until until, math.MaxInt64 to keep the entry forever
// (what a revoke by token or id needs: the id names every token
// attenuated from the same base, so no one copy's Effective(t).Expiry
// bounds them; io/gateway revokeTarget). Revoking twice keeps the later
// bound.
func (m *MemRevocations) Revoke(id TokenID, until env.Time) error {
	old, ok := m.until[id]
	if !ok && len(m.until) >= RevocationsMax {
		return fmt.Errorf("%w: %d entries", ErrRevocationsFull, len(m.until))
	}
	m.until[id] = max(old, until)
	return nil
}

// Revoked implements RevocationSet.
func (m *MemRevocations) Revoked(id TokenID) bool {
	_, ok := m.until[id]
	return ok
}

// Len is the number of entries.
func (m *MemRevocations) Len() int { return len(m.until) }

// Prune drops the entries whose token has expired at now (beyond
// ClockSkewMax) and returns how many it dropped.
func (m *MemRevocations) Prune(now env.Time) int {
	dropped := 0
	// map order ok: deletes are order-independent and only their count escapes.
	for id, until := range m.until {
		if until != math.MaxInt64 && now >= satAdd(until, env.Time(ClockSkewMax)) {
			delete(m.until, id)
			dropped++
		}
	}
	return dropped
}

var _ RevocationSet = (*MemRevocations)(nil)

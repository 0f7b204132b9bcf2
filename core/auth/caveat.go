package auth

import (
	"fmt"
	"math"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto/wire"
)

// CaveatKind names what a caveat restricts. The numeric values are part of
// the token encoding and never change; an unknown kind makes a token
// malformed (a verifier must never skip a restriction it does not
// understand).
type CaveatKind uint8

const (
	CaveatExpiry    CaveatKind = 1 // request time must be before Time (+ skew)
	CaveatNotBefore CaveatKind = 2 // request time must be at or after Time (- skew)
	CaveatOps       CaveatKind = 3 // request op must be in Ops
	CaveatPrefix    CaveatKind = 4 // request resource must start with Text
	CaveatTenant    CaveatKind = 5 // request tenant must equal Text
	CaveatMaxBytes  CaveatKind = 6 // request body must be at most Bytes
	CaveatAudience  CaveatKind = 7 // the verifier must answer to Text
	caveatKindLast             = CaveatAudience
)

var caveatKindNames = [...]string{"", "expiry", "not_before", "ops", "prefix", "tenant", "max_bytes", "audience"}

func (k CaveatKind) String() string {
	if k >= CaveatExpiry && k <= caveatKindLast {
		return caveatKindNames[k]
	}
	return fmt.Sprintf("CaveatKind(%d)", uint8(k))
}

// Caveat is one first-party restriction. Only the field its Kind names is
// meaningful; the others are zero. Build caveats with the constructors.
type Caveat struct {
	Kind  CaveatKind
	Time  env.Time // expiry, not_before (nanoseconds since the epoch, >= 0)
	Ops   OpSet    // ops
	Text  string   // prefix, tenant, audience
	Bytes uint64   // max_bytes
}

// Expiry limits the token to requests before t (plus ClockSkewMax).
func Expiry(t env.Time) Caveat { return Caveat{Kind: CaveatExpiry, Time: t} }

// NotBefore limits the token to requests at or after t (minus ClockSkewMax).
func NotBefore(t env.Time) Caveat { return Caveat{Kind: CaveatNotBefore, Time: t} }

// AllowOps limits the token to the given ops.
func AllowOps(ops ...Op) Caveat { return Caveat{Kind: CaveatOps, Ops: Ops(ops...)} }

// Prefix limits the token to resources (a "b3:..." address or a name) that
// start with p, byte for byte.
func Prefix(p string) Caveat { return Caveat{Kind: CaveatPrefix, Text: p} }

// Tenant limits the token to requests on behalf of tenant.
func Tenant(tenant string) Caveat { return Caveat{Kind: CaveatTenant, Text: tenant} }

// MaxBytes limits request bodies to n bytes.
func MaxBytes(n uint64) Caveat { return Caveat{Kind: CaveatMaxBytes, Bytes: n} }

// Audience limits the token to verifiers that answer to aud (a node id in
// hex, or a cluster id).
func Audience(aud string) Caveat { return Caveat{Kind: CaveatAudience, Text: aud} }

// validate checks a caveat against the encoding's rules; both encoding and
// decoding call it so that no invalid caveat ever carries a MAC.
func (c Caveat) validate() error {
	switch c.Kind {
	case CaveatExpiry, CaveatNotBefore:
		if c.Time < 0 {
			return fmt.Errorf("%s time %d is negative", c.Kind, c.Time)
		}
	case CaveatOps:
		if !c.Ops.Valid() {
			return fmt.Errorf("ops mask %#x has undefined bits", uint8(c.Ops))
		}
	case CaveatPrefix:
		return checkText(c.Kind, c.Text, PrefixBytesMax, false)
	case CaveatTenant:
		return checkText(c.Kind, c.Text, TenantBytesMax, true)
	case CaveatAudience:
		return checkText(c.Kind, c.Text, AudienceBytesMax, true)
	case CaveatMaxBytes:
	default:
		return fmt.Errorf("unknown caveat kind %d", uint8(c.Kind))
	}
	return nil
}

func checkText(kind CaveatKind, s string, max int, nonEmpty bool) error {
	if len(s) > max {
		return fmt.Errorf("%s of %d bytes exceeds %d", kind, len(s), max)
	}
	if nonEmpty && s == "" {
		return fmt.Errorf("%s is empty", kind)
	}
	return nil
}

// appendCaveat appends the caveat's body: the bytes its MAC link covers
// (specs/capability-token.md, "Caveat body").
func appendCaveat(b []byte, c Caveat) []byte {
	b = wire.AppendUvarint(b, uint64(c.Kind))
	switch c.Kind {
	case CaveatExpiry, CaveatNotBefore:
		b = wire.AppendUvarint(b, uint64(c.Time))
	case CaveatOps:
		b = wire.AppendUvarint(b, uint64(c.Ops))
	case CaveatPrefix, CaveatTenant, CaveatAudience:
		b = wire.AppendString(b, c.Text)
	case CaveatMaxBytes:
		b = wire.AppendUvarint(b, c.Bytes)
	default:
		panic("auth: appendCaveat of an unvalidated caveat")
	}
	return b
}

// decodeCaveat parses one caveat body, which must be consumed exactly.
func decodeCaveat(body []byte) (Caveat, error) {
	r := wire.NewReader(body)
	c := Caveat{Kind: CaveatKind(r.Uint(math.MaxUint8))}
	switch c.Kind {
	case CaveatExpiry, CaveatNotBefore:
		c.Time = env.Time(r.Uint(math.MaxInt64))
	case CaveatOps:
		c.Ops = OpSet(r.Uint(uint64(OpsAll)))
	case CaveatPrefix:
		c.Text = r.String(PrefixBytesMax)
	case CaveatTenant:
		c.Text = r.String(TenantBytesMax)
	case CaveatAudience:
		c.Text = r.String(AudienceBytesMax)
	case CaveatMaxBytes:
		c.Bytes = r.Uvarint()
	}
	if err := r.Done(); err != nil {
		return Caveat{}, err
	}
	if err := c.validate(); err != nil {
		return Caveat{}, err
	}
	return c, nil
}

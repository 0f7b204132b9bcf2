package overlay

import "github.com/ron-network/ron/core/auth"

// HelloSignaturesMax bounds a HelloSignatures cache. A HELLO is verified
// once by the peer it is addressed to, a few simulated milliseconds after
// it is signed (later only when the network duplicates its frame), so the
// window between signing and verifying spans a handful of HELLOs per node;
// 1024 entries keep every one at the simulator's largest overlay runs.
const HelloSignaturesMax = 1024

// HelloSignaturesSignersMax bounds the private keys a HelloSignatures
// cache checks and vouches for: one per node of a simulated world. A
// further key still signs, its HELLOs are just verified in full.
const HelloSignaturesSignersMax = 256

// HelloSignatures lets nodes that share one process and one goroutine (the
// simulator's world) skip the Ed25519 verification of a HELLO signature
// another of them made: the signing node records the signature as it makes
// it (signHello), and the receiving node finds it there (verifyHello). It
// is an auth.SignatureCache, whose doc argues why that changes how long a
// step takes, never what it outputs: an entry answers only for exactly
// the key, signature and whole message it was recorded for, so a forged,
// altered or misdirected HELLO is judged by ed25519.Verify as without a
// cache, and the other identity checks of verifyHello run either way. A
// production node runs without one (Config.Signatures nil): its HELLOs
// come from other processes.
type HelloSignatures = auth.SignatureCache

// NewHelloSignatures returns an empty cache.
func NewHelloSignatures() *HelloSignatures {
	return auth.NewSignatureCache(HelloSignaturesMax, HelloSignaturesSignersMax)
}

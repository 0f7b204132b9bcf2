package quicnet

import (
	"crypto/ed25519"
	"crypto/tls"

	"github.com/ron-network/ron/core/proto"
)

// The node's other QUIC endpoints (io/oapgate's client API) present the
// same identity as the transport; these wrappers share its helpers rather
// than copying them.

// SelfSignedCertificate is the certificate a node presents: self-signed,
// its subject key the node's Ed25519 key, so that a client that knows the
// NodeID can check the server with NodeIDOfCertificates.
func SelfSignedCertificate(key ed25519.PrivateKey) (tls.Certificate, error) {
	return selfSignedCert(key, proto.NodeIDFromPublicKey(key.Public().(ed25519.PublicKey)))
}

// NodeIDOfCertificates is the NodeID named by the leaf of a raw
// certificate chain, as a tls.Config's VerifyPeerCertificate receives it.
// The error wraps ErrIdentity when the leaf is missing, not X.509, not
// an Ed25519 key, or its key is of small order or non-canonical.
func NodeIDOfCertificates(rawCerts [][]byte) (proto.NodeID, error) {
	return nodeIDFromRaw(rawCerts)
}

// SilenceQuicGoBufferWarning keeps quic-go from printing its UDP buffer
// warning through the standard log package (unless the operator set
// QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING). A command-line client calls it
// before dialing: the warning concerns servers under load, not a client's
// one connection.
func SilenceQuicGoBufferWarning() { silenceQuicGoBufferWarning() }

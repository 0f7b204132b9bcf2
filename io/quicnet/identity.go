package quicnet

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"lukechampine.com/blake3"

	"github.com/ron-network/ron/core/proto"
)

// certValidity is the self-signed certificate's validity window. Peers do
// not check it (identity is the key, not a CA's word), but some TLS tooling
// refuses certificates that are already expired.
const certValidity = 10 * 365 * 24 * time.Hour

// Identity errors. Each wraps ErrIdentity so callers can tell a peer that
// failed authentication from a network failure.
var (
	ErrIdentity   = errors.New("quicnet: peer identity rejected")
	errIDMismatch = fmt.Errorf("%w: %s", ErrIdentity, FailIDMismatch)
	errBadCert    = fmt.Errorf("%w: %s", ErrIdentity, FailBadCert)
	errWeakKey    = fmt.Errorf("%w: %s", ErrIdentity, FailWeakKey)
)

// certFailReason is the transport_handshake_fail_total reason of an error
// from nodeIDFromRaw: weak_key or bad_cert.
func certFailReason(err error) string {
	if errors.Is(err, errWeakKey) {
		return FailWeakKey
	}
	return FailBadCert
}

// selfSignedCert makes a certificate whose subject key is the node's own
// Ed25519 key, so the TLS CertificateVerify message proves possession of the
// key that names the node.
func selfSignedCert(key ed25519.PrivateKey, id proto.NodeID) (tls.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("quicnet: certificate serial: %w", err)
	}
	now := time.Now()
	template := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: id.String()},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, key.Public(), key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("quicnet: self-signed certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// nodeIDFromRaw derives the NodeID from the leaf of a raw certificate chain.
// Only the key matters: the chain is not verified against any CA, and the
// certificate's own signature proves nothing TLS has not already proven
// (the handshake signature is checked against this same key). A key of
// small order or not canonically encoded is refused (errWeakKey): TLS
// checks CertificateVerify with ed25519.Verify, which is cofactorless, so
// under such a key a signature anyone can make verifies and anyone could
// be BLAKE3 of it. crypto/tls calls VerifyPeerCertificate before it reads
// CertificateVerify, so the key is refused before any signature is.
func nodeIDFromRaw(rawCerts [][]byte) (proto.NodeID, error) {
	if len(rawCerts) == 0 {
		return proto.NodeID{}, fmt.Errorf("%w: no certificate", errBadCert)
	}
	cert, err := x509.ParseCertificate(rawCerts[0])
	if err != nil {
		return proto.NodeID{}, fmt.Errorf("%w: %v", errBadCert, err)
	}
	pub, ok := cert.PublicKey.(ed25519.PublicKey)
	if !ok {
		return proto.NodeID{}, fmt.Errorf("%w: key is %T, want Ed25519", errBadCert, cert.PublicKey)
	}
	if err := proto.CheckPublicKey(pub); err != nil {
		return proto.NodeID{}, fmt.Errorf("%w: certificate of %s: %w", errWeakKey, proto.NodeIDFromPublicKey(pub).Short(), err)
	}
	return proto.NodeIDFromPublicKey(pub), nil
}

// peerNodeID is the authenticated NodeID of an established connection.
func peerNodeID(conn *quic.Conn) (proto.NodeID, error) {
	certs := conn.ConnectionState().TLS.PeerCertificates
	if len(certs) == 0 {
		return proto.NodeID{}, fmt.Errorf("%w: no peer certificate after the handshake", errBadCert)
	}
	return nodeIDFromRaw([][]byte{certs[0].Raw})
}

// serverTLS accepts any client whose certificate carries an Ed25519 key;
// the client's NodeID is read from it after the handshake. onReject counts
// the failure, since a server-side handshake failure never surfaces from
// Accept.
func serverTLS(cert tls.Certificate, onReject func(reason string)) *tls.Config {
	conf := &tls.Config{
		Certificates: []tls.Certificate{cert},
		// RequestClientCert rather than RequireAnyClientCert, so that a
		// client without one reaches the callback and is counted (no_cert);
		// the callback refuses it all the same.
		ClientAuth: tls.RequestClientCert,
		NextProtos: []string{ALPN},
		MinVersion: tls.VersionTLS13,
		VerifyPeerCertificate: func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
			if len(rawCerts) == 0 {
				onReject(FailNoCert)
				return errNoCert
			}
			_, err := nodeIDFromRaw(rawCerts)
			if err != nil {
				onReject(certFailReason(err))
			}
			return err
		},
	}
	CountWrongALPN(conf, onReject)
	return conf
}

var errNoCert = errors.New("quicnet: the peer presented no certificate")

// clientTLS accepts only a server whose key hashes to want. InsecureSkipVerify
// turns off the CA check, which has no meaning for self-signed node keys;
// VerifyPeerCertificate replaces it with the NodeID check. outcome receives
// the reason of a rejection so the dialer counts it once.
func clientTLS(cert tls.Certificate, want proto.NodeID, outcome *dialOutcome) *tls.Config {
	return &tls.Config{
		Certificates:       []tls.Certificate{cert},
		NextProtos:         []string{ALPN},
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
			got, err := nodeIDFromRaw(rawCerts)
			if err != nil {
				outcome.set(certFailReason(err))
				return err
			}
			if got != want {
				outcome.set(FailIDMismatch)
				return fmt.Errorf("%w: dialed %s, certificate is %s", errIDMismatch, want.Short(), got.Short())
			}
			return nil
		},
	}
}

// dialOutcome carries a rejection reason from the TLS callback, which runs
// on a quic-go goroutine, to the dialer.
type dialOutcome struct {
	mu     sync.Mutex
	reason string
}

func (o *dialOutcome) set(reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.reason = reason
}

func (o *dialOutcome) get() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.reason
}

// statelessResetKey is derived from the node key so that a restarted node
// can reset connections its previous process held: the peer then learns at
// once that the old connection is dead instead of waiting for its idle
// timeout, which matters because the duplicate rule may keep the old one.
func statelessResetKey(key ed25519.PrivateKey) *quic.StatelessResetKey {
	return StatelessResetKey(key, "ron/quicnet stateless reset key v1")
}

// StatelessResetKey derives an endpoint's QUIC stateless reset key from the
// node key and a label naming the endpoint (each endpoint its own label).
// A restarted process derives the same key, so clients of its previous
// incarnation are reset at once rather than waiting out their idle timeout.
func StatelessResetKey(key ed25519.PrivateKey, label string) *quic.StatelessResetKey {
	h := blake3.New(32, nil)
	h.Write([]byte(label + "\x00"))
	h.Write(key.Seed())
	var k quic.StatelessResetKey
	copy(k[:], h.Sum(nil))
	return &k
}

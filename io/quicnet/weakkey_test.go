package quicnet

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math/big"
	"testing"
	"time"

	"github.com/ron-network/ron/core/proto"
)

// identitySigner poses as the holder of the identity point 01 00..00:
// its signature R = identity, S = 0 is what ed25519.Verify accepts for
// every message under that key, so no private key is needed.
type identitySigner struct{}

func identityKey() ed25519.PublicKey {
	pub := make(ed25519.PublicKey, ed25519.PublicKeySize)
	pub[0] = 1
	return pub
}

func (identitySigner) Public() crypto.PublicKey { return identityKey() }

func (identitySigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	sig := make([]byte, ed25519.SignatureSize)
	sig[0] = 1
	return sig, nil
}

// weakCert is a certificate whose subject key is the identity point
// (signed by an unrelated key: peers do not check the issuer), with the
// forging signer as its private key, so TLS's CertificateVerify made
// with it verifies.
func weakCert(t *testing.T) tls.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, identityKey(), testKey(9))
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: identitySigner{}}
}

// A certificate under the identity point names no node: refused as
// weak_key, an ErrIdentity.
func TestNodeIDFromCertificateRefusesASmallOrderKey(t *testing.T) {
	_, err := nodeIDFromRaw(weakCert(t).Certificate)
	if !errors.Is(err, ErrIdentity) || certFailReason(err) != FailWeakKey {
		t.Fatalf("nodeIDFromRaw of a certificate under the identity point: %v, want ErrIdentity with reason weak_key", err)
	}
	if _, err := NodeIDOfCertificates(weakCert(t).Certificate); !errors.Is(err, ErrIdentity) {
		t.Fatalf("NodeIDOfCertificates: %v, want ErrIdentity", err)
	}
}

// A client presenting the identity point, with a CertificateVerify that
// ed25519.Verify accepts though nobody holds the key, is refused by the
// server (weak_key) and never adopted as a peer.
func TestServerRejectsClientWithASmallOrderKey(t *testing.T) {
	b := startNode(t, 2, nil)
	var outcome dialOutcome
	conn, err := rawDial(t, b, clientTLS(weakCert(t), b.ID(), &outcome))
	if err == nil {
		// TLS 1.3 clients finish before the server checks their
		// certificate; the server's refusal then closes the connection.
		select {
		case <-conn.Context().Done():
		case <-time.After(20 * time.Second):
			_ = conn.CloseWithError(0, "")
			t.Fatalf("the server kept the connection of a client under the identity point for 20 s (%v connections, weak_key %v)",
				b.metrics.get(MetricConnections, ""), b.metrics.get(MetricHandshakeFails, FailWeakKey))
		}
	}
	waitFor(t, "weak_key to be counted", func() bool { return b.metrics.get(MetricHandshakeFails, FailWeakKey) == 1 })
	if b.metrics.get(MetricConnections, "") != 0 {
		t.Error("the server adopted a client under the identity point")
	}
}

// A server presenting the identity point is refused by a dialer that
// expects BLAKE3 of it: the id matches, the key does not pass.
func TestClientRejectsServerWithASmallOrderKey(t *testing.T) {
	var outcome dialOutcome
	conf := clientTLS(weakCert(t), proto.NodeIDFromPublicKey(identityKey()), &outcome)
	leaf, err := x509.ParseCertificate(weakCert(t).Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	err = conf.VerifyPeerCertificate([][]byte{leaf.Raw}, nil)
	if !errors.Is(err, ErrIdentity) || outcome.get() != FailWeakKey {
		t.Fatalf("dialer's check of a server under the identity point: %v, reason %q; want ErrIdentity, weak_key", err, outcome.get())
	}
}

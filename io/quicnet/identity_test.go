package quicnet

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
)

// a dials b's address expecting another node's id: every attempt fails the
// identity check, b delivers nothing, and the queue is finally dropped.
func TestDialRejectsWrongIdentity(t *testing.T) {
	a, b := startNode(t, 1, nil), startNode(t, 2, nil)
	impostor := testID(testKey(3)) // the id a expects at b's address
	a.AddPeer(impostor, b.Addr().String())
	a.Send(impostor, testFrame(1, 0, 8))
	waitFor(t, "the queue to be dropped", func() bool { return a.metrics.get(MetricDropped, DropUnreachable) == 1 })
	if got := a.metrics.get(MetricHandshakeFails, FailIDMismatch); got != DialAttemptsMax {
		t.Errorf("handshake_fail{id_mismatch} = %v, want one per attempt (%d)", got, DialAttemptsMax)
	}
	if a.peerConnected(impostor) || b.peerConnected(a.ID()) {
		t.Error("a connection survived a failed identity check")
	}
	if b.in.len() != 0 || b.metrics.get(MetricConnections, "") != 0 {
		t.Errorf("b accepted the connection: %d frames, %v connections", b.in.len(), b.metrics.get(MetricConnections, ""))
	}
	// The same address with the right id works.
	a.AddPeer(b.ID(), b.Addr().String())
	a.Send(b.ID(), testFrame(1, 1, 8))
	waitFor(t, "delivery to the right id", func() bool { return b.in.len() == 1 })
}

// ecdsaCert is a valid self-signed certificate with a key that is not
// Ed25519, so it names no node.
func ecdsaCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// rawDial connects to n with a hand-made client TLS config.
func rawDial(t *testing.T, n *tnode, conf *tls.Config) (*quic.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return quic.DialAddr(ctx, n.Addr().String(), conf, &quic.Config{})
}

func TestServerRejectsClientWithoutNodeKey(t *testing.T) {
	b := startNode(t, 2, nil)
	var outcome dialOutcome
	conf := clientTLS(ecdsaCert(t), b.ID(), &outcome)
	conn, err := rawDial(t, b, conf)
	if err == nil {
		// TLS 1.3 clients finish before the server checks their
		// certificate; the server's refusal then closes the connection.
		<-conn.Context().Done()
	}
	waitFor(t, "bad_cert to be counted", func() bool { return b.metrics.get(MetricHandshakeFails, FailBadCert) == 1 })
	if b.metrics.get(MetricConnections, "") != 0 {
		t.Error("the server adopted a client without an Ed25519 certificate")
	}
	noCert := clientTLS(tls.Certificate{}, b.ID(), &outcome)
	noCert.Certificates = nil
	if conn, err := rawDial(t, b, noCert); err == nil {
		<-conn.Context().Done()
	}
	if b.metrics.get(MetricConnections, "") != 0 {
		t.Error("the server adopted a client with no certificate")
	}
}

func TestNodeIDFromCertificate(t *testing.T) {
	key := testKey(7)
	cert, err := selfSignedCert(key, testID(key))
	if err != nil {
		t.Fatal(err)
	}
	got, err := nodeIDFromRaw(cert.Certificate)
	if err != nil || got != testID(key) {
		t.Fatalf("nodeIDFromRaw = %s, %v; want %s", got.Short(), err, testID(key).Short())
	}
	for name, raw := range map[string][][]byte{
		"no certificate": nil,
		"garbage":        {[]byte("not DER")},
		"ecdsa key":      ecdsaCert(t).Certificate,
	} {
		if _, err := nodeIDFromRaw(raw); !errors.Is(err, ErrIdentity) {
			t.Errorf("%s: %v, want ErrIdentity", name, err)
		}
	}
}

func FuzzNodeIDFromRaw(f *testing.F) {
	key := testKey(7)
	cert, err := selfSignedCert(key, testID(key))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(cert.Certificate[0])
	f.Add([]byte{0x30, 0x82, 0x01})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, der []byte) {
		id, err := nodeIDFromRaw([][]byte{der})
		if err != nil && !errors.Is(err, ErrIdentity) {
			t.Fatalf("error does not wrap ErrIdentity: %v", err)
		}
		if err == nil && id == (proto.NodeID{}) {
			t.Fatal("accepted a certificate and returned the zero id")
		}
	})
}

// Garbage datagrams on the port, then authenticated peers writing bad
// frames: each bad stream closes its connection with a counted reason, and
// the transport keeps serving well-behaved peers.
func TestGarbageDoesNotBreakTheTransport(t *testing.T) {
	a, b := startNode(t, 1, nil), startNode(t, 2, nil)
	udp, err := net.Dial("udp", b.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	for i := range 200 {
		junk := make([]byte, 1+i*7%1400)
		_, _ = rand.Read(junk)
		junk[0] |= byte(i%2) << 7 // half of them look like QUIC long headers
		_, _ = udp.Write(junk)
	}
	bad := map[oap.Reason][]byte{
		oap.ReasonFrameOversize:   append([]byte{0xff, 0xff, 0xff, 0xff}, make([]byte, 60)...),
		oap.ReasonHeaderMalformed: func() []byte { f := testFrame(9, 0, 8); f[5] = 9; return f }(), // version 9
		oap.ReasonBadFlags:        func() []byte { f := testFrame(9, 0, 8); f[6] = 0x80; return f }(),
		oap.ReasonTruncated:       testFrame(9, 0, 100)[:90],
	}
	for reason, payload := range bad {
		key := testKey(40)
		cert, err := selfSignedCert(key, testID(key))
		if err != nil {
			t.Fatal(err)
		}
		var outcome dialOutcome
		conn, err := rawDial(t, b, clientTLS(cert, b.ID(), &outcome))
		if err != nil {
			t.Fatalf("%s: dial: %v", reason, err)
		}
		stream, err := conn.OpenUniStreamSync(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = stream.Write(payload)
		_ = stream.Close() // the FIN makes a short frame truncated
		<-conn.Context().Done()
		var appErr *quic.ApplicationError
		if err := context.Cause(conn.Context()); !errors.As(err, &appErr) || appErr.ErrorCode != codeProtocol || appErr.ErrorMessage != string(reason) {
			t.Errorf("%s: connection closed with %v, want code %d %q", reason, err, codeProtocol, reason)
		}
		if got := b.metrics.get(MetricOAPRejects, string(reason)); got != 1 {
			t.Errorf("oap_rejects_total{%s} = %v, want 1", reason, got)
		}
	}
	if b.in.len() != 0 {
		t.Errorf("b delivered %d frames from garbage", b.in.len())
	}
	a.AddPeer(b.ID(), b.Addr().String())
	a.Send(b.ID(), testFrame(1, 0, 8))
	waitFor(t, "a frame after the garbage", func() bool { return b.in.len() == 1 })
}

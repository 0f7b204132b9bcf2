package fuzz

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	coreproto "github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
	"github.com/ron-network/ron/io/oapgate"
)

// oapStreamWait bounds one fuzzed exchange: the server answers, resets or
// times the stream out well within it.
const oapStreamWait = 3 * time.Second

// FuzzOAPStream writes arbitrary bytes on a fresh stream of an OAP/1
// connection (after a valid HELLO) to oapgate serving the gateway of a
// running node, then ends the stream. The server may answer or reset the
// stream; it must not panic, and it must still answer a well-formed
// request on another connection afterwards.
func FuzzOAPStream(f *testing.F) {
	key := nodeKey(31)
	rt := startNode(f, key, nil)
	g, root := newGateway(f, rt)
	log := slog.New(slog.DiscardHandler)
	srv, err := oapgate.Listen(oapgate.Config{Key: key, ListenAddr: "127.0.0.1:0", Handler: g, UA: "rond/fuzz", Logger: log})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = srv.Close() })
	client, err := oapgate.NewClient(srv.Addr().String(), oapgate.ClientConfig{NodeID: coreproto.NodeIDFromPublicKey(key.Public().(ed25519.PublicKey)), UA: "fuzz"})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = client.Close() })
	httpc := &http.Client{Transport: client}

	head, err := oapgate.AppendRequestHead(nil, oapgate.RequestHead{Method: "GET", Target: "/healthz"})
	if err != nil {
		f.Fatal(err)
	}
	get := oap.MustEncode(&oap.Frame{Header: oap.Header{Flags: oap.FlagREQ | oap.FlagSTART | oap.FlagEND, AppProto: oap.ProtoClient, CorrID: 1},
		Cap: []byte(root), Payload: head})
	f.Add(get)
	f.Add(get[:len(get)/2])
	f.Add(append(append([]byte(nil), get...), get...))
	f.Add([]byte{})

	var conn *quic.Conn
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), oapStreamWait)
		defer cancel()
		if conn == nil || conn.Context().Err() != nil {
			conn = dialOAP(t, ctx, srv.Addr().String())
		}
		st, err := conn.OpenStreamSync(ctx)
		if err != nil {
			conn = nil // the server closed the connection: allowed, redial next time
			return
		}
		_ = st.SetDeadline(time.Now().Add(oapStreamWait))
		_, _ = st.Write(data)
		_ = st.Close()
		started := time.Now()
		readAnswer(st)
		if waited := time.Since(started); waited > oapStreamWait/2 {
			t.Logf("stream ended after %v", waited)
		}
		hctx, hcancel := context.WithTimeout(context.Background(), readyWait)
		defer hcancel()
		req, _ := http.NewRequestWithContext(hctx, "GET", "oap://node/healthz", nil)
		resp, err := httpc.Do(req)
		if err != nil {
			t.Fatalf("server stopped answering after %x: %v", data, err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("healthz after %x: %d", data, resp.StatusCode)
		}
	})
}

// readAnswer reads response frames until one ends the exchange, the
// stream fails (a reset) or the deadline passes.
func readAnswer(st io.Reader) {
	var buf []byte
	for range 1 << 16 {
		frame, next, err := oap.ReadFrame(st, buf)
		if err != nil || frame.Flags&oap.FlagEND != 0 {
			return
		}
		buf = next
	}
}

// dialOAP opens a raw OAP/1 connection and says HELLO.
func dialOAP(t *testing.T, ctx context.Context, addr string) *quic.Conn {
	t.Helper()
	// #nosec G402 -- the test dials its own self-signed server; the NodeID pin is oapgate.Client's job, tested there
	conn, err := quic.DialAddr(ctx, addr, &tls.Config{NextProtos: []string{oapgate.ALPN}, InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := conn.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req, err := oap.HelloRequestFrame(0, 0, 1, oap.HelloRequest{UA: "fuzz"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write(oap.MustEncode(&req)); err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	frame, _, err := oap.ReadFrame(st, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oap.ParseHelloReplyFrame(&frame); err != nil {
		t.Fatal(err)
	}
	return conn
}

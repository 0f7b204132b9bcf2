package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
	"github.com/ron-network/ron/core/proto/wire"
	"github.com/ron-network/ron/core/storage"
	"github.com/ron-network/ron/io/quicnet"
)

// The storage peer protocol's wire values (core/storage msg.go), spelled
// out here as a stranger's client would.
const (
	peerKindStoreChunk = 1
	peerKindCommit     = 2
	peerKindFetch      = 4 // FetchManifest
	peerKindReply      = 6
	peerStatusOK       = 1
	peerStatusBad      = 7
)

// peerFrame encodes a storage request: kind, address, the offset (a
// StoreChunk), data.
func peerFrame(corr uint64, kind uint64, addr proto.Addr, offset uint64, data []byte) []byte {
	b := wire.AppendUvarint(nil, kind)
	b = wire.AppendFixed(b, addr[:])
	if kind == peerKindStoreChunk {
		b = wire.AppendUvarint(b, offset)
	}
	b = wire.AppendBytes(b, data)
	return oap.MustEncode(&oap.Frame{Header: oap.Header{Flags: oap.FlagREQ, AppProto: oap.ProtoStorage, CorrID: corr}, Payload: b})
}

// stranger is a node outside the cluster: a fresh Ed25519 identity on its
// own QUIC endpoint, holding no token. It records every frame its decode
// reads as a reply: replies[key] = value.
type stranger struct {
	id      proto.NodeID
	tr      *quicnet.Transport
	mu      sync.Mutex
	replies map[uint64]uint64
}

// replyDecoder reads a frame a stranger received: the key its reply is
// recorded under and its value (ok false: not a reply it waits for).
type replyDecoder func(f *oap.Frame) (key, value uint64, ok bool)

func newStranger(t *testing.T, decode replyDecoder) *stranger {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s := &stranger{id: proto.NodeIDFromPublicKey(key.Public().(ed25519.PublicKey)), replies: map[uint64]uint64{}}
	s.tr, err = quicnet.Listen(quicnet.Config{Key: key, ListenAddr: "127.0.0.1:0"}, func(_ proto.NodeID, frame []byte) {
		f, err := oap.Decode(frame)
		if err != nil {
			return
		}
		if k, v, ok := decode(&f); ok {
			s.mu.Lock()
			s.replies[k] = v
			s.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.tr.Close() })
	return s
}

// storageReply reads a storage peer protocol reply: its corr and status.
func storageReply(f *oap.Frame) (corr, status uint64, ok bool) {
	if f.AppProto != oap.ProtoStorage {
		return 0, 0, false
	}
	r := wire.NewReader(f.Payload)
	var addr proto.Addr
	kind := r.Uint(255)
	r.Fixed(addr[:])
	st := r.Uint(255)
	return f.CorrID, st, r.Err() == nil && kind == peerKindReply
}

// ask sends frame (corr) to id until it is answered (QUIC may drop the
// first frames while the connection is set up), and returns the status.
func (s *stranger) ask(t *testing.T, id proto.NodeID, corr uint64, frame []byte) uint64 {
	t.Helper()
	var st uint64
	eventually(t, convergeTimeout, "an answer to the stranger's request", func() (bool, string) {
		s.mu.Lock()
		got, ok := s.replies[corr]
		s.mu.Unlock()
		if ok {
			st = got
			return true, ""
		}
		s.tr.Send(id, frame)
		time.Sleep(pollInterval)
		return false, "no reply"
	})
	return st
}

// refusedByTransport sends frames from s to n (through send) until n's
// transport has refused the stranger's connection as not a member
// (transport_handshake_fail_total{reason="not_member"}) and n's log names
// its id, and checks that no frame of it was answered: the connection is
// closed right after its handshake, before a frame of it is read.
func refusedByTransport(t *testing.T, n *procNode, s *quicnet.Transport, send func(), answered func() int) {
	t.Helper()
	eventually(t, convergeTimeout, "the stranger refused by the transport", func() (bool, string) {
		send()
		time.Sleep(pollInterval)
		_, body := n.do(t, "GET", "/metrics", nil, false)
		refused := strings.Contains(string(body), `transport_handshake_fail_total{reason="not_member"}`)
		logged := strings.Contains(n.logs.String(), "refused peer "+s.ID().String()+": not a member (transport)")
		return refused && logged, fmt.Sprintf("not_member counted %v, logged %v", refused, logged)
	})
	if got := answered(); got != 0 {
		t.Fatalf("the stranger got %d answers, want none: its connection is closed before a frame is read", got)
	}
}

// TestProcessNonMemberCannotStore: a node outside a 2-node cluster (a
// fresh key, no token) that reaches node A's QUIC port to push an object
// with the storage peer protocol's StoreChunk and Commit (the red team's
// reproA), or to read the members' own object (reproE), is refused by
// A's transport right after its handshake (not_member), before storage
// sees a frame; A holds nothing of it (GET /o on A answers 404) and still
// serves its own object over HTTP. Before the closed membership A
// answered OK and served the stranger's object; before the transport's
// gate, storage refused it (statusBad) after reading each whole frame.
func TestProcessNonMemberCannotStore(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	nodes := newCluster(t, 2)
	a := nodes[0]
	aID, err := proto.ParseNodeID(a.id)
	if err != nil {
		t.Fatal(err)
	}
	held := randomBytes(t, 5000)
	heldAddr := putObject(t, a, held)
	ha, err := proto.ParseAddr(heldAddr)
	if err != nil {
		t.Fatal(err)
	}

	s := newStranger(t, storageReply)
	s.tr.AddPeer(aID, a.quic)
	data := randomBytes(t, 3000)
	addr, man := storage.Split(data, storage.ChunkBytesDefault)
	if len(man.Chunks) != 1 {
		t.Fatalf("%d chunks, want 1", len(man.Chunks))
	}
	refusedByTransport(t, a, s.tr, func() {
		s.tr.Send(aID, peerFrame(1, peerKindStoreChunk, man.Chunks[0].Addr, 0, data))
		s.tr.Send(aID, peerFrame(2, peerKindCommit, addr, 0, storage.AppendManifest(nil, &man)))
		s.tr.Send(aID, peerFrame(3, peerKindFetch, ha, 0, nil))
	}, func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.replies)
	})
	if code, body := a.do(t, "GET", "/o/"+addr.String(), nil, true); code != http.StatusNotFound {
		t.Fatalf("GET of the stranger's object: %d %s, want 404", code, body)
	}
	if code, _ := a.do(t, "GET", "/o/"+heldAddr, nil, true); code != http.StatusOK {
		t.Fatalf("GET of the members' object: %d, want 200", code)
	}
}

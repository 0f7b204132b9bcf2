package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"testing"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
	"github.com/ron-network/ron/core/proto/wire"
	"github.com/ron-network/ron/core/registry"
)

// The registry protocol's wire values (core/registry codec.go), spelled
// out here as a stranger's client would.
const (
	regEnvForward    = 2
	regEnvReply      = 3
	regOpClaim       = 1
	regCodeRetry     = 11 // "try another replica"
	regCodeNotMember = 14
)

// registryReply reads a registry protocol reply: its seq and code.
func registryReply(f *oap.Frame) (seq, code uint64, ok bool) {
	if f.AppProto != oap.ProtoRegistry || len(f.Payload) < 2 || f.Payload[0] != byte(registry.VersionBase) ||
		f.Payload[1] != regEnvReply {
		return 0, 0, false
	}
	r := wire.NewReader(f.Payload[2:])
	_, seq = r.Uvarint(), r.Uvarint()
	code = r.Uint(255)
	return seq, code, r.Err() == nil
}

// claimFrame is a forwarded Claim of name for owner (session 1, seq).
func claimFrame(seq uint64, name string, owner ed25519.PublicKey) []byte {
	b := []byte{byte(registry.VersionBase), regEnvForward}
	b = wire.AppendUvarint(b, 1)   // session
	b = wire.AppendUvarint(b, seq) // seq
	b = wire.AppendUvarint(b, 0)   // floor
	b = append(b, regOpClaim)
	b = wire.AppendString(b, name)
	b = append(b, owner...)
	return oap.MustEncode(&oap.Frame{Header: oap.Header{Flags: oap.FlagREQ, AppProto: oap.ProtoRegistry, CorrID: seq}, Payload: b})
}

// TestProcessNonMemberCannotClaim: a node outside a 2-node cluster (a
// fresh key, no token) that forwards a Claim over the registry protocol
// to a replica (the reviewer's rv7claim) is refused by each replica's
// transport right after its handshake (not_member), and the name stays
// unclaimed: GET /names on A answers 404. Before the registry's
// membership gate the replicas applied it, bypassing the gateway's token
// and names quota; before the transport's gate the registry answered it
// "not a member" (the registry's gate still stands behind the transport).
func TestProcessNonMemberCannotClaim(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	nodes := newCluster(t, 2)
	s := newStranger(t, registryReply)
	owner, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const name = "stranger.example"
	seq := uint64(0)
	for _, n := range nodes {
		id, err := proto.ParseNodeID(n.id)
		if err != nil {
			t.Fatal(err)
		}
		s.tr.AddPeer(id, n.quic)
		refusedByTransport(t, n, s.tr, func() {
			seq++
			s.tr.Send(id, claimFrame(seq, name, owner))
		}, func() int {
			s.mu.Lock()
			defer s.mu.Unlock()
			return len(s.replies)
		})
	}
	if code, body := nodes[0].do(t, "GET", "/names/"+name, nil, false); code != http.StatusNotFound {
		t.Fatalf("GET /names/%s after the stranger's claim: %d %s, want 404", name, code, body)
	}
}

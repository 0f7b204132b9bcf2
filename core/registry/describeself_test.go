package registry

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto/oap"
)

// forwardDescribe steps a forward of d from node from straight into replica
// to, as a member running a changed program would send it (its own
// ingress never looks).
func (c *cluster) forwardDescribe(from, to int, seq uint64, d NodeDescriptor) {
	c.t.Helper()
	o, code, reason := opFromRequest(Describe{Descriptor: d})
	if code != codeOK {
		c.t.Fatalf("premise: descriptor refused at ingress: %s", reason)
	}
	f := forward{from: origin{node: c.nodes[from].id, session: 1, seq: seq}, op: o}
	frame := oap.MustEncode(&oap.Frame{Header: oap.Header{Flags: oap.FlagREQ, AppProto: oap.ProtoRegistry, CorrID: seq},
		Payload: encodeForward(&f, c.nodes[to].reg.m.clusterVersion)})
	c.nodes[to].node.Step(env.Message{From: c.nodes[from].id, Frame: frame})
}

// A member that is not a replica describes only itself: a forwarded
// Describe of another node (a key it made up, as the red team's member
// sent 128 of to fill the table for good) is refused by the replica that
// serves it, before it is proposed, as describe_not_self; its own is
// accepted, and a replica's client may still describe any node.
func TestNonReplicaDescribesOnlyItself(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	l := c.leader(2 * time.Second)
	f := (l + 1) % replicas3
	c.run(300 * time.Millisecond) // the leader's empty entry applies
	c.awaitConverged(time.Second)
	applied := c.nodes[l].reg.m.applied
	for k, to := range []int{l, f} {
		c.forwardDescribe(3, to, uint64(100+k), signedDescriptor(testKey(1000+k), []string{"203.0.113.9:4100"}, 1))
	}
	c.run(500 * time.Millisecond)
	c.awaitConverged(time.Second)
	for i := range replicas3 {
		if n := len(c.nodes[i].reg.m.descs); n != 0 {
			t.Fatalf("replica %d holds %d descriptors of nodes that did not send them", i, n)
		}
	}
	if got := c.nodes[l].reg.m.applied; got != applied {
		t.Fatalf("refused describes reached the log: applied index %d, was %d", got, applied)
	}
	for _, to := range []int{l, f} {
		if got := c.metric(to, MetricRejects, reasonDescribeNotSelf); got != 1 {
			t.Fatalf("replica %d: %v describe_not_self rejects, want 1", to, got)
		}
	}
	// Through the member's own registry: refused at its ingress, named.
	res := c.do(3, Describe{Descriptor: signedDescriptor(testKey(1002), []string{"203.0.113.9:4100"}, 1)})
	if !errors.Is(res.Err, ErrNotOwner) || !strings.Contains(res.Err.Error(), "describe only itself") {
		t.Fatalf("member's describe of another node: %v, want ErrNotOwner saying it describes only itself", res.Err)
	}
	// Its own descriptor, forwarded: accepted.
	own := signedDescriptor(c.nodes[3].key, []string{"quic://10.0.0.4:4433"}, 1)
	c.forwardDescribe(3, f, 200, own)
	c.run(500 * time.Millisecond)
	if r := c.do(3, Describe{Descriptor: signedDescriptor(c.nodes[3].key, []string{"quic://10.0.0.4:4433"}, 2)}); r.Err != nil {
		t.Fatalf("member's own describe: %v", r.Err)
	}
	// A replica's client is trusted: it may describe another node.
	other := signedDescriptor(testKey(1003), []string{"203.0.113.10:4100"}, 1)
	if r := c.do(f, Describe{Descriptor: other}); r.Err != nil {
		t.Fatalf("describe of another node at a replica: %v", r.Err)
	}
	c.awaitConverged(time.Second)
	got := c.nodes[0].reg.Descriptors()
	if len(got) != 2 {
		t.Fatalf("descriptors %+v, want the member's (seq 2) and the replica client's", got)
	}
	for _, d := range got {
		if d.NodeID == c.nodes[3].id && d.Seq != 2 {
			t.Fatalf("member's descriptor at seq %d, want 2", d.Seq)
		}
	}
}

// Once the table holds DescriptorsMax descriptors, a Describe of a new
// node is refused before it is proposed (descriptors_full), at a
// replica's ingress and on a forward, so a flood of them no longer grows
// every replica's log; a described node still updates its descriptor.
func TestDescriptorsFullRefusedBeforeProposing(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	l := c.leader(2 * time.Second)
	f := (l + 1) % replicas3
	for k := range DescriptorsMax {
		if r := c.do(l, Describe{Descriptor: signedDescriptor(testKey(2000+k), []string{fmt.Sprintf("203.0.113.%d:4100", k)}, 1)}); r.Err != nil {
			t.Fatalf("describe %d: %v", k, r.Err)
		}
	}
	c.awaitConverged(time.Second)
	applied := c.nodes[l].reg.m.applied
	for _, i := range []int{l, f} {
		res := c.do(i, Describe{Descriptor: signedDescriptor(testKey(3000+i), []string{"203.0.113.200:4100"}, 1)})
		if !errors.Is(res.Err, ErrTooLarge) {
			t.Fatalf("describe of a new node at replica %d with the table full: %v, want too large", i, res.Err)
		}
		c.awaitConverged(time.Second)
		if got := c.nodes[l].reg.m.applied; got != applied {
			t.Fatalf("a refused describe reached the log: applied index %d, was %d", got, applied)
		}
		if got := c.metric(i, MetricRejects, reasonDescriptorsFull); got != 1 {
			t.Fatalf("replica %d: %v descriptors_full rejects, want 1", i, got)
		}
	}
	// The member's own, forwarded: refused at the replica serving it.
	c.forwardDescribe(3, f, 300, signedDescriptor(c.nodes[3].key, []string{"quic://10.0.0.4:4433"}, 1))
	c.run(500 * time.Millisecond)
	if got := c.metric(f, MetricRejects, reasonDescriptorsFull); got != 2 {
		t.Fatalf("replica %d: %v descriptors_full rejects after the forward, want 2", f, got)
	}
	if r := c.do(3, Describe{Descriptor: signedDescriptor(c.nodes[3].key, []string{"quic://10.0.0.4:4433"}, 1)}); !errors.Is(r.Err, ErrTooLarge) {
		t.Fatalf("member's describe with the table full: %v, want too large", r.Err)
	}
	c.awaitConverged(time.Second)
	if got := c.nodes[l].reg.m.applied; got != applied {
		t.Fatalf("refused describes reached the log: applied index %d, was %d", got, applied)
	}
	// A node already described still updates (an entry, applied).
	if r := c.do(f, Describe{Descriptor: signedDescriptor(testKey(2000), []string{"203.0.113.250:4100"}, 2)}); r.Err != nil {
		t.Fatalf("update of a described node with the table full: %v", r.Err)
	}
	c.awaitConverged(time.Second)
	for i := range replicas3 {
		if n := len(c.nodes[i].reg.m.descs); n != DescriptorsMax {
			t.Fatalf("replica %d holds %d descriptors, want %d", i, n, DescriptorsMax)
		}
	}
}

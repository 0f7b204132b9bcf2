package stack

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ron-network/ron/core/dht"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/env/envtest"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/storage"
)

func key(b byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize))
}

func id(k ed25519.PrivateKey) proto.NodeID {
	return proto.NodeIDFromPublicKey(k.Public().(ed25519.PublicKey))
}

// TestComposition: the services follow the description (peers, replicas,
// Off), in Plan's order, and the built node holds exactly Plan's names.
func TestComposition(t *testing.T) {
	self, other := key(1), key(2)
	cases := []struct {
		d    Description
		want []string
	}{
		{Description{Key: self}, []string{"authz", "dht", "storage", "audit"}},
		{Description{Key: self, Peers: []proto.NodeID{id(self), id(other)}, Replicas: []proto.NodeID{id(self)}},
			[]string{"overlay", "registry", "authz", "dht", "storage", "audit"}},
		{Description{Key: self, Replicas: []proto.NodeID{id(self)}, Off: DHT | Audit,
			Storage: storageMembers(id(self))}, []string{"registry", "authz", "storage"}},
		{Description{Key: self, Peers: []proto.NodeID{id(self)}, Off: DHT | Storage | Audit}, []string{"authz"}},
	}
	for i, c := range cases {
		if err := c.d.Validate(); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		var plan []string
		for _, p := range Plan(c.d) {
			plan = append(plan, p.Name)
		}
		built := New(envtest.New(id(self), 1), c.d).ServiceNames()
		if !slices.Equal(plan, c.want) || !slices.Equal(built, c.want) {
			t.Errorf("case %d: plan %v, built %v, want %v", i, plan, built, c.want)
		}
	}
}

// TestValidate names the bad setting.
func TestValidate(t *testing.T) {
	bad := []Description{
		{Key: key(1)[:3]},
		{Key: key(1), Off: 1 << 7},
		{Key: key(1), Off: DHT}, // storage has neither members nor a DHT
	}
	for i, d := range bad {
		if d.Validate() == nil {
			t.Errorf("case %d: %+v validated", i, d.Off)
		}
	}
	for _, name := range OptionalNames() {
		o, ok := ParseOptional(name)
		if !ok || o.String() != name {
			t.Errorf("%s parses to %v", name, o)
		}
	}
}

// TestDelayedJoin: a DHT with a join time starts (looks itself up through
// its bootstrap contact) when the node's clock reaches it, not at
// env.Start; a node that starts after its join time joins at once.
func TestDelayedJoin(t *testing.T) {
	self, other := key(1), key(2)
	d := Description{Key: self, DHT: dht.Config{Bootstrap: []proto.NodeID{id(other)}},
		DHTJoinAt: env.Time(3 * time.Second), Off: Storage | Audit}
	e := envtest.New(id(self), 1)
	e.Clock = env.Time(time.Second)
	n := New(e, d)
	n.Step(env.Start{})
	if DHTOf(n) == nil {
		t.Fatal("DHTOf misses the delayed DHT")
	}
	if sent := e.TakeSent(); len(sent) != 0 {
		t.Fatalf("sent %d frames before the join time", len(sent))
	}
	if due := e.Advance(2*time.Second - 1); len(due) != 0 {
		t.Fatalf("timers due before the join time: %+v", due)
	}
	due := e.Advance(1)
	if len(due) != 1 {
		t.Fatalf("due at the join time: %+v, want the join timer", due)
	}
	n.Step(due[0])
	if len(e.TakeSent()) == 0 {
		t.Fatal("the DHT did not start at its join time")
	}
	late := envtest.New(id(self), 1)
	late.Clock = env.Time(5 * time.Second)
	m := New(late, d)
	m.Step(env.Start{})
	if len(late.TakeSent()) == 0 {
		t.Fatal("a node starting after its join time waits")
	}
}

func storageMembers(ids ...proto.NodeID) storage.Config {
	return storage.Config{Members: ids}
}

// TestUnknownRequestOneError: every composed service answers a body it
// does not know with node.ErrUnknownRequest (as an error value, or in a
// result's error for services whose replies are results).
func TestUnknownRequestOneError(t *testing.T) {
	self, other := key(1), key(2)
	d := Description{Key: self, Peers: []proto.NodeID{id(other)}, Replicas: []proto.NodeID{id(self)}}
	e := envtest.New(id(self), 1)
	n := New(e, d)
	n.Step(env.Start{})
	for _, in := range e.CompleteDisk() {
		n.Step(in)
	}
	type unknown struct{}
	for k, name := range n.ServiceNames() {
		before := len(e.Replies)
		n.Step(env.Request{ID: env.RequestID(1000 + k), Service: name, Body: unknown{}})
		if len(e.Replies) != before+1 {
			t.Errorf("%s: %d replies to an unknown body", name, len(e.Replies)-before)
			continue
		}
		resp := e.Replies[before].Resp
		err, _ := resp.(error)
		if f, ok := resp.(node.Failure); ok {
			err = f.Failure()
		}
		if !errors.Is(err, node.ErrUnknownRequest) {
			t.Errorf("%s answered an unknown body with %v", name, resp)
		}
	}
}

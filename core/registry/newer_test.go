package registry

import (
	"errors"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/ron-network/ron/core/env"
)

func TestNewerEntryNamesTheVersions(t *testing.T) {
	entry := func(typ pb.EntryType, data ...byte) *pb.Entry {
		return &pb.Entry{Index: new(uint64(7)), Type: typ.Enum(), Data: data}
	}
	if err := newerEntry(entry(pb.EntryNormal, codecVersion, envRaft), VersionBase); err != nil {
		t.Fatalf("current version: %v", err)
	}
	if err := newerEntry(entry(pb.EntryNormal), VersionBase); err != nil {
		t.Fatalf("empty entry: %v", err)
	}
	if err := newerEntry(entry(pb.EntryConfChange, codecVersion+1), VersionBase); err != nil {
		t.Fatalf("a conf change is not this package's encoding: %v", err)
	}
	err := newerEntry(entry(pb.EntryNormal, codecVersion+1, 0), VersionBase)
	if !errors.Is(err, env.ErrNewerFormat) || isCorruption(err) {
		t.Fatalf("newer entry: %v", err)
	}
}

// TestNewerEntryAtRestartFailsTheReplicaWithoutCorruption: a committed log
// entry of a newer codec version (a newer build wrote it before this
// replica was downgraded) stops the replica at recovery, by name: it is
// neither skipped as malformed (which would diverge the state) nor
// counted as corruption; the other replicas go on.
func TestNewerEntryAtRestartFailsTheReplicaWithoutCorruption(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	l := c.leader(2 * time.Second)
	alice := newOwner(1)
	if r := c.do(3, Claim{Name: "n.org", Owner: alice.pub}); r.Err != nil {
		t.Fatalf("claim: %v", r.Err)
	}
	c.awaitConverged(time.Second)
	f := (l + 1) % replicas3
	disk := c.crash(f)
	rewritten := 0
	for _, key := range disk.Keys(keyEntryPrefix) {
		durable, _ := disk.Get(key)
		plain, err := env.Unseal(durable)
		if err != nil {
			t.Fatal(err)
		}
		e := &pb.Entry{}
		if err := proto.Unmarshal(plain, e); err != nil {
			t.Fatal(err)
		}
		if len(e.GetData()) == 0 || e.GetData()[0] != codecVersion {
			continue
		}
		e.Data[0] = codecVersion + 1
		disk.Plant(key, sealEntry(e))
		rewritten++
	}
	if rewritten == 0 {
		t.Fatal("no entry with data on disk")
	}
	c.restart(f)
	c.run(50 * time.Millisecond)
	if !c.nodes[f].reg.Failed() {
		t.Fatal("a newer entry did not stop the replica")
	}
	if got := c.metric(f, MetricCorruption, ""); got != 0 {
		t.Fatalf("registry_corruption_total = %v, want 0 for a newer entry", got)
	}
	if r := c.do(3, Claim{Name: "m.org", Owner: alice.pub}); r.Err != nil {
		t.Fatalf("claim with one replica stopped: %v", r.Err)
	}
}

package registry

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
	"github.com/ron-network/ron/core/proto/wire"
)

// TestClusterVersionWaitsForEveryReplica: with one replica on a base
// build the cluster version stays at VersionBase however long the others
// advertise more, and it rises once that replica is upgraded.
func TestClusterVersionWaitsForEveryReplica(t *testing.T) {
	c := newClusterVersions(t, replicas3, 1, Config{}, map[int]uint64{0: VersionTest, 1: VersionTest, 2: VersionBase})
	c.leader(2 * time.Second)
	if r := c.do(3, Claim{Name: "a.org", Owner: newOwner(1).pub}); r.Err != nil {
		t.Fatalf("claim: %v", r.Err)
	}
	c.run(20 * VersionAdvertFreshTicks * TickIntervalDefault)
	for i := range replicas3 {
		if v := c.nodes[i].reg.ClusterVersion(); v != VersionBase {
			t.Fatalf("replica %d at cluster version %d with a base replica in the cluster", i, v)
		}
	}
	c.crash(2)
	c.versionMax[2] = VersionTest
	c.restart(2)
	if !c.c.RunUntil(10*time.Second, func() bool {
		for i := range replicas3 {
			if c.nodes[i].reg.ClusterVersion() != VersionTest {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("cluster version not raised once every replica reads %d", VersionTest)
	}
}

// TestBaseBuildsSendNoAdvertisement: a cluster of base builds sends no
// envVersion frame, so builds that predate cluster versions (and count an
// unknown envelope as malformed) never see one.
func TestBaseBuildsSendNoAdvertisement(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	seen := 0
	c.observe = func(_ proto.NodeID, frame []byte) {
		f, err := oap.Decode(frame)
		if err == nil && f.AppProto == oap.ProtoRegistry && len(f.Payload) >= 2 && f.Payload[1] == envVersion {
			seen++
		}
	}
	c.leader(2 * time.Second)
	c.run(10 * VersionAdvertiseTicks * TickIntervalDefault)
	if seen != 0 {
		t.Fatalf("%d version advertisements from base builds", seen)
	}
	c2 := newClusterVersions(t, replicas3, 0, Config{}, map[int]uint64{0: VersionTest})
	c2.observe = c.observe
	c2.leader(2 * time.Second)
	c2.run(10 * VersionAdvertiseTicks * TickIntervalDefault)
	if seen == 0 {
		t.Fatal("a VersionTest replica never advertised")
	}
}

// TestEntryAheadOfClusterVersionRejectedAtApply: an entry written under a
// version the cluster has not reached changes nothing on any replica (the
// same reject everywhere), and is applied once the version was raised.
func TestEntryAheadOfClusterVersionRejectedAtApply(t *testing.T) {
	alice := newOwner(1)
	claim := func(version, seq uint64) []byte {
		e := entry{version: version, from: origin{node: proto.NodeID{9}, session: 1, seq: seq}, floor: seq,
			op: op{kind: opClaim, name: "a.org"}}
		copy(e.op.owner[:], alice.pub)
		return encodeEntry(&e)
	}
	raise := func(version, claimed uint64) []byte {
		return encodeEntry(&entry{version: version, op: op{kind: opClusterVersion, seq: claimed}})
	}
	m := newMachine()
	if ae := m.apply(1, 1, claim(VersionTest, 1)); ae.reason != reasonApplyInvalid+"_"+reasonVersionAhead || len(m.names) != 0 {
		t.Fatalf("version %d claim at cluster version %d: reason %q, %d names", VersionTest, VersionBase, ae.reason, len(m.names))
	}
	if ae := m.apply(2, 1, raise(VersionTest, VersionBase)); ae.reason == "" || m.clusterVersion != VersionBase {
		t.Fatalf("a raise whose op and version byte disagree: reason %q, cluster version %d", ae.reason, m.clusterVersion)
	}
	if ae := m.apply(3, 1, raise(VersionTest, VersionTest)); ae.reason != "" || ae.hasOrigin || m.clusterVersion != VersionTest {
		t.Fatalf("raise: reason %q origin %t, cluster version %d", ae.reason, ae.hasOrigin, m.clusterVersion)
	}
	if ae := m.apply(4, 1, raise(VersionTest, VersionTest)); ae.reason != "" || m.clusterVersion != VersionTest {
		t.Fatalf("a repeated raise: reason %q, cluster version %d", ae.reason, m.clusterVersion)
	}
	if ae := m.apply(5, 1, claim(VersionTest, 2)); ae.reason != "" || ae.code != codeOK || len(m.names) != 1 {
		t.Fatalf("version %d claim after the raise: reason %q code %d", VersionTest, ae.reason, ae.code)
	}
	if ae := m.apply(6, 1, claim(VersionBase, 3)); ae.reason != "" {
		t.Fatalf("a version 1 entry after the raise (a lagging proposer): reason %q", ae.reason)
	}
	m.checkInvariants()
}

// TestClusterVersionOpOnlyInLog: a forwarded op cannot carry
// opClusterVersion, nor can a version 1 entry.
func TestClusterVersionOpOnlyInLog(t *testing.T) {
	body := wire.AppendUvarint([]byte{byte(opClusterVersion)}, VersionTest)
	r := wire.NewReader(body)
	readOp(r)
	if r.Done() == nil {
		t.Fatal("readOp accepted opClusterVersion")
	}
	data := encodeEntry(&entry{version: VersionTest, op: op{kind: opClusterVersion, seq: VersionTest}})
	data[0] = VersionBase
	if _, err := decodeEntry(data); err == nil {
		t.Fatal("a version 1 entry carried opClusterVersion")
	}
}

// TestSnapshotCarriesClusterVersion: the cluster version is state (in the
// snapshot and the state hash, only above the base so a base state hashes
// as before), and a snapshot above a replica's VersionMax is refused by
// name, not as corruption.
func TestSnapshotCarriesClusterVersion(t *testing.T) {
	key := testKey(0)
	isKey := func(pub ed25519.PublicKey) bool { return pub.Equal(key.Public()) }
	base, raised := newMachine(), newMachine()
	raised.clusterVersion = VersionTest
	if base.stateHash() == raised.stateHash() {
		t.Fatal("the cluster version is not in the state hash")
	}
	snap := signSnapshot(key, raised.encode(), raised.clusterVersion)
	m, err := openSnapshot(snap, isKey, VersionTest)
	if err != nil || m.clusterVersion != VersionTest || m.stateHash() != raised.stateHash() {
		t.Fatalf("open: %v (cluster version %v)", err, m)
	}
	_, err = openSnapshot(snap, isKey, VersionBase)
	if !errors.Is(err, env.ErrNewerFormat) || isCorruption(err) || !strings.Contains(err.Error(), "cluster version 2") {
		t.Fatalf("a base build opening a version %d snapshot: %v", VersionTest, err)
	}
	mixed := signSnapshot(key, raised.encode(), VersionBase)
	if _, err := openSnapshot(mixed, isKey, VersionTest); !isCorruption(err) {
		t.Fatalf("a snapshot whose wrapper and state versions disagree: %v, want corruption", err)
	}
}

// TestGoldenClusterVersionEncodings: the version advertisement envelope
// and a raise entry (the first version 2 record) are frozen, and decode.
func TestGoldenClusterVersionEncodings(t *testing.T) {
	advert := wire.AppendUvarint([]byte{codecVersion, envVersion}, VersionTest)
	if want := goldenBytes(t, "registry-version-advert", advert); !bytes.Equal(advert, want) {
		t.Fatalf("the advertisement drifted from the golden:\n got %x\nwant %x", advert, want)
	}
	raise := encodeEntry(&entry{version: VersionTest, from: origin{node: proto.NodeID{1}, session: 7},
		op: op{kind: opClusterVersion, seq: VersionTest}})
	want := goldenBytes(t, "registry-raise-entry", raise)
	e, err := decodeEntry(want)
	if err != nil || e.version != VersionTest || e.op.kind != opClusterVersion || e.op.seq != VersionTest {
		t.Fatalf("golden raise decodes to %+v, %v", e, err)
	}
	if !bytes.Equal(raise, want) {
		t.Fatalf("the raise entry drifted from the golden:\n got %x\nwant %x", raise, want)
	}
}

// TestClusterVersionNeedsFreshAdvertisements: the leader's target counts
// a replica it has not heard from within VersionAdvertFreshTicks as the
// base version, however it advertised before (it may be being
// downgraded), and the lowest fresh advertisement otherwise.
func TestClusterVersionNeedsFreshAdvertisements(t *testing.T) {
	r := &Registry{cfg: Config{Replicas: make([]proto.NodeID, 3)}, replica: 0, versionMax: VersionTest,
		ticks: 1000, adverts: make([]advert, 3)}
	if got := r.versionTarget(); got != VersionBase {
		t.Fatalf("no advertisements: target %d", got)
	}
	r.adverts[1] = advert{version: VersionTest, tick: 990}
	r.adverts[2] = advert{version: VersionTest, tick: 1000 - VersionAdvertFreshTicks}
	if got := r.versionTarget(); got != VersionTest {
		t.Fatalf("fresh advertisements of %d: target %d", VersionTest, got)
	}
	r.adverts[2].tick--
	if got := r.versionTarget(); got != VersionBase {
		t.Fatalf("one advertisement %d ticks old: target %d, want %d", VersionAdvertFreshTicks+1, got, VersionBase)
	}
	r.adverts[2] = advert{version: VersionBase, tick: 1000}
	if got := r.versionTarget(); got != VersionBase {
		t.Fatalf("a fresh base advertisement: target %d", got)
	}
	r.adverts[2].version, r.versionMax = VersionTest, VersionBase
	if got := r.versionTarget(); got != VersionBase {
		t.Fatalf("a base leader: target %d", got)
	}
}

// TestIsolatedReplicaHoldsTheRaiseBack: a replica upgraded while cut off
// is never heard, so the cluster version stays at the base until the cut
// heals.
func TestIsolatedReplicaHoldsTheRaiseBack(t *testing.T) {
	c := newClusterVersions(t, replicas3, 0, Config{}, map[int]uint64{0: VersionTest, 1: VersionTest, 2: VersionBase})
	c.leader(2 * time.Second)
	c.isolate(2)
	c.crash(2)
	c.versionMax[2] = VersionTest
	c.restart(2)
	c.isolate(2)
	c.run(3 * VersionAdvertFreshTicks * TickIntervalDefault)
	for i := range 2 {
		if v := c.nodes[i].reg.ClusterVersion(); v != VersionBase {
			t.Fatalf("replica %d at cluster version %d with replica 2 unheard", i, v)
		}
	}
	c.heal()
	if !c.c.RunUntil(10*time.Second, func() bool {
		for i := range replicas3 {
			if c.nodes[i].reg.ClusterVersion() != VersionTest {
				return false
			}
		}
		return true
	}) {
		t.Fatal("cluster version not raised once the replica was heard again")
	}
}

package registry

import (
	"fmt"
	"slices"
	"strings"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
	"github.com/ron-network/ron/core/proto/wire"
)

// Cluster versions (doc.go, "Cluster version"). A version names the
// format of log entries and snapshot states; a build reads every version
// up to its Config.VersionMax and writes the cluster version, which rises
// only through a committed opClusterVersion entry.
const (
	// VersionBase is today's entry format: every build reads it, and a
	// cluster runs it until all its replicas advertise more.
	VersionBase = 1
	// VersionTest is a test-only version: the same layout as VersionBase
	// under a different version byte, plus the opClusterVersion op. It
	// exists so that tests and the simulator can show the gate: rond has
	// no setting that reaches it, and a build with the default VersionMax
	// refuses it by name.
	VersionTest = 2
	// VersionQuota is VersionTest's layout plus, in a Claim entry, the
	// claiming tenant's digest and the quota its gateway applies; the
	// state records each name's creating tenant (doc.go, "Tenant quota").
	// A build reads it only when asked: rond's cluster_name_quota (an
	// operator's explicit, one-way opt-in) or the io/runtime failpoint
	// registry-version-max.
	VersionQuota = 3
	// versionLast is the highest version this build reads.
	versionLast = VersionQuota
	// VersionAdvertiseTicks is how often (in raft ticks) a replica that
	// reads above VersionBase advertises it to the other replicas, and how
	// often a leader considers raising the cluster version.
	VersionAdvertiseTicks = 50
	// VersionAdvertFreshTicks is how long (in ticks) a leader trusts an
	// advertisement: a replica downgraded since stops advertising, and
	// after this long counts as VersionBase again.
	VersionAdvertFreshTicks = 3 * VersionAdvertiseTicks
)

// advert is the latest version advertisement heard from one replica.
type advert struct {
	version uint64
	tick    uint64 // r.ticks when it arrived; 0: never
}

// versionMax is the highest entry version this replica reads.
func (c Config) versionMax() uint64 {
	if c.VersionMax == 0 {
		return VersionBase
	}
	return c.VersionMax
}

// ClusterVersion is the cluster version this replica has applied
// (VersionBase on a non-replica or before recovery).
func (r *Registry) ClusterVersion() uint64 {
	if r.m == nil {
		return VersionBase
	}
	return r.m.clusterVersion
}

// applyVersion applies an opClusterVersion entry, or rejects an entry
// written under a version the cluster has not reached. It returns a
// reject reason, or "" when the cluster version rose. Both outcomes are a
// function of the state and the entry, so every replica agrees.
func (m *machine) applyVersion(e *entry) string {
	if e.op.kind != opClusterVersion {
		return reasonApplyInvalid + "_" + reasonVersionAhead
	}
	if e.op.seq != e.version {
		return reasonApplyInvalid + "_" + reasonMalformed
	}
	// A second raise to the same version (a new leader proposed it again
	// before applying the first) changes nothing.
	m.clusterVersion = max(m.clusterVersion, e.version)
	return ""
}

// newerEntry reports an entry this replica cannot read: its version is
// above versionMax, the cluster's version was raised past this build
// (or a newer build wrote it). Such an entry stops the replica by name,
// not as corruption, and is never skipped as malformed: the replicas that
// can read it apply it, so skipping it would silently diverge this
// replica's state from theirs. Only normal entries carry this package's
// encoding.
func newerEntry(e *pb.Entry, versionMax uint64) error {
	index, data := e.GetIndex(), e.GetData()
	if e.GetType() != pb.EntryNormal || len(data) == 0 {
		return nil
	}
	r := wire.NewReader(data)
	if v := r.Uvarint(); r.Err() == nil && v > versionMax {
		return fmt.Errorf("registry: entry %d is of cluster version %d, this replica reads up to %d "+
			"(the cluster was upgraded past this build: upgrade this replica's binary): %w",
			index, v, versionMax, env.ErrNewerFormat)
	}
	return nil
}

// onVersionTick runs every tick on a running replica: every
// VersionAdvertiseTicks it advertises its VersionMax (only above
// VersionBase: a base build sends nothing, so builds that predate cluster
// versions never see the envelope) and, leading, raises the cluster
// version once every replica advertised more.
func (r *Registry) onVersionTick() {
	r.ticks++
	if r.ticks%VersionAdvertiseTicks != 0 {
		return
	}
	if r.versionMax > VersionBase {
		payload := wire.AppendUvarint([]byte{codecVersion, envVersion}, r.versionMax)
		frame := oap.MustEncode(&oap.Frame{Header: oap.Header{Flags: oap.FlagEVENT, AppProto: oap.ProtoRegistry}, Payload: payload})
		for i, id := range r.cfg.Replicas {
			if i != r.replica {
				r.env.Send(id, frame)
			}
		}
	}
	if r.leading {
		r.maybeRaiseVersion()
	}
}

// maybeRaiseVersion proposes an opClusterVersion entry for the highest
// version every replica reads: its own VersionMax and each other
// replica's fresh advertisement (none, or a stale one, counts as
// VersionBase). The entry is written in the version it raises to, so a
// replica that was downgraded since it advertised refuses it by name.
func (r *Registry) maybeRaiseVersion() {
	target := r.versionTarget()
	if target <= r.m.clusterVersion {
		return
	}
	from := origin{node: r.self, session: r.session}
	data := encodeEntry(&entry{version: target, from: from, op: op{kind: opClusterVersion, seq: target}})
	if err := r.rn.Propose(data); err == nil {
		r.env.Log().Info("registry: proposing cluster version", "version", target, "from", r.m.clusterVersion)
	}
}

// versionTarget is the highest version every replica reads: this one's
// VersionMax and each other replica's advertisement, VersionBase for one
// not heard from within VersionAdvertFreshTicks.
func (r *Registry) versionTarget() uint64 {
	target := r.versionMax
	for i := range r.cfg.Replicas {
		if i == r.replica {
			continue
		}
		a := r.adverts[i]
		if a.tick == 0 || r.ticks-a.tick > VersionAdvertFreshTicks {
			return VersionBase
		}
		target = min(target, a.version)
	}
	return target
}

// onVersionEnvelope handles an envVersion advertisement; it reports
// whether the payload was one.
func (r *Registry) onVersionEnvelope(from proto.NodeID, payload []byte) bool {
	if len(payload) < 2 || payload[0] != codecVersion || payload[1] != envVersion {
		return false
	}
	rd := wire.NewReader(payload[2:])
	v := rd.Uvarint()
	i := slices.Index(r.cfg.Replicas, from)
	if r.replica < 0 && rd.Done() == nil && i >= 0 && v >= VersionBase {
		// To a non-replica, a replica's envVersion is its applied
		// cluster version (tellVersion), which never goes down. It is
		// recorded whatever this node's VersionMax: a non-replica reads
		// no log, and a replica says VersionQuota only once every
		// replica reads envForwardQ, so carrying the tenant from then on
		// is always safe, and a gateway with cluster_name_quota off
		// does not let its tenants past the registry's quota.
		r.clusterSeen = max(r.clusterSeen, v)
		return true
	}
	if rd.Done() != nil || i < 0 || r.replica < 0 || v < VersionBase {
		r.env.Metrics().Add(MetricRejects, reasonMalformed, 1)
		return true
	}
	r.adverts[i] = advert{version: v, tick: max(r.ticks, 1)}
	return true
}

// tellVersion tells a non-replica that forwarded a Claim without its
// tenant that the cluster is at VersionQuota or above, so its next
// forwards carry it (envForwardQ). A replica of a cluster below
// VersionQuota says nothing; a non-replica of this build records it
// whatever its own VersionMax, one of an earlier build counts it as
// malformed (doc.go, "Tenant quota").
func (r *Registry) tellVersion(to proto.NodeID) {
	if r.replica < 0 || r.m == nil || r.m.clusterVersion < VersionQuota || r.isReplica(to) {
		return
	}
	payload := wire.AppendUvarint([]byte{codecVersion, envVersion}, r.m.clusterVersion)
	r.env.Send(to, oap.MustEncode(&oap.Frame{Header: oap.Header{Flags: oap.FlagEVENT, AppProto: oap.ProtoRegistry}, Payload: payload}))
}

// DurablePrefix is the key prefix of a replica's durable raft state (its
// log, hard state and snapshot) on its disk.
const DurablePrefix = keyPrefix

// DurableClusterVersion is the cluster version a replica's durable state
// has applied, read from its disk's pairs under DurablePrefix (others are
// ignored) as recovery reads them: the version of its snapshot and of
// every committed log entry after it, VersionBase for an empty disk. A
// replica whose VersionMax is below it stops at recovery (ErrNewerFormat),
// so rond refuses such a start before the node runs and names the setting
// that reaches the version (cmd/rond, cluster_name_quota). An undecodable
// pair or log is corruption, as at recovery.
func DurableClusterVersion(pairs []env.KV) (uint64, error) {
	var rc recovery
	for _, kv := range pairs {
		if !strings.HasPrefix(string(kv.Key), keyPrefix) {
			continue
		}
		if err := rc.add(kv); err != nil {
			return 0, err
		}
	}
	version, snapIndex := uint64(VersionBase), uint64(0)
	if rc.snap != nil && !raft.IsEmptySnap(rc.snap) {
		r := wire.NewReader(rc.snap.GetData())
		v := r.Uvarint()
		if r.Err() != nil {
			return 0, fmt.Errorf("registry: snapshot: %v: %w", r.Err(), errCorrupt)
		}
		version, snapIndex = max(version, v), rc.snap.GetMetadata().GetIndex()
	}
	ents, hs, err := rc.build(snapIndex)
	if err != nil {
		return 0, err
	}
	for _, e := range ents {
		if e.GetIndex() > hs.GetCommit() {
			break
		}
		if e.GetType() != pb.EntryNormal || len(e.GetData()) == 0 {
			continue
		}
		r := wire.NewReader(e.GetData())
		if v := r.Uvarint(); r.Err() == nil {
			version = max(version, v)
		}
	}
	return version, nil
}

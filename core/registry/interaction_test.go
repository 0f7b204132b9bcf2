package registry

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	pb "go.etcd.io/raft/v3/raftpb"
	gproto "google.golang.org/protobuf/proto"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
)

// TestInteraction runs the scripts in testdata/*.txt on envtest.Cluster.
// Raft draws its election jitter from crypto/rand, so which replica leads
// is not fixed: scripts name nodes by role, bound when they are elected.
// Commands:
//
//	cluster replicas=3 [clients=1] [snapshot-entries=N]   build and start a cluster
//	elect [within=5s]                 run until one leader; bind "leader", "follower1"..
//	                                  (and "old-leader" when the leader changed)
//	run 100ms                         run the cluster
//	do <role> claim|set|resolve name=N [owner=K] [seq=S] [target=T]
//	                                  submit and await one op; print its result
//	submit <role> claim|set ... (as do)   submit without awaiting; bind the id as "pending"
//	await <role>                      await "pending"; print its result or "no reply"
//	crash <role>                      crash a node (unsynced writes dropped)
//	restart <role>                    restart it over its disk
//	disk <role>                       its durable log: entry count, snapshot present
//	converge [within=5s]              run until the running replicas agree
//	isolate <role> / heal             cut every link of a node / restore them
//	claims <role> count=N             claim n1.org..nN.org through a node
//	snapshots-received <role>         whether a raft snapshot was sent to it
//	versions 2 2 1                    each replica's Config.VersionMax (by index) for its next start
//	cluster-version                   each running replica's cluster version (or why it failed)
//	swap <role> version=N             crash, set Config.VersionMax = N, restart (an up- or downgrade)
//	entry-versions <role>             the version bytes of the node's durable log entries
//
// Run with -rewrite to regenerate the expected output.
func TestInteraction(t *testing.T) {
	paths, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(paths) < 4 {
		t.Fatalf("want at least 4 scripts in testdata, found %v (%v)", paths, err)
	}
	for _, path := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			h := &registryScript{}
			datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
				return h.handle(t, d)
			})
		})
	}
}

type registryScript struct {
	c *cluster
	// snapshots counts raft snapshot messages sent to each node.
	snapshots map[int]int
	roles     map[string]int
	pending   env.RequestID
	pendOn    int
	// versions is each node's Config.VersionMax (the versions command).
	versions map[int]uint64
}

func (h *registryScript) handle(t *testing.T, d *datadriven.TestData) string {
	if d.Cmd != "cluster" && d.Cmd != "versions" && h.c == nil {
		d.Fatalf(t, "no cluster: start the script with 'cluster'")
	}
	switch d.Cmd {
	case "cluster":
		var replicas, clients int
		var snapshot uint64
		var syncBeforeSend bool
		d.ScanArgs(t, "replicas", &replicas)
		d.MaybeScanArgs(t, "clients", &clients)
		d.MaybeScanArgs(t, "snapshot-entries", &snapshot)
		d.MaybeScanArgs(t, "sync-before-send", &syncBeforeSend)
		h.c = newClusterVersions(t, replicas, clients, Config{SnapshotEntries: snapshot, SyncBeforeSend: syncBeforeSend}, h.versions)
		h.roles, h.snapshots = map[string]int{}, map[int]int{}
		h.watchSnapshots()
		for i := 0; i < clients; i++ {
			h.roles[fmt.Sprintf("client%d", i+1)] = replicas + i
		}
		for i := 0; i < replicas; i++ {
			h.roles[fmt.Sprintf("replica%d", i+1)] = i
		}
		return "ok"
	case "elect":
		return h.elect(t, d)
	case "run":
		h.c.run(h.duration(t, d, 0))
		return "ok"
	case "do":
		i := h.role(t, d, 0)
		res, ok := h.c.await(i, h.c.submit(i, h.op(t, d)), h.c.opTimeout()+time.Second)
		if !ok {
			return "no reply"
		}
		return formatResult(res)
	case "submit":
		h.pendOn = h.role(t, d, 0)
		h.pending = h.c.submit(h.pendOn, h.op(t, d))
		return "submitted"
	case "await":
		res, ok := h.c.await(h.pendOn, h.pending, h.c.opTimeout()+time.Second)
		if !ok {
			return "no reply"
		}
		return formatResult(res)
	case "crash":
		i := h.role(t, d, 0)
		disk := h.c.crash(i)
		return fmt.Sprintf("crashed; durable entries %d", len(disk.Keys(keyEntryPrefix)))
	case "restart":
		h.c.restart(h.role(t, d, 0))
		return "ok"
	case "disk":
		disk := h.c.nodes[h.role(t, d, 0)].env.disk
		_, snap := disk.Get(keySnapshot)
		return fmt.Sprintf("entries %d snapshot %t", len(disk.Keys(keyEntryPrefix)), snap)
	case "claims":
		i := h.role(t, d, 0)
		var count int
		d.ScanArgs(t, "count", &count)
		failed := 0
		for k := 1; k <= count; k++ {
			if r := h.c.do(i, Claim{Name: fmt.Sprintf("n%d.org", k), Owner: newOwner(1).pub}); r.Err != nil {
				failed++
			}
		}
		return fmt.Sprintf("%d claimed, %d failed", count-failed, failed)
	case "versions", "cluster-version", "swap", "entry-versions":
		return h.handleVersions(t, d)
	case "snapshots-received":
		return fmt.Sprintf("%t", h.snapshots[h.role(t, d, 0)] > 0)
	case "converge":
		within := 5 * time.Second
		d.MaybeScanArgs(t, "within", &within)
		if !h.c.c.RunUntil(within, h.c.converged) {
			return "not converged"
		}
		return h.replicaStates()
	case "isolate":
		h.c.isolate(h.role(t, d, 0))
		return "ok"
	case "heal":
		h.c.heal()
		return "ok"
	}
	d.Fatalf(t, "unknown command %q", d.Cmd)
	return ""
}

// watchSnapshots counts the raft MsgSnap frames sent to each node (the
// cluster's Drop hook sees every frame; it drops none here, and the
// scripts' isolate and heal keep it).
func (h *registryScript) watchSnapshots() {
	index := map[proto.NodeID]int{}
	for i, n := range h.c.nodes {
		index[n.id] = i
	}
	h.c.observe = func(to proto.NodeID, frame []byte) {
		f, err := oap.Decode(frame)
		if err != nil || f.AppProto != oap.ProtoRegistry || len(f.Payload) < 2 || f.Payload[1] != envRaft {
			return
		}
		var m pb.Message
		if gproto.Unmarshal(f.Payload[2:], &m) == nil && m.GetType() == pb.MsgSnap {
			h.snapshots[index[to]]++
		}
	}
}

// elect runs until a single leader and binds the roles: "leader", then
// "follower1".. for the other running replicas in index order; a previous
// leader that lost the role becomes "old-leader".
func (h *registryScript) elect(t *testing.T, d *datadriven.TestData) string {
	within := 5 * time.Second
	d.MaybeScanArgs(t, "within", &within)
	l := h.c.leader(within)
	named := func() bool {
		for i, n := range h.c.nodes {
			if id, ok := n.reg.Leader(); !h.c.down(i) && (!ok || id != h.c.nodes[l].id) {
				return false
			}
		}
		return true
	}
	h.c.c.RunUntil(within, named)
	if old, had := h.roles["leader"]; had && old != l {
		h.roles["old-leader"] = old
	}
	h.roles["leader"] = l
	k := 0
	for i, n := range h.c.nodes {
		if i == l || n.reg.replica < 0 || h.c.down(i) {
			continue
		}
		k++
		h.roles[fmt.Sprintf("follower%d", k)] = i
	}
	agree := 0
	for i, n := range h.c.nodes {
		if h.c.down(i) {
			continue
		}
		if id, ok := n.reg.Leader(); ok && id == h.c.nodes[l].id {
			agree++
		}
	}
	return fmt.Sprintf("one leader; %d followers; %d running nodes name it", k, agree)
}

// replicaStates says whether every running replica applied the same state.
func (h *registryScript) replicaStates() string {
	running := 0
	for i, n := range h.c.nodes {
		if !h.c.down(i) && n.reg.replica >= 0 && !n.reg.Failed() {
			running++
		}
	}
	return fmt.Sprintf("converged: %d running replicas agree on applied index, state and chain", running)
}

func (h *registryScript) role(t *testing.T, d *datadriven.TestData, arg int) int {
	if len(d.CmdArgs) <= arg {
		d.Fatalf(t, "%s needs a node role", d.Cmd)
	}
	i, ok := h.roles[d.CmdArgs[arg].Key]
	if !ok {
		d.Fatalf(t, "unknown role %q (bound: %v)", d.CmdArgs[arg].Key, env.SortedKeys(h.roles))
	}
	return i
}

func (h *registryScript) duration(t *testing.T, d *datadriven.TestData, arg int) time.Duration {
	if len(d.CmdArgs) <= arg {
		d.Fatalf(t, "%s needs a duration", d.Cmd)
	}
	v, err := time.ParseDuration(d.CmdArgs[arg].Key)
	if err != nil {
		d.Fatalf(t, "%s: %v", d.Cmd, err)
	}
	return v
}

// op builds the request of a do or submit line: <role> <kind> name=...
func (h *registryScript) op(t *testing.T, d *datadriven.TestData) any {
	if len(d.CmdArgs) < 2 {
		d.Fatalf(t, "%s <role> claim|set|resolve name=...", d.Cmd)
	}
	var name, target string
	var ownerN int
	var seq uint64
	d.ScanArgs(t, "name", &name)
	d.MaybeScanArgs(t, "owner", &ownerN)
	d.MaybeScanArgs(t, "seq", &seq)
	d.MaybeScanArgs(t, "target", &target)
	o := newOwner(ownerN)
	switch kind := d.CmdArgs[1].Key; kind {
	case "claim":
		return Claim{Name: name, Owner: o.pub}
	case "set":
		return o.set(name, proto.AddrOf([]byte(target)), seq)
	case "resolve":
		return Resolve{Name: name}
	default:
		d.Fatalf(t, "unknown op %q", kind)
	}
	return nil
}

// formatResult prints a Result without keys or addresses.
func formatResult(r Result) string {
	if r.Err != nil {
		return "error: " + r.Err.Error()
	}
	if !r.Record.Found {
		return "ok"
	}
	owner := "?"
	for i := 0; i < 10; i++ {
		if o := newOwner(i); o.pub.Equal(r.Record.Owner) {
			owner = fmt.Sprintf("owner%d", i)
		}
	}
	return fmt.Sprintf("ok: owner %s seq %d", owner, r.Record.Seq)
}

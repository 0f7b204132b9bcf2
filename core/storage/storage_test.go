package storage

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
)

// smallChunks makes multi-chunk objects cheap to test.
var smallChunks = Config{ChunkBytes: ChunkBytesMin, RepairInterval: 200 * time.Millisecond}

// outsidePeer is a peer the tests play by hand (its replies are
// dropped); withOutsidePeer lists it among cfg's members, so that its
// requests are served (a non-member's are refused: TestNonMemberRefused).
var outsidePeer = proto.NodeID{0xee}

func withOutsidePeer(cfg Config) Config {
	cfg.Members = append(slices.Clone(cfg.Members), outsidePeer)
	return cfg
}

func TestPutGetAcrossNodes(t *testing.T) {
	c := newCluster(t, 6, 1, smallChunks)
	data := randomData(7, 10*ChunkBytesMin+123) // 11 chunks, the last short
	res := c.put(0, data, false)
	if res.Err != nil {
		t.Fatalf("put: %v", res.Err)
	}
	if res.Addr != proto.AddrOf(data) || res.Size != uint64(len(data)) || res.Replicas < 2 {
		t.Fatalf("put result %+v", res)
	}
	c.advance(time.Second) // let the third replica finish
	for _, i := range c.placed(res.Addr, 3) {
		if !c.nodes[i].st.HasLocal(res.Addr) || !c.durableCopy(i, res.Addr) {
			t.Fatalf("placement node %d does not hold the object durably", i)
		}
	}
	for _, i := range c.notPlaced(res.Addr, 3) {
		if i != 0 && c.nodes[i].st.HasLocal(res.Addr) {
			t.Fatalf("node %d holds an object not placed on it", i)
		}
	}
	reader := c.notPlaced(res.Addr, 3)[0]
	got := c.get(reader, res.Addr, 0, 0)
	if got.Err != nil || !bytes.Equal(got.Data, data) || got.Size != uint64(len(data)) {
		t.Fatalf("get from non-replica %d: err %v, %d bytes", reader, got.Err, len(got.Data))
	}
	ranges := [][2]uint64{{0, 1}, {ChunkBytesMin - 1, 2}, {ChunkBytesMin, ChunkBytesMin}, {5, 3 * ChunkBytesMin}, {uint64(len(data)) - 1, 0}, {uint64(len(data)), 0}}
	for _, r := range ranges {
		got := c.get(reader, res.Addr, r[0], r[1])
		end := uint64(len(data))
		if r[1] > 0 {
			end = r[0] + r[1]
		}
		if got.Err != nil || !bytes.Equal(got.Data, data[r[0]:end]) {
			t.Fatalf("range %v: err %v, got %d bytes", r, got.Err, len(got.Data))
		}
	}
	if n := len(c.c.Members[reader].Metrics.Observations[MetricGetLatency]); n != 1+len(ranges) {
		t.Fatalf("get latency observed %d times, want %d", n, 1+len(ranges))
	}
}

// TestPutAckOnlyAfterSyncedQuorum checks, at the moment each put is
// acknowledged, that W placement nodes hold it in their durable state.
func TestPutAckOnlyAfterSyncedQuorum(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		c := newCluster(t, 5, seed, smallChunks)
		c.loss, c.dup = 0.05, 0.05
		data := randomData(seed, 3*ChunkBytesMin)
		addr := proto.AddrOf(data)
		coord := int(seed) % 5
		// Await stops at the step that produced the reply: the durable
		// state is checked at the moment of the acknowledgement.
		c.applyNet()
		resp, ok := c.c.Await(coord, c.c.Request(coord, ServiceName, &Put{Data: data}), 20*time.Second)
		if !ok {
			t.Fatalf("seed %d: no reply", seed)
		}
		res := resp.(PutResult)
		if res.Err != nil {
			t.Fatalf("seed %d: put: %v", seed, res.Err)
		}
		durable := 0
		for _, i := range c.placed(addr, 3) {
			if c.durableCopy(i, addr) {
				durable++
			}
		}
		if durable < 2 || res.Replicas < 2 {
			t.Fatalf("seed %d: acknowledged with %d durable placement copies (reported %d), want >= 2", seed, durable, res.Replicas)
		}
	}
}

func TestPutWithoutQuorumIsNotAcknowledged(t *testing.T) {
	c := newCluster(t, 4, 3, smallChunks)
	data := randomData(3, 2*ChunkBytesMin)
	addr := proto.AddrOf(data)
	placed := c.placed(addr, 3)
	coord := c.notPlaced(addr, 3)[0]
	c.cut[c.nodes[placed[0]].id] = true
	c.cut[c.nodes[placed[1]].id] = true
	res := c.put(coord, data, false)
	if !errors.Is(res.Err, ErrUnknownOutcome) && !errors.Is(res.Err, ErrUnavailable) {
		t.Fatalf("put with one reachable replica: %+v", res)
	}
	// With every placement node cut off, nothing can be stored: a definite no.
	c.cut[c.nodes[placed[2]].id] = true
	res = c.put(coord, randomData(4, 100), false)
	if res.Err == nil {
		t.Fatalf("put with no reachable replica acknowledged: %+v", res)
	}
}

// TestCorruptChunkDetectedAndHealed runs with a disk that checks the
// chunks it reads (DiskOp.Check, as io/pebbledisk and the simulator's
// disk do) and with one that ignores the check, where storage verifies on
// its loop: either way a corrupt local chunk is never served, counted,
// marked damaged and healed from a replica.
func TestCorruptChunkDetectedAndHealed(t *testing.T) {
	for _, diskChecks := range []bool{true, false} {
		t.Run(fmt.Sprintf("diskChecks=%v", diskChecks), func(t *testing.T) {
			c := newCluster(t, 5, 4, smallChunks)
			for _, n := range c.nodes {
				n.disk.IgnoreChecks = !diskChecks
			}
			data := randomData(11, 4*ChunkBytesMin)
			res := c.put(0, data, false)
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			c.advance(time.Second)
			victim, chunk, key := c.rotChunk(res.Addr, data, 2, 100, 0x40)

			d := c.nodes[victim].disk
			checked, failed := d.checkedGets, d.checkFailures
			got := c.get(victim, res.Addr, 0, 0)
			if got.Err != nil || !bytes.Equal(got.Data, data) {
				t.Fatalf("get on the corrupt replica: err %v, equal %v", got.Err, bytes.Equal(got.Data, data))
			}
			if n := c.metric(victim, MetricCorruption, ""); n < 1 {
				t.Fatalf("corruption counted %v times", n)
			}
			want := [2]int{3, 1} // three intact chunks checked by the disk, one failing
			if !diskChecks {
				want = [2]int{0, 0}
			}
			if got := [2]int{d.checkedGets - checked, d.checkFailures - failed}; got != want {
				t.Fatalf("disk checks (passed, failed) %v, want %v", got, want)
			}
			if _, ok := c.nodes[victim].st.damaged[chunk]; !ok && c.metric(victim, MetricRepairs, "") < 1 {
				t.Fatal("corrupt chunk neither marked damaged nor healed")
			}
			c.advance(time.Second)
			if !bytes.Equal(c.nodes[victim].disk.Durable()[key], data[2*ChunkBytesMin:3*ChunkBytesMin]) {
				t.Fatal("corrupt chunk not rewritten with the verified bytes")
			}
			if c.metric(victim, MetricRepairs, "") < 1 {
				t.Fatal("heal not counted as a repair")
			}
		})
	}
}

func TestCorruptReplicaNeverServes(t *testing.T) {
	for _, diskChecks := range []bool{true, false} {
		t.Run(fmt.Sprintf("diskChecks=%v", diskChecks), func(t *testing.T) { testCorruptReplicaNeverServes(t, diskChecks) })
	}
}

func testCorruptReplicaNeverServes(t *testing.T, diskChecks bool) {
	c := newCluster(t, 4, 5, smallChunks)
	for _, n := range c.nodes {
		n.disk.IgnoreChecks = !diskChecks
	}
	data := randomData(12, 2*ChunkBytesMin)
	res := c.put(0, data, false)
	c.advance(time.Second)
	placed := c.placed(res.Addr, 3)
	// Corrupt every replica's first chunk: the reader gets ErrCorruption, never bytes.
	_, man := Split(data, ChunkBytesMin)
	key := string(diskKey(prefixChunk, man.Chunks[0].Addr))
	for _, i := range placed {
		b := bytes.Clone(c.nodes[i].disk.State()[key])
		b[0] ^= 1
		c.nodes[i].disk.Plant(key, b)
	}
	reader := c.notPlaced(res.Addr, 3)[0]
	got := c.get(reader, res.Addr, 0, 10)
	if !errors.Is(got.Err, ErrCorruption) || !errors.Is(got.Err, env.ErrCorruption) || got.Data != nil {
		t.Fatalf("get with every copy corrupt: err %v, %d bytes", got.Err, len(got.Data))
	}
	total := 0.0
	for i := range c.nodes {
		total += c.metric(i, MetricCorruption, "")
	}
	if total < 3 {
		t.Fatalf("corruption counted %v times across the cluster, want >= 3", total)
	}
}

func TestRepairRestoresReplicas(t *testing.T) {
	c := newCluster(t, 5, 6, smallChunks)
	data := randomData(13, 5*ChunkBytesMin)
	res := c.put(1, data, false)
	c.advance(time.Second)
	lost := c.placed(res.Addr, 3)[1]
	c.crash(lost)
	c.nodes[lost].disk.Wipe() // the disk is gone
	c.start(lost)
	c.step()
	if c.nodes[lost].st.HasLocal(res.Addr) {
		t.Fatal("wiped node still holds the object")
	}
	c.advance(3 * time.Second)
	if !c.nodes[lost].st.HasLocal(res.Addr) || !c.durableCopy(lost, res.Addr) {
		t.Fatal("repair did not restore the replica")
	}
	repairs := 0.0
	for i := range c.nodes {
		repairs += c.metric(i, MetricRepairs, "")
	}
	if repairs < 1 {
		t.Fatal("repair not counted")
	}
}

func TestRecoveryRebuildsIndex(t *testing.T) {
	c := newCluster(t, 3, 7, smallChunks)
	var addrs []proto.Addr
	for i := 0; i < 20; i++ { // more than one scan page
		res := c.put(i%3, randomData(uint64(100+i), 1000+i*700), i%4 == 0)
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		addrs = append(addrs, res.Addr)
	}
	c.advance(time.Second)
	before := c.nodes[2].st.LocalObjects()
	if len(before) != len(addrs) {
		t.Fatalf("node 2 holds %d objects, want %d (R = 3 of 3)", len(before), len(addrs))
	}
	c.crash(2)
	c.start(2)
	c.step()
	after := c.nodes[2].st.LocalObjects()
	if len(after) != len(before) || !c.nodes[2].st.Ready() {
		t.Fatalf("after restart %d objects, before %d", len(after), len(before))
	}
	for i := range after {
		if after[i] != before[i] {
			t.Fatal("objects differ after restart")
		}
	}
	if got := c.metric(2, MetricObjects, ""); got != float64(len(addrs)) {
		t.Fatalf("objects gauge %v", got)
	}
}

func TestDeletePinnedCopy(t *testing.T) {
	c := newCluster(t, 5, 8, smallChunks)
	data := randomData(14, 3*ChunkBytesMin)
	addr := proto.AddrOf(data)
	holder := c.notPlaced(addr, 3)[0]
	res := c.put(holder, data, true)
	if res.Err != nil || !c.nodes[holder].st.HasLocal(addr) {
		t.Fatalf("pinned put: %+v, local %v", res, c.nodes[holder].st.HasLocal(addr))
	}
	c.advance(2 * time.Second) // audits run; a pinned copy is never collected
	if !c.nodes[holder].st.HasLocal(addr) {
		t.Fatal("pinned copy collected")
	}
	del, _ := c.request(holder, Delete{Addr: addr}, time.Second).(DeleteResult)
	if del.Err != nil {
		t.Fatalf("delete: %v", del.Err)
	}
	h := c.nodes[holder]
	if h.st.HasLocal(addr) {
		t.Fatal("deleted object still held")
	}
	for k := range h.disk.Durable() {
		// The scrub's pass-end record is the node's own, not the object's.
		if bytes.HasPrefix([]byte(k), []byte("s/")) && k != keyScrubCursor {
			t.Fatalf("key %q left on disk after delete", k)
		}
	}
	del, _ = c.request(holder, Delete{Addr: addr}, time.Second).(DeleteResult)
	if !errors.Is(del.Err, ErrNotFound) {
		t.Fatalf("second delete: %v", del.Err)
	}
	// The replicas keep theirs: the object is still readable.
	if got := c.get(holder, addr, 0, 0); got.Err != nil || !bytes.Equal(got.Data, data) {
		t.Fatalf("get after a local delete: %v", got.Err)
	}
}

// TestGCMovesStrayObject: an unpinned object on a node that is not among
// its placement nodes is pushed to them, then collected locally.
func TestGCMovesStrayObject(t *testing.T) {
	c := newCluster(t, 5, 9, smallChunks)
	data := randomData(15, 2*ChunkBytesMin+5)
	addr, man := Split(data, ChunkBytesMin)
	stray := c.notPlaced(addr, 3)[0]
	c.crash(stray)
	d := c.nodes[stray].disk
	for i, ch := range man.Chunks {
		d.Plant(string(diskKey(prefixChunk, ch.Addr)), man.chunkData(data, i))
	}
	d.Plant(string(diskKey(prefixManifest, addr)), env.Seal(AppendManifest(nil, &man)))
	c.start(stray)
	c.step()
	if !c.nodes[stray].st.HasLocal(addr) {
		t.Fatal("recovery did not index the stray object")
	}
	c.advance(3 * time.Second)
	for _, i := range c.placed(addr, 3) {
		if !c.durableCopy(i, addr) {
			t.Fatalf("placement node %d did not receive the stray object", i)
		}
	}
	// The scrub's pass-end record (keyScrubCursor: the pass ended, with
	// its end time) is the node's own, not the object's.
	left := c.nodes[stray].disk.Durable()
	delete(left, keyScrubCursor)
	if c.nodes[stray].st.HasLocal(addr) || len(left) != 0 {
		t.Fatalf("stray copy not collected: %d keys left", len(left))
	}
}

func TestBadInput(t *testing.T) {
	cfg := smallChunks
	cfg.ObjectBytes = 10 * ChunkBytesMin
	c := newCluster(t, 3, 10, cfg)
	res := c.put(0, make([]byte, cfg.ObjectBytes+1), false)
	if !errors.Is(res.Err, ErrTooLarge) || c.metric(0, MetricRejects, ReasonTooLarge) != 1 {
		t.Fatalf("oversize put: %v", res.Err)
	}
	for i := range c.nodes {
		if len(c.nodes[i].disk.State()) != 0 {
			t.Fatalf("node %d stored something for a rejected put", i)
		}
	}
	data := randomData(16, 3000)
	put := c.put(0, data, false)
	for _, r := range [][2]uint64{{3001, 0}, {2999, 2}, {0, 3001}, {1 << 63, 1 << 63}} {
		got := c.get(1, put.Addr, r[0], r[1])
		if !errors.Is(got.Err, ErrRange) || got.Data != nil {
			t.Fatalf("range %v: %v", r, got.Err)
		}
	}
	if c.metric(1, MetricRejects, ReasonBadRange) != 4 {
		t.Fatal("bad ranges not counted")
	}
	missing := c.get(1, proto.AddrOf([]byte("never stored")), 0, 0)
	if !errors.Is(missing.Err, ErrNotFound) {
		t.Fatalf("get of a missing object: %v", missing.Err)
	}
	if r, _ := c.request(1, "nonsense", time.Second).(error); !errors.Is(r, ErrBadRequest) {
		t.Fatalf("bad body: %v", r)
	}
	if h, _ := c.request(1, &Has{Addr: put.Addr}, time.Second).(HasResult); !h.Local {
		t.Fatal("Has on a replica: false")
	}
}

func TestMalformedFramesRejected(t *testing.T) {
	c := newCluster(t, 2, 11, smallChunks)
	h := c.nodes[0]
	from := c.nodes[1].id
	valid := encodeFrame(9, &message{kind: kindCheck})
	frames := [][]byte{
		nil,
		valid[:len(valid)-1],
		append(bytes.Clone(valid), 0),
		oap.MustEncode(&oap.Frame{Header: oap.Header{Flags: oap.FlagREQ, AppProto: oap.ProtoStorage}, Payload: []byte{0xff}}),
		oap.MustEncode(&oap.Frame{Header: oap.Header{Flags: oap.FlagRESP, AppProto: oap.ProtoStorage}, Payload: valid[oap.HeaderBytes:]}),
		oap.MustEncode(&oap.Frame{Header: oap.Header{Flags: oap.FlagREQ, AppProto: oap.ProtoDHT}, Payload: valid[oap.HeaderBytes:]}),
	}
	before, sentBefore := len(h.disk.State()), c.c.Members[0].Sent
	for _, f := range frames {
		c.handle(h, env.Message{From: from, Frame: f})
	}
	if got := c.metric(0, MetricRejects, ReasonMalformed); got != float64(len(frames)) {
		t.Fatalf("malformed frames counted %v, want %d", got, len(frames))
	}
	if c.c.Members[0].Sent != sentBefore || len(c.c.PendingDisk(0)) != 0 || len(h.disk.State()) != before {
		t.Fatal("a malformed frame caused effects")
	}
	// A chunk whose bytes do not match its address is refused, not stored.
	c.handle(h, env.Message{From: from, Frame: encodeFrame(10, &message{kind: kindStoreChunk, addr: proto.AddrOf([]byte("x")), data: []byte("y")})})
	if c.metric(0, MetricRejects, ReasonBadChunk) != 1 || len(c.c.PendingDisk(0)) != 0 {
		t.Fatal("mismatched chunk not refused")
	}
}

func TestLossyClusterKeepsAcknowledgedPuts(t *testing.T) {
	c := newCluster(t, 6, 12, smallChunks)
	c.loss, c.dup = 0.1, 0.1
	acked := map[proto.Addr][]byte{}
	for i := 0; i < 12; i++ {
		data := randomData(uint64(200+i), 1+i*1500)
		res := c.put(i%6, data, false)
		if res.Err == nil {
			acked[res.Addr] = data
		} else if !errors.Is(res.Err, ErrUnknownOutcome) && !errors.Is(res.Err, ErrUnavailable) {
			t.Fatalf("put %d: unexpected error %v", i, res.Err)
		}
	}
	if len(acked) < 6 {
		t.Fatalf("only %d of 12 puts acknowledged at 10%% loss", len(acked))
	}
	// Crash every node (dropping unsynced writes), restart, heal the network.
	for i := range c.nodes {
		c.crash(i)
	}
	for i := range c.nodes {
		c.start(i)
	}
	c.loss, c.dup = 0, 0
	c.step()
	for _, addr := range env.SortedKeysFunc(acked, compareAddr) {
		got := c.get(int(addr[0])%6, addr, 0, 0)
		if got.Err != nil || !bytes.Equal(got.Data, acked[addr]) {
			t.Fatalf("acknowledged %s lost after crash: %v", addr.Short(), got.Err)
		}
	}
}

// TestAckedPutSurvivesImmediateCrash is the correct twin of the
// AckBeforeSync canary: crash every node right after the acknowledgement.
func TestAckedPutSurvivesImmediateCrash(t *testing.T) {
	c := newCluster(t, 3, 22, smallChunks)
	data := randomData(22, 2*ChunkBytesMin)
	res := c.put(0, data, false)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	for i := range c.nodes {
		c.crash(i)
	}
	for i := range c.nodes {
		c.start(i)
	}
	c.step()
	if got := c.get(1, res.Addr, 0, 0); got.Err != nil || !bytes.Equal(got.Data, data) {
		t.Fatalf("acknowledged object lost in a crash: %v", got.Err)
	}
}

// TestPendingPutsSayWhereAPutIsStuck: with every placement replica cut
// off, a put waits on its pushes, and PendingPuts names each one's stage;
// once the put ends it is no longer listed.
func TestPendingPutsSayWhereAPutIsStuck(t *testing.T) {
	c := newCluster(t, 4, 21, smallChunks)
	data := randomData(21, 3*ChunkBytesMin)
	addr := proto.AddrOf(data)
	coord := c.notPlaced(addr, 3)[0]
	for _, i := range c.placed(addr, 3) {
		c.cut[c.nodes[i].id] = true
	}
	c.applyNet()
	c.c.Request(coord, ServiceName, Put{Data: data})
	c.advance(100 * time.Millisecond)
	pending := c.nodes[coord].st.PendingPuts()
	t.Logf("%q", pending)
	if len(pending) != 1 || strings.Count(pending[0], "push to") != 3 || !strings.Contains(pending[0], "0 of 3 replicas acked") {
		t.Fatalf("pending puts: %q", pending)
	}
	c.advance(time.Minute)
	if pending := c.nodes[coord].st.PendingPuts(); len(pending) != 0 {
		t.Fatalf("after the deadline: %q", pending)
	}
}

// TestPendingGetsSayWhereAGetIsStuck: with every replica cut off, a get
// from the one node outside the placement waits for a manifest, and
// PendingGets says so; once the get ends it is no longer listed.
func TestPendingGetsSayWhereAGetIsStuck(t *testing.T) {
	c := newCluster(t, 4, 23, smallChunks)
	data := randomData(23, 3*ChunkBytesMin)
	addr := proto.AddrOf(data)
	placed := c.placed(addr, 3)
	if res := c.put(placed[0], data, false); res.Err != nil {
		t.Fatal(res.Err)
	}
	reader := c.notPlaced(addr, 3)[0]
	for _, i := range placed {
		c.cut[c.nodes[i].id] = true
	}
	c.applyNet()
	c.c.Request(reader, ServiceName, Get{Addr: addr})
	c.advance(100 * time.Millisecond)
	pending := c.nodes[reader].st.PendingGets()
	t.Logf("%q", pending)
	if len(pending) != 1 || !strings.Contains(pending[0], "get") || !strings.Contains(pending[0], addr.Short()) ||
		!strings.Contains(pending[0], "finding the manifest: 1 of 3 candidates asked") {
		t.Fatalf("pending gets: %q", pending)
	}
	c.advance(time.Minute)
	if pending := c.nodes[reader].st.PendingGets(); len(pending) != 0 {
		t.Fatalf("after the deadline: %q", pending)
	}
}

package storage

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/ron-network/ron/core/proto"
)

// TestInteraction runs the scripts in testdata/*.txt on envtest.Cluster
// (through fixture_test.go). Nodes are n1..nN; objects get names. Chunks
// are ChunkBytesMin; repair runs every 200ms. Commands:
//
//	cluster n=5 seed=1              build and start a cluster
//	put nI obj=NAME chunks=K [pin]  put K chunks of seeded bytes through node I
//	get nI obj=NAME                 read it whole through node I
//	range nI obj=NAME off=X len=Y   read bytes [X, X+Y) through node I
//	holders obj=NAME                nodes whose durable state holds it whole
//	placement obj=NAME              its R=3 placement nodes
//	crash nI / restart nI / wipe nI crash; start over the disk; empty the disk
//	advance 1s                      run the cluster
//	corrupt nI obj=NAME chunk=K     flip a bit of chunk K on node I's disk
//	orphan nI count=K               leave K unreferenced chunks on node I's disk
//	orphans nI                      unreferenced chunks on node I's disk
//	stats nI                        the machine's counters that scripts check
//	metric nI NAME [label=L]        one metric of node I
//
// Run with -rewrite to regenerate the expected output.
func TestInteraction(t *testing.T) {
	paths, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(paths) < 3 {
		t.Fatalf("want at least 3 scripts in testdata, found %v (%v)", paths, err)
	}
	for _, path := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			h := &storageScript{objects: map[string][]byte{}}
			datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
				return h.handle(t, d)
			})
		})
	}
}

type storageScript struct {
	c       *cluster
	objects map[string][]byte
	orphans uint64
}

func (h *storageScript) handle(t *testing.T, d *datadriven.TestData) string {
	if d.Cmd != "cluster" && h.c == nil {
		d.Fatalf(t, "no cluster: start the script with 'cluster'")
	}
	switch d.Cmd {
	case "cluster":
		var n int
		var seed uint64
		d.ScanArgs(t, "n", &n)
		d.ScanArgs(t, "seed", &seed)
		h.c = newCluster(t, n, seed, smallChunks)
		return "ok"
	case "put":
		var name string
		var chunks int
		d.ScanArgs(t, "obj", &name)
		d.ScanArgs(t, "chunks", &chunks)
		data := randomData(uint64(len(h.objects)+1)*7919, chunks*ChunkBytesMin-chunks)
		h.objects[name] = data
		res := h.c.put(h.node(t, d), data, d.HasArg("pin"))
		if res.Err != nil {
			return "error: " + res.Err.Error()
		}
		return fmt.Sprintf("ok: %d bytes acknowledged by %d replicas", res.Size, res.Replicas)
	case "get":
		data := h.object(t, d)
		got := h.c.get(h.node(t, d), proto.AddrOf(data), 0, 0)
		switch {
		case got.Err != nil:
			return "error: " + got.Err.Error()
		case !bytes.Equal(got.Data, data):
			return "WRONG BYTES"
		}
		return fmt.Sprintf("ok: %d bytes, verified", len(got.Data))
	case "range":
		data := h.object(t, d)
		var off, length int
		d.ScanArgs(t, "off", &off)
		d.ScanArgs(t, "len", &length)
		got := h.c.get(h.node(t, d), proto.AddrOf(data), uint64(off), uint64(length))
		switch {
		case got.Err != nil:
			return "error: " + got.Err.Error()
		case !bytes.Equal(got.Data, data[off:off+length]):
			return "WRONG BYTES"
		}
		return fmt.Sprintf("ok: %d bytes, verified", len(got.Data))
	case "holders":
		addr := proto.AddrOf(h.object(t, d))
		var out []string
		for i := range h.c.nodes {
			if h.c.durableCopy(i, addr) {
				out = append(out, fmt.Sprintf("n%d", i+1))
			}
		}
		return strings.Join(out, " ")
	case "placement":
		var out []string
		for _, i := range h.c.placed(proto.AddrOf(h.object(t, d)), 3) {
			out = append(out, fmt.Sprintf("n%d", i+1))
		}
		return strings.Join(out, " ")
	case "crash":
		h.c.crash(h.node(t, d))
		return "ok"
	case "restart":
		h.c.start(h.node(t, d))
		h.c.step()
		return "ok"
	case "wipe":
		h.c.nodes[h.node(t, d)].disk.Wipe()
		return "ok"
	case "advance":
		v, err := time.ParseDuration(d.CmdArgs[0].Key)
		if err != nil {
			d.Fatalf(t, "advance: %v", err)
		}
		h.c.advance(v)
		return "ok"
	case "corrupt":
		var k int
		d.ScanArgs(t, "chunk", &k)
		_, man := Split(h.object(t, d), ChunkBytesMin)
		key := string(diskKey(prefixChunk, man.Chunks[k].Addr))
		disk := h.c.nodes[h.node(t, d)].disk
		v, ok := disk.State()[key]
		if !ok {
			return "no such chunk on that node"
		}
		v = bytes.Clone(v)
		v[len(v)/2] ^= 0x20
		disk.Plant(key, v)
		return "ok"
	case "orphan":
		var count int
		d.ScanArgs(t, "count", &count)
		disk := h.c.nodes[h.node(t, d)].disk
		for k := 0; k < count; k++ {
			h.orphans++
			data := randomData(1_000_000+h.orphans, ChunkBytesMin/2)
			disk.Plant(string(diskKey(prefixChunk, proto.AddrOf(data))), data)
		}
		return "ok"
	case "orphans":
		return strconv.Itoa(len(orphans(h.c.nodes[h.node(t, d)].disk.State())))
	case "stats":
		st := h.c.nodes[h.node(t, d)].st.Stats()
		return fmt.Sprintf("objects %d, corruptions %d, repairs %d, orphans swept %d, sweeping %t",
			st.Objects, st.Corruptions, st.Repairs, st.OrphansSwept, st.Sweeping)
	case "metric":
		var label string
		d.MaybeScanArgs(t, "label", &label)
		return fmt.Sprintf("%v", h.c.metric(h.node(t, d), d.CmdArgs[1].Key, label))
	}
	d.Fatalf(t, "unknown command %q", d.Cmd)
	return ""
}

func (h *storageScript) node(t *testing.T, d *datadriven.TestData) int {
	for _, a := range d.CmdArgs {
		if strings.HasPrefix(a.Key, "n") && len(a.Vals) == 0 {
			if i, err := strconv.Atoi(a.Key[1:]); err == nil && i >= 1 && i <= len(h.c.nodes) {
				return i - 1
			}
		}
	}
	d.Fatalf(t, "%s needs a node n1..n%d", d.Cmd, len(h.c.nodes))
	return -1
}

func (h *storageScript) object(t *testing.T, d *datadriven.TestData) []byte {
	var name string
	d.ScanArgs(t, "obj", &name)
	data, ok := h.objects[name]
	if !ok {
		d.Fatalf(t, "no object %q", name)
	}
	return data
}

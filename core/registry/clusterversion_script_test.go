package registry

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/ron-network/ron/core/env"
)

// handleVersions runs the cluster version commands of the interaction
// scripts (interaction_test.go lists them).
func (h *registryScript) handleVersions(t *testing.T, d *datadriven.TestData) string {
	switch d.Cmd {
	case "versions":
		h.versions = map[int]uint64{}
		for i, a := range d.CmdArgs {
			v, err := strconv.ParseUint(a.Key, 10, 64)
			if err != nil {
				d.Fatalf(t, "versions: %q is not a version", a.Key)
			}
			h.versions[i] = v
		}
		return "ok"
	case "cluster-version":
		var lines []string
		for i, n := range h.c.nodes {
			if n.reg.replica < 0 {
				continue
			}
			switch {
			case h.c.down(i):
				lines = append(lines, fmt.Sprintf("replica%d: down", i+1))
			case n.reg.Failed():
				lines = append(lines, fmt.Sprintf("replica%d: failed (corruption counted %v): %v", i+1, h.c.metric(i, MetricCorruption, ""),
					entryIndex.ReplaceAllString(n.reg.failErr.Error(), "entry N")))
			default:
				lines = append(lines, fmt.Sprintf("replica%d: cluster version %d (reads up to %d)", i+1, n.reg.ClusterVersion(), n.reg.versionMax))
			}
		}
		return strings.Join(lines, "\n")
	case "swap":
		i := h.role(t, d, 0)
		var v uint64
		d.ScanArgs(t, "version", &v)
		h.c.crash(i)
		h.c.versionMax[i] = v
		h.c.restart(i)
		return "ok"
	case "entry-versions":
		return entryVersions(t, h.c.nodes[h.role(t, d, 0)].env.disk.Keys(keyEntryPrefix), h.c.nodes[h.role(t, d, 0)].env.disk.Get)
	}
	d.Fatalf(t, "unknown command %q", d.Cmd)
	return ""
}

// entryIndex matches the log index in an error: which index the raise
// landed at depends on how many elections raft's crypto/rand jitter gave.
var entryIndex = regexp.MustCompile(`entry [0-9]+`)

// entryVersions counts a log's entries with data by version byte.
func entryVersions(t *testing.T, keys []string, get func(string) ([]byte, bool)) string {
	count := map[byte]int{}
	for _, key := range keys {
		durable, _ := get(key)
		plain, err := env.Unseal(durable)
		if err != nil {
			t.Fatal(err)
		}
		e := &pb.Entry{}
		if err := proto.Unmarshal(plain, e); err != nil {
			t.Fatal(err)
		}
		if len(e.GetData()) > 0 {
			count[e.GetData()[0]]++
		}
	}
	var parts []string
	for _, v := range env.SortedKeys(count) {
		parts = append(parts, fmt.Sprintf("version %d: %d", v, count[v]))
	}
	if len(parts) == 0 {
		return "no entries with data"
	}
	return strings.Join(parts, ", ")
}

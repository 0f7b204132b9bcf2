package scenario

import (
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Lies a storage liar may tell (Adversary.Lies): the runner maps each to
// a core/storage LieKinds bit.
const (
	LieMovedManifest    = "moved_manifest"     // a manifest that moves chunks
	LieSizeManifest     = "size_manifest"      // a manifest that lies about the last chunk's size
	LieRefuseChunks     = "refuse_chunks"      // FetchChunk answered statusBad
	LieCorruptStatus    = "corrupt_status"     // FetchChunk answered statusCorrupt
	LieGarbageChunks    = "garbage_chunks"     // FetchChunk answered with flipped bytes
	LieWrongOffsetFetch = "wrong_offset_fetch" // FetchChunk asked at another offset
	LieGarbagePush      = "garbage_push"       // StoreChunk with flipped bytes, or the right bytes at another offset
	LieLyingCommit      = "lying_commit"       // Commit whose manifest moves chunks or lies about the last chunk's size
	LieFalseHeld        = "false_held"         // Check (repair audit) answered "held" when not held, "not held" when held
)

// LieNames lists every lie, in the order of the storage bits.
var LieNames = []string{LieMovedManifest, LieSizeManifest, LieRefuseChunks, LieCorruptStatus, LieGarbageChunks, LieWrongOffsetFetch,
	LieGarbagePush, LieLyingCommit, LieFalseHeld}

// Adversary is the `adversary:` section: storage nodes that run the
// honest state machine but whose outgoing storage frames the simulator
// rewrites into lies, each frame a lie can apply to with probability
// Rate. Nil when absent.
type Adversary struct {
	StorageLiars []string // node names
	Lies         []string // among LieNames, each once
	Rate         float64  // 0..1
}

func (d *decoder) adversarySection(n *yaml.Node) *Adversary {
	f, ok := d.mapping(n, "adversary", []string{"storage_liars", "lies", "rate"})
	if !ok {
		return nil
	}
	a := &Adversary{Rate: 1}
	if v, ok := d.require(f, "storage_liars"); ok {
		a.StorageLiars, _ = d.nodeList(v, "adversary.storage_liars", map[string]string{})
		if d.nodes > 0 && len(a.StorageLiars) >= d.nodes {
			d.fail(v, "adversary.storage_liars", "every node lies; at least one must be honest")
		}
	}
	if v, ok := d.require(f, "lies"); ok {
		want := "want a non-empty list of lies among " + strings.Join(LieNames, ", ")
		if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
			d.fail(v, "adversary.lies", want+", got "+describe(v))
		} else {
			for i, item := range v.Content {
				name, good := d.str(item, index("adversary.lies", i))
				switch {
				case !good:
				case !slices.Contains(LieNames, name):
					d.fail(item, index("adversary.lies", i), want+", got "+strconv.Quote(name))
				case slices.Contains(a.Lies, name):
					d.fail(item, index("adversary.lies", i), "lie "+name+" listed twice")
				default:
					a.Lies = append(a.Lies, name)
				}
			}
		}
	}
	if v, ok := f.get("rate"); ok {
		a.Rate, _ = d.probability(v, "adversary.rate")
	}
	return a
}

func (a *Adversary) node() *yaml.Node {
	m := newMap(true)
	m.add("storage_liars", namesNode(a.StorageLiars))
	lies := make([]*yaml.Node, len(a.Lies))
	for i, l := range a.Lies {
		lies[i] = plainNode(l)
	}
	m.add("lies", seqNode(true, lies...))
	m.add("rate", floatNode(a.Rate))
	return m.n
}

func (a *Adversary) clone() *Adversary {
	if a == nil {
		return nil
	}
	return &Adversary{StorageLiars: slices.Clone(a.StorageLiars), Lies: slices.Clone(a.Lies), Rate: a.Rate}
}

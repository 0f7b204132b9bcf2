package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ron-network/ron/core/stack"
)

var topKeys = []string{"name", "description", "duration", "seed", "nodes", "network", "disk",
	"workload", "faults", "random_faults", "adversary", "audit", "swarm", "checks"}

// Load reads and parses the scenario file at path. It refuses anything
// but a regular file, naming its type, and never blocks on a FIFO: it
// opens without blocking and checks what it opened.
func Load(path string) (*Scenario, error) {
	f, err := openNonblock(path)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("%s is %s, not a regular file", path, modeName(st.Mode()))
	}
	if err == nil {
		err = clearNonblock(f)
	}
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(f, FileBytesMax+1))
	if err != nil {
		return nil, fmt.Errorf("scenario: read %s: %w", path, err)
	}
	return Parse(path, data)
}

// modeName says what kind of file a mode describes, with its article.
func modeName(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "not a regular file (" + m.Type().String() + ")"
}

// Parse decodes and validates one scenario document. name is the file name
// used in error messages and kept in Source. The error, when not nil, is an
// ErrorList of *Error values, each naming file, line and field.
func Parse(name string, data []byte) (*Scenario, error) {
	d := &decoder{file: name}
	root, ok := d.document(data)
	if !ok {
		return nil, d.errs
	}
	s := d.scenario(root)
	s.Source = name
	if len(d.errs) > 0 {
		slices.SortStableFunc(d.errs, func(a, b *Error) int { return a.Line - b.Line })
		return nil, d.errs
	}
	return s, nil
}

// document reads exactly one YAML document without aliases.
func (d *decoder) document(data []byte) (*yaml.Node, bool) {
	if len(data) > FileBytesMax {
		d.fail(nil, "", fmt.Sprintf("file is larger than %d bytes", FileBytesMax))
		return nil, false
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.fail(&yaml.Node{Line: 1}, "", "empty file; a scenario needs at least name, duration and nodes")
		} else {
			d.fail(&yaml.Node{Line: yamlErrorLine(err)}, "", "not valid YAML: "+err.Error())
		}
		return nil, false
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		d.fail(&yaml.Node{Line: extra.Line}, "", "a scenario file holds exactly one YAML document")
		return nil, false
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		d.fail(&doc, "", "a scenario file holds exactly one YAML document")
		return nil, false
	}
	if alias := findAlias(doc.Content[0]); alias != nil {
		d.fail(alias, "", "anchors and aliases are not supported; write the value out")
		return nil, false
	}
	return doc.Content[0], true
}

// findAlias returns the first alias node under n. Aliases are refused
// rather than expanded: expansion can blow a small file up exponentially,
// and a value that appears in two places should read the same in both.
func findAlias(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return n
	}
	for _, c := range n.Content {
		if a := findAlias(c); a != nil {
			return a
		}
	}
	return nil
}

// yamlErrorLine extracts the line from a yaml.v3 syntax error ("yaml: line
// 3: ..."); 1 when it has none.
func yamlErrorLine(err error) int {
	var line int
	if _, scanErr := fmt.Sscanf(err.Error(), "yaml: line %d:", &line); scanErr == nil && line > 0 {
		return line
	}
	return 1
}

// scenario decodes the top level. Sections are decoded in dependency order,
// not file order: duration and nodes first, because node names and fault
// windows are checked against them.
func (d *decoder) scenario(root *yaml.Node) *Scenario {
	s := &Scenario{}
	top, ok := d.mapping(root, "", topKeys)
	if !ok {
		return s
	}
	if v, ok := d.require(top, "name"); ok {
		s.Name, _ = d.text(v, "name", NameBytesMax, false)
	}
	if v, ok := top.get("description"); ok {
		s.Description, _ = d.text(v, "description", DescriptionBytesMax, true)
	}
	if v, ok := d.require(top, "duration"); ok {
		s.Duration, _ = d.positiveDuration(v, "duration")
		d.runEnd = s.Duration
	}
	if v, ok := top.get("seed"); ok {
		s.Seed = d.seed(v)
	}
	if v, ok := d.require(top, "nodes"); ok {
		s.Nodes = d.nodesSection(v)
	}
	s.Network = d.networkSection(top)
	if v, ok := top.get("disk"); ok {
		s.Disk = d.diskSection(v, "disk")
	}
	if v, ok := top.get("workload"); ok {
		s.Workload = d.workloadSection(v)
		d.lookups = s.Workload != nil && s.Workload.Mix.Lookup > 0
		d.tokens = s.Workload != nil && s.Workload.Tokens != nil
		d.edge = s.Workload != nil && s.Workload.Edge != nil
	}
	if v, ok := top.get("faults"); ok {
		s.Faults = d.faultsSection(v, s.Network)
		d.checkTimeline(s.Faults)
	}
	if v, ok := top.get("random_faults"); ok {
		s.RandomFaults = d.randomFaultsSection(v)
	}
	if v, ok := top.get("adversary"); ok {
		s.Adversary = d.adversarySection(v)
	}
	if v, ok := top.get("audit"); ok {
		s.Audit = d.auditSection(v, s.Nodes)
		d.audit = s.Audit != nil && s.Audit.RatePerSecond > 0
		d.auditBad = !d.audit
	}
	if v, ok := top.get("swarm"); ok {
		s.Swarm = d.swarmSection(v)
	}
	if v, ok := top.get("checks"); ok {
		s.Checks = d.checksSection(v)
	}
	return s
}

func (d *decoder) seed(n *yaml.Node) *uint64 {
	if !d.scalar(n, "seed", "a whole number >= 0") {
		return nil
	}
	var v uint64
	if n.ShortTag() != "!!int" || n.Decode(&v) != nil {
		d.fail(n, "seed", "want a whole number in 0..18446744073709551615, got "+describe(n))
		return nil
	}
	return &v
}

func (d *decoder) nodesSection(n *yaml.Node) Nodes {
	var nodes Nodes
	f, ok := d.mapping(n, "nodes", []string{"count", "registry_replicas", "off"})
	if !ok {
		return nodes
	}
	if v, ok := d.require(f, "count"); ok {
		count, _ := d.integer(v, "nodes.count", 1, NodeCountMax)
		nodes.Count = int(count)
		d.nodes = nodes.Count
	}
	if v, ok := f.get("registry_replicas"); ok {
		r, good := d.integer(v, "nodes.registry_replicas", 0, RegistryReplicasMax)
		d.registryBad = true
		switch {
		case !good:
		case r%2 == 0 && r != 0:
			d.fail(v, "nodes.registry_replicas", fmt.Sprintf("want 0 or an odd number 1..%d (a raft majority), got %d", RegistryReplicasMax, r))
		case nodes.Count > 0 && int(r) > nodes.Count:
			d.fail(v, "nodes.registry_replicas", fmt.Sprintf("%d replicas but only %d nodes", r, nodes.Count))
		default:
			nodes.RegistryReplicas = int(r)
			d.registryBad = false
		}
	}
	d.registry = nodes.RegistryReplicas
	if v, ok := f.get("off"); ok {
		nodes.Off, nodes.OffGiven = d.offList(v)
	}
	return nodes
}

// offList decodes nodes.off: a list of optional service names.
func (d *decoder) offList(n *yaml.Node) (stack.Optional, bool) {
	want := "want a list of services among " + strings.Join(stack.OptionalNames(), ", ")
	if n.Kind != yaml.SequenceNode {
		d.fail(n, "nodes.off", want+", got "+describe(n))
		return 0, false
	}
	var off stack.Optional
	for i, item := range n.Content {
		name, ok := d.str(item, index("nodes.off", i))
		if !ok {
			return 0, false
		}
		o, known := stack.ParseOptional(name)
		if !known {
			d.fail(item, index("nodes.off", i), want+", got "+strconv.Quote(name))
			return 0, false
		}
		off |= o
	}
	return off, true
}

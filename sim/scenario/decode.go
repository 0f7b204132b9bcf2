package scenario

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// decoder walks a yaml.Node tree, converting and validating as it goes, and
// collects every problem as an *Error with the file, line and field path.
//
// It also carries what later fields are checked against: the node count, the
// registry size and the run duration. Each is zero while unknown (absent or
// invalid), and the checks that need it are skipped, so one bad value gives
// one error instead of a cascade.
type decoder struct {
	file     string
	errs     ErrorList
	nodes    int
	registry int
	runEnd   time.Duration
	// registryBad is set when registry_replicas was given but invalid, so
	// that registry-only fields do not add "needs a registry" errors.
	registryBad bool
	// lookups is set when the workload's mix has a lookup weight (the
	// lookups check needs it).
	lookups bool
	// tokens is set when the workload has a tokens section (the
	// revocation check needs it).
	tokens bool
	// edge is set when the workload has an edge section (the edge checks
	// need it).
	edge bool
	// audit is set when the audit section appends (audit.rate; the
	// audit_retention check needs it).
	audit bool
	// auditBad is set when the audit section was given but is invalid (its
	// rate missing or out of range), so that the audit_retention check
	// does not add "audit.rate is absent".
	auditBad bool
	// faultOK[i] is set when faults[i] decoded without error; only those
	// take part in the timeline checks.
	faultOK []bool
}

func (d *decoder) fail(n *yaml.Node, field, msg string) {
	if len(d.errs) >= ErrorsMax {
		return
	}
	line := 1
	if n != nil {
		line = n.Line
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Field: field, Msg: msg})
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// fields is one decoded YAML mapping: its value nodes by key.
type fields struct {
	node   *yaml.Node
	path   string
	values map[string]*yaml.Node
}

// get returns the value of key; an empty (null) value counts as absent.
func (f *fields) get(key string) (*yaml.Node, bool) {
	v, ok := f.values[key]
	return v, ok
}

// mapping checks that n is a mapping whose keys are all in known, reports
// unknown and duplicate keys, and returns the values. ok is false when n is
// not a mapping at all.
func (d *decoder) mapping(n *yaml.Node, path string, known []string) (*fields, bool) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "want a mapping ("+strings.Join(known, ", ")+"), got "+describe(n))
		return nil, false
	}
	f := &fields{node: n, path: path, values: make(map[string]*yaml.Node, len(n.Content)/2)}
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, value := n.Content[i], n.Content[i+1]
		if key.Kind != yaml.ScalarNode || key.ShortTag() != "!!str" {
			d.fail(key, path, "keys must be plain names, got "+describe(key))
			continue
		}
		field := join(path, key.Value)
		switch {
		case seen[key.Value]:
			d.fail(key, field, "duplicate key")
		case !slices.Contains(known, key.Value):
			d.fail(key, field, "unknown key; known keys here: "+strings.Join(known, ", "))
		case value.ShortTag() != "!!null":
			f.values[key.Value] = value
		}
		seen[key.Value] = true
	}
	return f, true
}

// require reports a missing required key.
func (d *decoder) require(f *fields, key string) (*yaml.Node, bool) {
	v, ok := f.get(key)
	if !ok {
		d.fail(f.node, join(f.path, key), "required")
	}
	return v, ok
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "an empty value"
		}
		return strconv.Quote(n.Value)
	case yaml.AliasNode:
		return "an alias (anchors and aliases are not supported)"
	}
	return "a YAML document"
}

func (d *decoder) scalar(n *yaml.Node, path, want string) bool {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "want "+want+", got "+describe(n))
		return false
	}
	return true
}

func (d *decoder) str(n *yaml.Node, path string) (string, bool) {
	if !d.scalar(n, path, "a string") {
		return "", false
	}
	if n.ShortTag() != "!!str" {
		d.fail(n, path, "want a string, got "+describe(n)+"; quote it")
		return "", false
	}
	return n.Value, true
}

// text reads free text of 1..limit bytes. Control characters other than
// newline and tab (and those too when multiline is false) are refused: they
// are invisible in reports and terminals.
func (d *decoder) text(n *yaml.Node, path string, limit int, multiline bool) (string, bool) {
	s, ok := d.str(n, path)
	if !ok {
		return "", false
	}
	if s == "" || len(s) > limit {
		d.fail(n, path, "want 1.."+strconv.Itoa(limit)+" bytes of text, got "+strconv.Itoa(len(s)))
		return "", false
	}
	// A literal U+FFFD is a valid character; only bytes that do not decode
	// are invalid UTF-8 (a range loop yields RuneError for both).
	if !utf8.ValidString(s) {
		d.fail(n, path, "contains invalid UTF-8: "+strconv.Quote(s))
		return "", false
	}
	for _, r := range s {
		allowed := multiline && (r == '\n' || r == '\t')
		if unicode.IsControl(r) && !allowed {
			d.fail(n, path, "contains a control character: "+strconv.QuoteRune(r))
			return "", false
		}
	}
	return s, true
}

func (d *decoder) boolean(n *yaml.Node, path string) (bool, bool) {
	if !d.scalar(n, path, "true or false") || n.ShortTag() != "!!bool" {
		if n.Kind == yaml.ScalarNode {
			d.fail(n, path, "want true or false, got "+describe(n))
		}
		return false, false
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		d.fail(n, path, "want true or false, got "+describe(n))
		return false, false
	}
	return b, true
}

// integer reads a whole number in [lo, hi].
func (d *decoder) integer(n *yaml.Node, path string, lo, hi int64) (int64, bool) {
	want := "a whole number in " + strconv.FormatInt(lo, 10) + ".." + strconv.FormatInt(hi, 10)
	if !d.scalar(n, path, want) {
		return 0, false
	}
	var v int64
	if n.ShortTag() != "!!int" || n.Decode(&v) != nil || v < lo || v > hi {
		d.fail(n, path, "want "+want+", got "+describe(n))
		return 0, false
	}
	return v, true
}

// number reads a finite number in [lo, hi].
func (d *decoder) number(n *yaml.Node, path string, lo, hi float64) (float64, bool) {
	want := "a number in " + formatFloat(lo) + ".." + formatFloat(hi)
	if !d.scalar(n, path, want) {
		return 0, false
	}
	tag := n.ShortTag()
	var v float64
	if (tag != "!!int" && tag != "!!float") || n.Decode(&v) != nil ||
		math.IsNaN(v) || v < lo || v > hi {
		d.fail(n, path, "want "+want+", got "+describe(n))
		return 0, false
	}
	return v, true
}

func (d *decoder) probability(n *yaml.Node, path string) (float64, bool) {
	return d.number(n, path, 0, 1)
}

// duration reads a Go-style duration in [lo, hi].
func (d *decoder) duration(n *yaml.Node, path string, lo, hi time.Duration) (time.Duration, bool) {
	if !d.scalar(n, path, "a duration") {
		return 0, false
	}
	v, msg := parseDurationText(n.Value)
	if msg == "" && (v < lo || v > hi) {
		msg = "want a duration in " + formatDuration(lo) + ".." + formatDuration(hi) + ", got " + n.Value
	}
	if msg != "" {
		d.fail(n, path, msg)
		return 0, false
	}
	return v, true
}

// positiveDuration reads a duration in (0, DurationMax].
func (d *decoder) positiveDuration(n *yaml.Node, path string) (time.Duration, bool) {
	v, ok := d.duration(n, path, 0, DurationMax)
	if ok && v == 0 {
		d.fail(n, path, "want a duration > 0")
		return 0, false
	}
	return v, ok
}

// unitValue reads a scalar through parse (a size, rate or bandwidth parser).
func unitValue[T any](d *decoder, n *yaml.Node, path, want string, parse func(string) (T, string)) (T, bool) {
	var zero T
	if !d.scalar(n, path, want) {
		return zero, false
	}
	v, msg := parse(n.Value)
	if msg != "" {
		d.fail(n, path, msg)
		return zero, false
	}
	return v, true
}

// nodeRef reads a node name n1..nCount or, when listed in dynamic, one of
// the dynamic targets. "leader" needs a registry.
func (d *decoder) nodeRef(n *yaml.Node, path string, dynamic ...string) (string, bool) {
	name, ok := d.str(n, path)
	if !ok {
		return "", false
	}
	if slices.Contains(dynamic, name) {
		if name == TargetLeader && d.registry == 0 && !d.registryBad {
			d.fail(n, path, `"leader" needs a registry (nodes.registry_replicas is 0)`)
			return "", false
		}
		return name, true
	}
	i, ok := NodeIndex(name)
	if !ok || (d.nodes > 0 && i >= d.nodes) {
		msg := "unknown node " + strconv.Quote(name) + " (nodes are " + d.nodeRange() + ")"
		if len(dynamic) > 0 {
			msg += `; or one of ` + strings.Join(dynamic, ", ")
		}
		d.fail(n, path, msg)
		return "", false
	}
	return name, true
}

func (d *decoder) nodeRange() string {
	if d.nodes == 0 {
		return "n1..nCount"
	}
	if d.nodes == 1 {
		return "n1"
	}
	return "n1.." + NodeName(d.nodes-1)
}

// nodeList reads a non-empty list of distinct node names. A name already in
// taken (another side of the same cut) is an error; the list's names are
// added to taken.
func (d *decoder) nodeList(n *yaml.Node, path string, taken map[string]string) ([]string, bool) {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		d.fail(n, path, "want a non-empty list of node names, got "+describe(n))
		return nil, false
	}
	if d.nodes > 0 && len(n.Content) > d.nodes {
		d.fail(n, path, "lists "+strconv.Itoa(len(n.Content))+" nodes; the cluster has "+strconv.Itoa(d.nodes))
		return nil, false
	}
	names := make([]string, 0, len(n.Content))
	ok := true
	for i, item := range n.Content {
		name, good := d.nodeRef(item, index(path, i))
		if !good {
			ok = false
			continue
		}
		if where, dup := taken[name]; dup {
			d.fail(item, index(path, i), "node "+name+" is already in "+where)
			ok = false
			continue
		}
		taken[name] = path
		names = append(names, name)
	}
	return names, ok
}

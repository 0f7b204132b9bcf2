package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/ron-network/ron/core/auth"
	"go.yaml.in/yaml/v3"
	"lukechampine.com/blake3"
)

// Error is a bundle validation error. It names the rule (index and name)
// and the field at fault, and the line when known. Rule is -1 for errors
// outside any rule.
type Error struct {
	Rule     int
	RuleName string
	Field    string // dotted path inside the rule ("match.ops[1]") or bundle key
	Line     int    // 1-based; 0 when unknown
	Msg      string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("policy: ")
	if e.Rule >= 0 {
		fmt.Fprintf(&b, "rule %d (%q): ", e.Rule, e.RuleName)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, "field %s: ", e.Field)
	}
	b.WriteString(e.Msg)
	if e.Line > 0 {
		fmt.Fprintf(&b, " (line %d)", e.Line)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return ErrInvalid }

// The YAML schema. Decoding uses KnownFields(true): an unknown key is an
// error, as is a value of the wrong type.
type bundleYAML struct {
	Version int        `yaml:"version"`
	Name    string     `yaml:"name"`
	Rules   []ruleYAML `yaml:"rules"`
}

type ruleYAML struct {
	Name   string    `yaml:"name"`
	Effect string    `yaml:"effect"`
	Match  matchYAML `yaml:"match"`
}

type matchYAML struct {
	Tenants       []string `yaml:"tenants"`
	Ops           []string `yaml:"ops"`
	Prefixes      []string `yaml:"prefixes"`
	MinBytes      *uint64  `yaml:"min_bytes"`
	MaxBytes      *uint64  `yaml:"max_bytes"`
	Tags          []string `yaml:"tags"`
	Authenticated *bool    `yaml:"authenticated"`
}

// Parse decodes and validates a bundle. Every error is an *Error wrapping
// ErrInvalid.
func Parse(data []byte) (*Bundle, error) {
	if len(data) > BundleBytesMax {
		return nil, &Error{Rule: -1, Msg: fmt.Sprintf("bundle of %d bytes exceeds %d", len(data), BundleBytesMax)}
	}
	var raw bundleYAML
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{Rule: -1, Msg: "empty bundle"}
		}
		return nil, locate(data, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, &Error{Rule: -1, Msg: "more than one YAML document"}
	}
	lines := indexLines(data)
	b, err := build(&raw, lines)
	if err != nil {
		return nil, err
	}
	b.Digest = blake3.Sum256(data)
	return b, nil
}

func build(raw *bundleYAML, lines *lineIndex) (*Bundle, error) {
	if raw.Version != BundleVersion {
		return nil, &Error{Rule: -1, Field: "version", Line: lines.of("version"), Msg: fmt.Sprintf("version %d, want %d", raw.Version, BundleVersion)}
	}
	if !validName(raw.Name) {
		return nil, &Error{Rule: -1, Field: "name", Line: lines.of("name"), Msg: fmt.Sprintf("bundle name %q: want 1..%d of [a-z0-9._-]", raw.Name, NameBytesMax)}
	}
	if len(raw.Rules) == 0 {
		// A bundle without rules denies every request (default-deny): an
		// empty list is an error like any other, and a lockdown is said
		// with a rule ({name: deny-all, effect: deny}) rather than by
		// omission, so a missing or mistyped key cannot lock a node.
		return nil, &Error{Rule: -1, Field: "rules", Line: lines.of("rules"),
			Msg: "missing or empty: a bundle needs at least one rule (to deny everything, say so: - {name: deny-all, effect: deny})"}
	}
	if len(raw.Rules) > RulesMax {
		return nil, &Error{Rule: -1, Field: "rules", Line: lines.of("rules"), Msg: fmt.Sprintf("%d rules exceed %d", len(raw.Rules), RulesMax)}
	}
	b := &Bundle{Name: raw.Name, Rules: make([]Rule, 0, len(raw.Rules))}
	seen := map[string]int{}
	catchAll := -1
	for i := range raw.Rules {
		fail := func(field, format string, args ...any) error {
			return &Error{Rule: i, RuleName: raw.Rules[i].Name, Field: field,
				Line: lines.of(fmt.Sprintf("rules[%d].%s", i, field)), Msg: fmt.Sprintf(format, args...)}
		}
		r, err := buildRule(&raw.Rules[i], fail)
		if err != nil {
			return nil, err
		}
		if j, dup := seen[r.Name]; dup {
			return nil, fail("name", "duplicate rule name, first used by rule %d", j)
		}
		seen[r.Name] = i
		if catchAll >= 0 {
			return nil, fail("match", "unreachable: rule %d (%q) before it matches every request", catchAll, b.Rules[catchAll].Name)
		}
		if r.Match.isEmpty() {
			catchAll = i
		}
		b.Rules = append(b.Rules, r)
	}
	return b, nil
}

type failFunc func(field, format string, args ...any) error

func buildRule(raw *ruleYAML, fail failFunc) (Rule, error) {
	r := Rule{Name: raw.Name}
	if !validName(raw.Name) {
		return r, fail("name", "rule name %q: want 1..%d of [a-z0-9._-]", raw.Name, NameBytesMax)
	}
	switch raw.Effect {
	case "allow":
		r.Effect = Allow
	case "deny":
		r.Effect = Deny
	case "":
		return r, fail("effect", "missing (allow or deny)")
	default:
		return r, fail("effect", "%q is neither allow nor deny", raw.Effect)
	}
	m, err := buildMatch(&raw.Match, fail)
	r.Match = m
	return r, err
}

func buildMatch(raw *matchYAML, fail failFunc) (Match, error) {
	m := Match{MaxBytes: raw.MaxBytes, Authenticated: raw.Authenticated, Tenants: raw.Tenants, Prefixes: raw.Prefixes, Tags: raw.Tags}
	if raw.MinBytes != nil {
		m.MinBytes = *raw.MinBytes
	}
	if m.MaxBytes != nil && m.MinBytes > *m.MaxBytes {
		return m, fail("match.min_bytes", "min_bytes %d exceeds max_bytes %d", m.MinBytes, *m.MaxBytes)
	}
	lists := []struct {
		field string
		items []string
		check func(string) error
	}{
		{"match.tenants", raw.Tenants, checkTenant},
		{"match.ops", raw.Ops, checkOp},
		{"match.prefixes", raw.Prefixes, checkPrefix},
		{"match.tags", raw.Tags, checkTag},
	}
	for _, l := range lists {
		if err := checkList(l.field, l.items, l.check, fail); err != nil {
			return m, err
		}
	}
	for _, name := range raw.Ops {
		op, _ := auth.ParseOp(name)
		m.Ops |= auth.Ops(op)
	}
	return m, nil
}

func checkList(field string, items []string, check func(string) error, fail failFunc) error {
	if items != nil && len(items) == 0 {
		return fail(field, "empty list (omit the field to match anything)")
	}
	if len(items) > ListItemsMax {
		return fail(field, "%d entries exceed %d", len(items), ListItemsMax)
	}
	for j, item := range items {
		if err := check(item); err != nil {
			return fail(fmt.Sprintf("%s[%d]", field, j), "%v", err)
		}
		for k := 0; k < j; k++ {
			if items[k] == item {
				return fail(fmt.Sprintf("%s[%d]", field, j), "duplicate of entry %d", k)
			}
		}
	}
	return nil
}

func checkTenant(s string) error {
	if s == "" || len(s) > auth.TenantBytesMax {
		return fmt.Errorf("tenant of %d bytes outside 1..%d", len(s), auth.TenantBytesMax)
	}
	return nil
}

func checkOp(s string) error {
	if _, err := auth.ParseOp(s); err != nil {
		return fmt.Errorf("unknown op %q (read, write, delete, name, admin)", s)
	}
	return nil
}

// checkPrefix rejects empty prefixes (omit the field instead) and address
// prefixes that could never match a canonical address.
func checkPrefix(s string) error {
	if s == "" || len(s) > auth.PrefixBytesMax {
		return fmt.Errorf("prefix of %d bytes outside 1..%d", len(s), auth.PrefixBytesMax)
	}
	if digits, ok := strings.CutPrefix(s, "b3:"); ok {
		if len(digits) > 64 || strings.Trim(digits, "0123456789abcdef") != "" {
			return fmt.Errorf("address prefix %q: want b3: and up to 64 lowercase hex digits", s)
		}
	}
	return nil
}

func checkTag(s string) error {
	if s == "" || len(s) > TagBytesMax {
		return fmt.Errorf("tag of %d bytes outside 1..%d", len(s), TagBytesMax)
	}
	return nil
}

func validName(s string) bool {
	if s == "" || len(s) > NameBytesMax {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// lineIndex maps field paths ("rules[2].match.ops[1]") to the line of
// their key or item, from the YAML node tree, so errors found after
// decoding can point at the text.
type lineIndex struct {
	byPath map[string]int
	keys   []pathLine     // every mapping key, in document order
	names  map[int]string // rule index -> its name, as written
}

type pathLine struct {
	path string
	line int
}

func (x *lineIndex) of(path string) int {
	if x == nil {
		return 0
	}
	return x.byPath[path]
}

func indexLines(data []byte) *lineIndex {
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil || len(root.Content) == 0 {
		return nil
	}
	x := &lineIndex{byPath: map[string]int{}, names: map[int]string{}}
	x.walk(root.Content[0], "")
	return x
}

func (x *lineIndex) walk(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := n.Content[i].Value
			if path != "" {
				p = path + "." + p
			}
			x.byPath[p] = n.Content[i].Line
			x.keys = append(x.keys, pathLine{p, n.Content[i].Line})
			if r := rulePathRE.FindStringSubmatch(p); r != nil && r[2] == "name" {
				rule, _ := strconv.Atoi(r[1])
				x.names[rule] = n.Content[i+1].Value
			}
			x.walk(n.Content[i+1], p)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			x.byPath[p] = item.Line
			if item.Kind != yaml.ScalarNode {
				x.keys = append(x.keys, pathLine{p, item.Line})
			}
			x.walk(item, p)
		}
	}
}

var (
	lineRE       = regexp.MustCompile(`line (\d+): (.*)`)
	unknownRE    = regexp.MustCompile(`^field (\S+) not found in type`)
	rulePathRE   = regexp.MustCompile(`^rules\[(\d+)\](?:\.(.*))?$`)
	typeDetailRE = regexp.MustCompile(` in type \S+$`)
)

// locate turns a YAML decode error into an *Error naming the rule and
// field: the decoder reports a line, and the node tree says which key was
// last opened at or before that line.
func locate(data []byte, err error) error {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	m := lineRE.FindStringSubmatch(msgs[0])
	if m == nil {
		return &Error{Rule: -1, Msg: strings.TrimPrefix(msgs[0], "yaml: ")}
	}
	line, _ := strconv.Atoi(m[1])
	msg := m[2]
	var field string
	if u := unknownRE.FindStringSubmatch(msg); u != nil {
		field, msg = u[1], "unknown field"
	}
	msg = typeDetailRE.ReplaceAllString(msg, "")
	out := &Error{Rule: -1, Line: line, Msg: msg}
	x := indexLines(data)
	if x == nil {
		return out
	}
	path := x.pathAt(line, field)
	if r := rulePathRE.FindStringSubmatch(path); r != nil {
		out.Rule, _ = strconv.Atoi(r[1])
		out.RuleName = x.ruleName(out.Rule)
		out.Field = r[2]
	} else {
		out.Field = path
	}
	return out
}

// pathAt is the path of the last key opened at or before line; when the
// decoder named the key (unknown fields), a key of that name on the line.
func (x *lineIndex) pathAt(line int, name string) string {
	best := ""
	for _, k := range x.keys {
		if k.line > line {
			continue
		}
		if name != "" && k.line == line && (k.path == name || strings.HasSuffix(k.path, "."+name)) {
			return k.path
		}
		best = k.path
	}
	return best
}

func (x *lineIndex) ruleName(i int) string { return x.names[i] }

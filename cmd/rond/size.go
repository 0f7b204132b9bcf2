package main

import (
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
)

// Byte sizes. Every setting counted in bytes (edge_cache_bytes,
// memory_max, read_ahead_bytes: the settings made by sizeOption) takes the same forms, from a
// flag, a RON_* variable or the YAML file, all read by parseByteSize: a
// whole number of bytes (1048576), or a number and a unit, binary (KiB,
// MiB, GiB, TiB: powers of 1024) or decimal (KB, MB, GB, TB: powers of
// 1000), with or without a space: 64MiB, 1.5 GiB, 1TB. A fraction must
// come to a whole number of bytes (1.5KB, not 1.5B). sim/scenario has
// its own size parser for scenario files; it refuses bare numbers
// (ambiguous there) and decimal units, and the production binary does not
// import the simulator, so rond keeps this one.

// sizeKeys are the YAML keys whose values are byte sizes: those of the
// settings of kind kindSize. The file's reader (convertSizes) and the
// schema (configSchema) both ask here, so a size setting added to
// settings with sizeOption is parsed and described as one everywhere.
func sizeKeys() []string {
	var keys []string
	for _, s := range settings {
		if s.kind == kindSize {
			keys = append(keys, s.key())
		}
	}
	return keys
}

// sizeForms is the error text listing the accepted forms.
const sizeForms = "write bytes (1048576) or a number and a unit: KiB, MiB, GiB, TiB (powers of 1024) or KB, MB, GB, TB (powers of 1000), e.g. 64MiB; a fraction (1.5GiB) must come to a whole number of bytes"

var (
	// sizePattern is the schema's pattern (sizeSchema): bytes are whole,
	// with or without B; a fraction takes a unit of KB or more. What it
	// cannot say, that 1.0001KiB is no whole number of bytes either,
	// parseByteSize refuses after multiplying.
	sizePattern = regexp.MustCompile(`^(?:[0-9]+(?:\.[0-9]+)? ?[KMGT]i?B|[0-9]+ ?B?)$`)
	// sizeParts splits a size into its number and its unit; it takes a
	// fraction with any unit, so that 1.5B gets its own error.
	sizeParts = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?) ?([KMGT]i?B|B)?$`)
	sizeUnits = map[string]int64{"B": 1,
		"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
		"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}
)

// parseByteSize parses a byte size in one of the forms above. A fraction
// of a byte is refused, not rounded: memory_max: 1.5B loaded as 1 byte.
// The error says what the forms are.
func parseByteSize(text string) (int64, error) {
	text = strings.TrimSpace(text)
	m := sizeParts.FindStringSubmatch(text)
	if m == nil || len(m[1]) > 40 {
		if strings.HasPrefix(text, "-") {
			return 0, fmt.Errorf("%q is negative; %s", text, sizeForms)
		}
		return 0, fmt.Errorf("%q is not a size; %s", text, sizeForms)
	}
	unit := m[2]
	if (unit == "" || unit == "B") && strings.Contains(m[1], ".") {
		return 0, fmt.Errorf("%q: a count of bytes must be whole; %s", text, sizeForms)
	}
	if unit == "" {
		unit = "B"
	}
	v, ok := new(big.Rat).SetString(m[1])
	if !ok || !sizePattern.MatchString(text) {
		return 0, fmt.Errorf("%q is not a size; %s", text, sizeForms)
	}
	v.Mul(v, new(big.Rat).SetInt64(sizeUnits[unit]))
	if !v.IsInt() {
		return 0, fmt.Errorf("%q is %s bytes, not a whole number of bytes; %s", text, v.FloatString(3), sizeForms)
	}
	if !v.Num().IsInt64() {
		return 0, fmt.Errorf("%q is larger than the largest size, %d bytes (8 EiB)", text, int64(math.MaxInt64))
	}
	return v.Num().Int64(), nil
}

// formatByteSize writes n with the unit that makes the shortest whole
// number (1GiB, 1000TB), or in bytes (1500B), for error messages.
func formatByteSize(n int64) string {
	best := strconv.FormatInt(n, 10) + "B"
	for _, u := range []string{"TiB", "TB", "GiB", "GB", "MiB", "MB", "KiB", "KB"} {
		if n != 0 && n%sizeUnits[u] == 0 {
			if t := strconv.FormatInt(n/sizeUnits[u], 10) + u; len(t) < len(best) {
				best = t
			}
		}
	}
	return best
}

// sizeOption is the setting of a byte-size field: its kind and its
// apply (parseByteSize) made together, so that no size setting reads its
// flag as a size and its file key as a plain integer, or the reverse.
func sizeOption(flag, env, usage string, field func(*Config) *int64) setting {
	return setting{flag: flag, env: env, usage: usage, kind: kindSize, apply: func(c *Config, v string) error {
		n, err := parseByteSize(v)
		if err != nil {
			return err
		}
		*field(c) = n
		return nil
	}}
}

// sizeExamples are values a size key takes, for the schema; a test reads
// each back through the config file.
var sizeExamples = []any{"64MiB", "1.5 GiB", "500MB", 1048576}

// sizeSchema is the JSON Schema of a size key: a whole number of bytes,
// or a string in one of the forms parseByteSize reads. The pattern is
// sizePattern itself (ECMA-262 reads it the same), which parseByteSize
// also requires, so the two cannot part (but for a fraction that comes
// to no whole number of bytes, which the description rules out); it
// only constrains strings, the integer form is bounded by minimum.
func sizeSchema() map[string]any {
	return map[string]any{
		"type":     []string{"string", "integer"},
		"minimum":  0,
		"pattern":  sizePattern.String(),
		"examples": sizeExamples,
	}
}

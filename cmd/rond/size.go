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
// memory_max, read_ahead_bytes: the keys of sizeSettings) takes the same forms, from a
// flag, a RON_* variable or the YAML file, all read by parseByteSize: a
// whole number of bytes (1048576), or a number and a unit, binary (KiB,
// MiB, GiB, TiB: powers of 1024) or decimal (KB, MB, GB, TB: powers of
// 1000), with or without a space: 64MiB, 1.5 GiB, 1TB. sim/scenario has
// its own size parser for scenario files; it refuses bare numbers
// (ambiguous there) and decimal units, and the production binary does not
// import the simulator, so rond keeps this one.

// sizeSettings are the YAML keys whose values are byte sizes.
var sizeSettings = []string{"edge_cache_bytes", "memory_max", "read_ahead_bytes"}

// sizeForms is the error text listing the accepted forms.
const sizeForms = "write bytes (1048576) or a number and a unit: KiB, MiB, GiB, TiB (powers of 1024) or KB, MB, GB, TB (powers of 1000), e.g. 64MiB"

var (
	sizePattern = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?) ?([KMGT]i?B|B)?$`)
	sizeUnits   = map[string]int64{"B": 1,
		"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
		"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}
)

// parseByteSize parses a byte size in one of the forms above; a fraction
// of a byte is rounded down. The error says what the forms are.
func parseByteSize(text string) (int64, error) {
	text = strings.TrimSpace(text)
	m := sizePattern.FindStringSubmatch(text)
	if m == nil || len(m[1]) > 40 {
		if strings.HasPrefix(text, "-") {
			return 0, fmt.Errorf("%q is negative; %s", text, sizeForms)
		}
		return 0, fmt.Errorf("%q is not a size; %s", text, sizeForms)
	}
	unit := m[2]
	if unit == "" {
		if strings.Contains(m[1], ".") {
			return 0, fmt.Errorf("%q: a bare number is a count of bytes and must be whole; %s", text, sizeForms)
		}
		unit = "B"
	}
	v, ok := new(big.Rat).SetString(m[1])
	if !ok {
		return 0, fmt.Errorf("%q is not a size; %s", text, sizeForms)
	}
	v.Mul(v, new(big.Rat).SetInt64(sizeUnits[unit]))
	floor := new(big.Int).Quo(v.Num(), v.Denom())
	if !floor.IsInt64() {
		return 0, fmt.Errorf("%q is larger than the largest size, %d bytes (8 EiB)", text, int64(math.MaxInt64))
	}
	return floor.Int64(), nil
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

// sizeSetting is a setting's apply for a byte-size field.
func sizeSetting(field func(*Config) *int64) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := parseByteSize(v)
		if err != nil {
			return err
		}
		*field(c) = n
		return nil
	}
}

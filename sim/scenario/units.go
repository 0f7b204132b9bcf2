package scenario

import (
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// numberTextBytesMax bounds the digits of a size, rate or bandwidth, so that
// exact (big.Rat) arithmetic on them stays cheap.
const numberTextBytesMax = 64

var (
	// bareNumberPattern matches what a user writes when they forget a unit.
	bareNumberPattern = regexp.MustCompile(`^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?$`)
	sizePattern       = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)(B|KiB|MiB|GiB)$`)
	ratePattern       = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)/(s|ms)$`)
	bandwidthPattern  = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)(B|kB|KB|MB|GB|TB|KiB|MiB|GiB|bit|kbit|Kbit|Mbit|Gbit)/s$`)
)

var sizeUnits = map[string]int64{"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}

// bandwidthUnits are bytes per second per unit, as a fraction (bits are 1/8).
var bandwidthUnits = map[string]*big.Rat{
	"B": big.NewRat(1, 1), "kB": big.NewRat(1e3, 1), "KB": big.NewRat(1e3, 1),
	"MB": big.NewRat(1e6, 1), "GB": big.NewRat(1e9, 1), "TB": big.NewRat(1e12, 1),
	"KiB": big.NewRat(1<<10, 1), "MiB": big.NewRat(1<<20, 1), "GiB": big.NewRat(1<<30, 1),
	"bit": big.NewRat(1, 8), "kbit": big.NewRat(1e3, 8), "Kbit": big.NewRat(1e3, 8),
	"Mbit": big.NewRat(1e6, 8), "Gbit": big.NewRat(1e9, 8),
}

// parseDurationText parses a Go-style duration. It returns a message for
// the user when text is not one.
func parseDurationText(text string) (time.Duration, string) {
	if bareNumberPattern.MatchString(text) {
		return 0, "a bare number is ambiguous; add a unit, e.g. " + text + "s or " + text + "ms"
	}
	d, err := time.ParseDuration(text)
	if err != nil {
		return 0, "bad duration " + strconv.Quote(text) + "; write a Go duration like 150ms, 2s or 1m30s"
	}
	return d, ""
}

// formatDuration writes d so that parseDurationText reads it back exactly;
// "us" replaces "µs" to keep files ASCII.
func formatDuration(d time.Duration) string {
	text := strings.ReplaceAll(d.String(), "µs", "us")
	// time.Duration.String writes 1m as "1m0s" and 1h as "1h0m0s".
	if strings.HasSuffix(text, "m0s") {
		text = strings.TrimSuffix(text, "0s")
	}
	if strings.HasSuffix(text, "h0m") {
		text = strings.TrimSuffix(text, "0m")
	}
	return text
}

// exactFloor returns floor(number * unit) for a decimal number text, or false
// when it exceeds limit.
func exactFloor(number string, unit *big.Rat, limit int64) (int64, bool) {
	value, ok := new(big.Rat).SetString(number)
	if !ok {
		return 0, false
	}
	value.Mul(value, unit)
	floor := new(big.Int).Quo(value.Num(), value.Denom())
	if floor.Cmp(big.NewInt(limit)) > 0 {
		return 0, false
	}
	return floor.Int64(), true
}

// parseSizeText parses "64B", "1KiB", "1.5MiB" into bytes (rounded down).
func parseSizeText(text string) (int64, string) {
	m := sizePattern.FindStringSubmatch(text)
	if m == nil || len(m[1]) > numberTextBytesMax {
		if bareNumberPattern.MatchString(text) {
			return 0, "a bare number is ambiguous; add a unit: B, KiB, MiB or GiB"
		}
		return 0, "bad size " + strconv.Quote(text) + "; write a number and a unit: 512B, 1KiB, 4MiB"
	}
	n, ok := exactFloor(m[1], big.NewRat(sizeUnits[m[2]], 1), ObjectBytesMax)
	if !ok {
		return 0, "size " + text + " is larger than " + formatSize(ObjectBytesMax)
	}
	return n, ""
}

// formatSize writes bytes in the largest binary unit that divides it.
func formatSize(n int64) string {
	for _, u := range []string{"GiB", "MiB", "KiB"} {
		if n != 0 && n%sizeUnits[u] == 0 {
			return strconv.FormatInt(n/sizeUnits[u], 10) + u
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

// parseRateText parses "200/s" or "0.5/ms" into operations per second.
func parseRateText(text string) (float64, string) {
	m := ratePattern.FindStringSubmatch(text)
	if m == nil || len(m[1]) > numberTextBytesMax {
		return 0, "bad rate " + strconv.Quote(text) + "; write operations per time unit: 200/s or 2/ms"
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, "bad rate " + strconv.Quote(text)
	}
	if m[2] == "ms" {
		v *= 1000
	}
	if v > RatePerSecondMax {
		return 0, "rate " + text + " is above " + formatRate(RatePerSecondMax)
	}
	return v, ""
}

// formatRate writes a per-second rate that parseRateText reads back exactly.
func formatRate(perSecond float64) string {
	return strconv.FormatFloat(perSecond, 'g', -1, 64) + "/s"
}

// parseBandwidthText parses "12.5MB/s", "100Mbit/s" into bytes per second
// (rounded down; a non-zero value that rounds to zero is an error).
func parseBandwidthText(text string) (int64, string) {
	m := bandwidthPattern.FindStringSubmatch(text)
	if m == nil || len(m[1]) > numberTextBytesMax {
		if bareNumberPattern.MatchString(text) {
			return 0, "a bare number other than 0 is ambiguous; add a unit: 12.5MB/s, 100Mbit/s, 1GB/s"
		}
		return 0, "bad bandwidth " + strconv.Quote(text) + "; write 12.5MB/s, 100Mbit/s or 1GB/s (0 = unlimited)"
	}
	n, ok := exactFloor(m[1], bandwidthUnits[m[2]], BandwidthBytesPerSecondMax)
	if !ok {
		return 0, "bandwidth " + text + " is above 1TB/s"
	}
	if n == 0 && strings.Trim(m[1], "0.") != "" {
		return 0, "bandwidth " + text + " is below 1B/s; use 0 for unlimited"
	}
	return n, ""
}

// formatBandwidth writes bytes per second in the largest decimal unit that
// expresses it with at most three decimals ("12.5MB/s"); 0 (unlimited) is
// written bare. Integer arithmetic keeps it exact.
func formatBandwidth(n int64) string {
	if n == 0 {
		return "0"
	}
	units := []struct {
		name string
		size int64
	}{{"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"kB", 1e3}}
	for _, u := range units {
		if n >= u.size && n%(u.size/1000) == 0 {
			whole := strconv.FormatInt(n/u.size, 10)
			frac := strings.TrimRight(fmt.Sprintf("%03d", n%u.size/(u.size/1000)), "0")
			if frac != "" {
				whole += "." + frac
			}
			return whole + u.name + "/s"
		}
	}
	return strconv.FormatInt(n, 10) + "B/s"
}

// formatFloat writes f so that YAML reads it back as the same float64.
func formatFloat(f float64) string {
	return strconv.FormatFloat(f, 'g', -1, 64)
}

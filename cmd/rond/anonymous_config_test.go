package main

import (
	"testing"

	"github.com/ron-network/ron/io/gateway"
)

// TestAnonymousReadRateSetting: gateway.AnonymousRateDefault by default,
// then file < env < flag; zero, negative, infinite and non-numeric rates
// are refused with exit 2 naming the setting.
func TestAnonymousReadRateSetting(t *testing.T) {
	checkSetting(t, settingSpec[float64]{
		key: "anonymous_read_rate", env: "RON_ANONYMOUS_READ_RATE", flag: "--anonymous-read-rate",
		get:   func(c Config) float64 { return c.AnonymousReadRate },
		def:   gateway.AnonymousRateDefault,
		layer: [3]settingValue[float64]{{"1000", 1000}, {"2000", 2000}, {"12.5", 12.5}},
		bad:   []string{"0", "-5", "+Inf", "NaN", "2e9", "fast"},
		names: "anonymous",
	})
}

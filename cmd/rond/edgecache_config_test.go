package main

import "testing"

// TestEdgeCacheBytesSetting: 64 MiB by default, then file < env < flag,
// 0 allowed (disables), negative and non-size values refused with exit 2
// (64MiB was refused before sizes took units; bad_input_test.go has the
// units).
func TestEdgeCacheBytesSetting(t *testing.T) {
	checkSetting(t, settingSpec[int64]{
		key: "edge_cache_bytes", env: "RON_EDGE_CACHE_BYTES", flag: "--edge-cache-bytes",
		get:   func(c Config) int64 { return c.EdgeCacheBytes },
		def:   64 << 20,
		layer: [3]settingValue[int64]{{"1000", 1000}, {"2000", 2000}, {"0", 0}},
		bad:   []string{"-1", "64 parsecs"},
		names: "edge",
	})
}

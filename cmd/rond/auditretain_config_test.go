package main

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/ron-network/ron/core/audit"
	"github.com/ron-network/ron/io/runtime"
)

// TestAuditRetainBytesSetting: 0 (audit's default, 1 GiB) when unset,
// then file < env < flag, sizes in any unit; negative, below the least
// retention and non-sizes are refused with exit 2 naming the setting.
func TestAuditRetainBytesSetting(t *testing.T) {
	checkSetting(t, settingSpec[int64]{
		key: "audit_retain_bytes", env: "RON_AUDIT_RETAIN_BYTES", flag: "--audit-retain-bytes",
		get:   func(c Config) int64 { return c.AuditRetainBytes },
		def:   0,
		layer: [3]settingValue[int64]{{"64MiB", 64 << 20}, {"2GiB", 2 << 30}, {"16777216", audit.RetainBytesMin}},
		bad:   []string{"-1", "1MiB", "lots"},
		names: "retain",
	})
	// The value reaches the audit service's config through the node spec.
	spec := runtime.NodeSpec{Key: ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)), Audit: audit.Config{RetainBytes: 64 << 20}}
	if got := spec.Describe().Audit.RetainBytes; got != 64<<20 {
		t.Fatalf("node spec carries audit retain bytes %d", got)
	}
	spec.Audit.RetainBytes = 1 << 20
	if spec.Validate() == nil {
		t.Fatal("a node spec with audit retention below the minimum validated")
	}
}

// TestAuditRetainAgeSetting: unset (no age bound) by default, then file
// < env < flag; non-durations and ages under an hour are refused.
func TestAuditRetainAgeSetting(t *testing.T) {
	checkSetting(t, settingSpec[string]{
		key: "audit_retain_age", env: "RON_AUDIT_RETAIN_AGE", flag: "--audit-retain-age",
		get:   func(c Config) string { return c.AuditRetainAge },
		def:   "",
		layer: [3]settingValue[string]{{"720h", "720h"}, {"2h", "2h"}, {"0", "0"}},
		bad:   []string{"-1h", "30m", "a month"},
		names: "audit_retain_age",
	})
	for raw, want := range map[string]time.Duration{"": 0, "0": 0, "720h": 720 * time.Hour} {
		if got, err := (Config{AuditRetainAge: raw}).auditRetainAge(); err != nil || got != want {
			t.Errorf("audit_retain_age %q: %v %v, want %v", raw, got, err, want)
		}
	}
}

package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestSegmentWritesSetting: buffered by default, env < flag, any other
// value refused with exit 2 naming the setting.
func TestSegmentWritesSetting(t *testing.T) {
	def, _, err := loadConfig(nil, envOf(nil), &bytes.Buffer{})
	if err != nil || def.SegmentWrites != segmentWritesBuffered {
		t.Fatalf("default segment writes %q (%v), want %q", def.SegmentWrites, err, segmentWritesBuffered)
	}
	cfg, _, err := loadConfig([]string{"--segment-writes", "direct"}, envOf(map[string]string{"RON_SEGMENT_WRITES": "buffered"}), &bytes.Buffer{})
	if err != nil || cfg.SegmentWrites != segmentWritesDirect {
		t.Fatalf("--segment-writes direct over RON_SEGMENT_WRITES: %q (%v)", cfg.SegmentWrites, err)
	}
	var stderr bytes.Buffer
	if code := run([]string{"--segment-writes", "sync"}, envOf(nil), &bytes.Buffer{}, &stderr); code != 2 || !strings.Contains(stderr.String(), "segment_writes") {
		t.Errorf("--segment-writes sync: exit %d, stderr %q; want 2 naming the setting", code, stderr.String())
	}
}

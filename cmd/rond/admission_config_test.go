package main

import (
	"bytes"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/core/admission"
	"github.com/ron-network/ron/io/gateway"
)

// TestAdmissionSettings: each admission setting is 0 ("" for the wait:
// the gate's default) when unset, then file < env < flag; negative,
// out-of-range and non-numeric values are refused with exit 2 naming the
// setting.
func TestAdmissionSettings(t *testing.T) {
	ints := []settingSpec[int]{
		{key: "inflight_max", env: "RON_INFLIGHT_MAX", flag: "--inflight-max", get: func(c Config) int { return c.InflightMax },
			layer: [3]settingValue[int]{{"8", 8}, {"512", 512}, {"4096", 4096}}, bad: []string{"-1", "4097"}, names: "inflight_max"},
		{key: "read_headroom", env: "RON_READ_HEADROOM", flag: "--read-headroom", get: func(c Config) int { return c.ReadHeadroom },
			layer: [3]settingValue[int]{{"1", 1}, {"32", 32}, {"255", 255}}, bad: []string{"-1", "256"}, names: "read_headroom"},
		{key: "queue_depth_max", env: "RON_QUEUE_DEPTH_MAX", flag: "--queue-depth-max", get: func(c Config) int { return c.QueueDepthMax },
			layer: [3]settingValue[int]{{"1", 1}, {"300", 300}, {"65536", 65536}}, bad: []string{"-5", "65537"}, names: "queue_depth_max"},
		{key: "writes_per_tenant_max", env: "RON_WRITES_PER_TENANT_MAX", flag: "--writes-per-tenant-max", get: func(c Config) int { return c.WritesPerTenantMax },
			layer: [3]settingValue[int]{{"1", 1}, {"100", 100}, {"192", 192}}, bad: []string{"-1", "193"}, names: "writes_per_tenant_max"},
		{key: "queued_writes_per_tenant_max", env: "RON_QUEUED_WRITES_PER_TENANT_MAX", flag: "--queued-writes-per-tenant-max", get: func(c Config) int { return c.QueuedWritesPerTenantMax },
			layer: [3]settingValue[int]{{"1", 1}, {"12", 12}, {"1024", 1024}}, bad: []string{"-1", "1025"}, names: "queued_writes_per_tenant_max"},
	}
	for _, spec := range ints {
		t.Run(spec.key, func(t *testing.T) {
			checkSetting(t, spec)
			for _, bad := range []string{"many", "1.5", ""} {
				var stderr bytes.Buffer
				code := run([]string{spec.flag, bad}, envOf(nil), &bytes.Buffer{}, &stderr)
				if code != 2 || !strings.Contains(stderr.String(), spec.flag+": ") {
					t.Errorf("%s %q: exit %d, stderr %q; want 2 naming the flag", spec.flag, bad, code, stderr.String())
				}
			}
		})
	}
	checkSetting(t, settingSpec[string]{
		key: "queue_wait_max", env: "RON_QUEUE_WAIT_MAX", flag: "--queue-wait-max", get: func(c Config) string { return c.QueueWaitMax },
		layer: [3]settingValue[string]{{"500ms", "500ms"}, {"5s", "5s"}, {"1m", "1m"}}, bad: []string{"-1s", "5ms", "2m", "soon"}, names: "queue_wait_max",
	})
}

// TestAdmissionSettingsCrossChecks: each setting is bounded by the gate's
// value of the others (a share never larger than its whole, writes keep a
// slot), in the file too, exit 2 naming the setting; what passes reaches
// the gate's configuration unchanged, and an unset one leaves the gate's
// default.
func TestAdmissionSettingsCrossChecks(t *testing.T) {
	dir := t.TempDir()
	bad := []struct{ yaml, names string }{
		{"inflight_max: 8\nread_headroom: 8\n", "read_headroom: 8 is outside 1..7"},
		{"inflight_max: 8\nread_headroom: 2\nwrites_per_tenant_max: 7\n", "writes_per_tenant_max: 7 is outside 1..6"},
		{"queue_depth_max: 10\nqueued_writes_per_tenant_max: 11\n", "queued_writes_per_tenant_max: 11 is outside 1..10"},
		{"inflight_max: 16\nrequests_per_source: 17\n", "requests_per_source: 17 is outside 1..16"},
		{"inflight_max: -2\n", "inflight_max: -2"},
		{"queue_wait_max: 2\n", "queue_wait_max"},
		{"log_level: info\ninflight_max: lots\n", ":2: inflight_max"},
	}
	for i, b := range bad {
		file := filepath.Join(dir, fmt.Sprintf("bad%d.yaml", i))
		if err := os.WriteFile(file, []byte(b.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		if code := run([]string{"--config", file}, envOf(nil), &bytes.Buffer{}, &stderr); code != 2 || !strings.Contains(stderr.String(), b.names) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", b.yaml, code, stderr.String(), b.names)
		}
	}
	cfg, _, err := loadConfig([]string{"--inflight-max", "8", "--read-headroom", "2", "--writes-per-tenant-max", "6",
		"--queue-depth-max", "10", "--queued-writes-per-tenant-max", "10", "--queue-wait-max", "250ms", "--requests-per-source", "8"}, envOf(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	gate, err := cfg.admission()
	want := admission.Config{AnonymousRate: gateway.AnonymousRateDefault, InflightMax: 8, ReadHeadroom: 2, QueueDepthMax: 10,
		QueueWaitMax: 250 * time.Millisecond, WritesPerTenantMax: 6, QueuedWritesPerTenantMax: 10}
	if err != nil || gate != want {
		t.Errorf("gate config %+v (%v), want %+v", gate, err, want)
	}
	def, _, err := loadConfig(nil, envOf(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	gate, err = def.admission()
	if err != nil || gate.WithDefaults() != (admission.Config{AnonymousRate: gateway.AnonymousRateDefault}).WithDefaults() ||
		gate.WithDefaults().InflightMax != admission.InflightMaxDefault {
		t.Errorf("unset settings: gate config %+v (%v), want the gate's defaults", gate.WithDefaults(), err)
	}
}

// TestProcessInflightMaxReachesTheGate: with --inflight-max 2 and
// --read-headroom 1 one upload whose body is still arriving holds the
// node's only write slot, so a second PUT (which would run at the
// defaults: 192 write slots, 48 per tenant) waits --queue-wait-max and is
// refused 503 OVERLOADED ("no capacity within the queue wait limit"); once the upload's connection
// closes, it is served. --requests-per-source 2 keeps the per-source
// bound (a quarter of the in-flight cap by default, here 1) from refusing
// it first.
func TestProcessInflightMaxReachesTheGate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	n := startRond(t, "--quic-addr", "127.0.0.1:0", "--inflight-max", "2", "--read-headroom", "1",
		"--requests-per-source", "2", "--queue-wait-max", "50ms")
	data := []byte("read while one upload holds the only slot")
	waitFor(t, 30*time.Second, "the first write", func() bool { return call(t, "PUT", n.url+"/o", n.token, data).status == 201 })
	u, err := url.Parse(n.url)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// One byte of a 1 MiB body: the handler holds its slot while it waits
	// for the rest (the body's rate is judged only after 10 s).
	head := fmt.Sprintf("PUT /o HTTP/1.1\r\nHost: node\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\nx", n.token, 1<<20)
	if _, err := conn.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	other := []byte("a second write, which needs a slot too")
	var refused httpAnswer
	waitFor(t, 30*time.Second, "a write refused for want of a slot", func() bool {
		refused = call(t, "PUT", n.url+"/o", n.token, other)
		return refused.status != 201
	})
	if refused.env.Code != gateway.CodeOverloaded || !strings.Contains(refused.env.Message, "queue wait") || !refused.env.Retryable {
		t.Fatalf("PUT with the only slot held: %d %+v, want 503 OVERLOADED", refused.status, refused.env)
	}
	conn.Close()
	waitFor(t, 30*time.Second, "the write served once the upload ended", func() bool { return call(t, "PUT", n.url+"/o", n.token, other).status == 201 })
}

// queue_wait_max 0 with a unit ("0s", "0ms") takes the default as "0"
// does; read_headroom under an inflight_max of 1 (no slot to spare) is
// refused saying so, not with an empty range ("outside 1..0").
func TestAdmissionSettingsZeroWaitAndTinyInflight(t *testing.T) {
	for _, v := range []string{"0", "0s", "0ms"} {
		cfg, _, err := loadConfig([]string{"--queue-wait-max", v}, envOf(nil), &bytes.Buffer{})
		if err != nil {
			t.Fatalf("--queue-wait-max %s: %v", v, err)
		}
		if gate, err := cfg.admission(); err != nil || gate.QueueWaitMax != 0 {
			t.Fatalf("--queue-wait-max %s: wait %v (%v), want 0 (the default)", v, gate.QueueWaitMax, err)
		}
	}
	var stderr bytes.Buffer
	code := run([]string{"--inflight-max", "1", "--read-headroom", "1"}, envOf(nil), &bytes.Buffer{}, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "read_headroom: 1 leaves writes no slot") || strings.Contains(stderr.String(), "1..0") {
		t.Fatalf("inflight_max 1, read_headroom 1: exit %d, stderr %q", code, stderr.String())
	}
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ron-network/ron/io/gateway"
	"github.com/ron-network/ron/io/runtime"
)

func TestFlagsConfigRefusesUnknownNamesWithTheNearest(t *testing.T) {
	file := filepath.Join(t.TempDir(), "rond.yaml")
	if err := os.WriteFile(file, []byte("flags:\n  repiar: false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runRond("config", "check", file)
	if code != 1 || !strings.Contains(errOut, `"repiar"`) || !strings.Contains(errOut, `did you mean "repair"?`) {
		t.Fatalf("config check: exit %d, %q", code, errOut)
	}
	if err := os.WriteFile(file, []byte("flags:\n  repair: false\n  anonymous_reads: false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := loadConfig([]string{"--config", file}, envOf(nil), &bytes.Buffer{})
	if err != nil || cfg.Flags["repair"] || cfg.Flags["anonymous_reads"] || cfg.ConfigFile != file {
		t.Fatalf("config: %+v %v", cfg, err)
	}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	f := newFeatureFlags(cfg.Flags, nil)
	want := map[string]bool{"anonymous_reads": false, "oap": true, "repair": false, "republish": true}
	if got := f.Flags(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("flags %v, want %v", got, want)
	}
	if spec := f.spec(runtime.NodeSpec{}); !spec.RepairOff || spec.RepublishOff {
		t.Fatalf("spec: repair off %v, republish off %v", spec.RepairOff, spec.RepublishOff)
	}
	if err := f.Set(context.Background(), "oapp", false); !errors.Is(err, gateway.ErrUnknownFlag) || !strings.Contains(err.Error(), `"oap"`) {
		t.Fatalf("unknown flag: %v", err)
	}
}

func TestFlagSetIsUndoneWhenTheNodeRefusesIt(t *testing.T) {
	f := newFeatureFlags(nil, nil)
	f.apply = func(context.Context, string, bool) error { return errors.New("not ready") }
	if err := f.Set(context.Background(), flagRepair, false); err == nil || !f.Enabled(flagRepair) {
		t.Fatalf("refused apply: err %v, flag on %v", err, f.Enabled(flagRepair))
	}
	var applied []string
	f.apply = func(_ context.Context, name string, on bool) error {
		applied = append(applied, fmt.Sprintf("%s=%t", name, on))
		return nil
	}
	if err := f.Set(context.Background(), flagRepair, false); err != nil || f.Enabled(flagRepair) || fmt.Sprint(applied) != "[repair=false]" {
		t.Fatalf("applied: %v, flag on %v, calls %v", err, f.Enabled(flagRepair), applied)
	}
}

// TestFlagsOnALiveNode runs rond with a config file that switches
// anonymous reads off, then: GET /status and /metrics show every flag;
// an anonymous read is refused; POST /admin/flags without a token is
// refused and with the root token switches repair and republish off on
// the machines and anonymous reads back on, each audited and persisted;
// editing the config file changes only the flags no override holds
// (reload), and a restart keeps the overrides.
func TestFlagsOnALiveNode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	n := newProcNode(t, "F")
	file := filepath.Join(n.dataDir, "rond.yaml")
	if err := os.WriteFile(file, []byte("flags:\n  anonymous_reads: false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n.extra = []string{"--config", file}
	n.start(t)
	n.waitReady(t)
	addr := putObject(t, n, []byte("flagged content"))
	status := func() map[string]bool {
		code, body := n.do(t, "GET", "/status", nil, false)
		var s gateway.Status
		if code != http.StatusOK || json.Unmarshal(body, &s) != nil {
			t.Fatalf("GET /status: %d %s", code, body)
		}
		// It answers anyone: the kind of node, never its data directory.
		if s.Profile != "macronode (on disk)" || strings.Contains(string(body), n.dataDir) {
			t.Fatalf("GET /status without a token shows profile %q: %s", s.Profile, body)
		}
		return s.Flags
	}
	if got := status(); got["anonymous_reads"] || !got["repair"] || !got["republish"] || !got["oap"] {
		t.Fatalf("status flags at start: %v", got)
	}
	wantMetric(t, n, `feature_flag_enabled{flag="anonymous_reads"} 0`)
	wantMetric(t, n, `feature_flag_enabled{flag="repair"} 1`)
	if code, _ := n.do(t, "GET", "/o/"+addr, nil, false); code != http.StatusUnauthorized {
		t.Fatalf("anonymous read with the flag off: %d", code)
	}
	if code, _ := n.do(t, "GET", "/o/"+addr, nil, true); code != http.StatusOK {
		t.Fatalf("read with a token with the flag off: %d", code)
	}
	flip := []byte(`{"repair": false, "republish": false, "anonymous_reads": true}`)
	if code, _ := n.do(t, "POST", "/admin/flags", flip, false); code != http.StatusUnauthorized {
		t.Fatalf("POST /admin/flags without a token: %d", code)
	}
	if code, body := n.do(t, "POST", "/admin/flags", flip, true); code != http.StatusOK {
		t.Fatalf("POST /admin/flags: %d %s", code, body)
	}
	if got := status(); !got["anonymous_reads"] || got["repair"] || got["republish"] {
		t.Fatalf("status flags after the flip: %v", got)
	}
	wantMetric(t, n, `feature_flag_enabled{flag="repair"} 0`)
	if code, body := n.do(t, "GET", "/o/"+addr, nil, false); code != http.StatusOK || string(body) != "flagged content" {
		t.Fatalf("anonymous read, flag back on: %d", code)
	}
	code, body := n.do(t, "GET", "/audit", nil, true)
	for _, subject := range []string{"flag:anonymous_reads", "flag:repair", "flag:republish"} {
		if code != http.StatusOK || !bytes.Contains(body, []byte(subject)) {
			t.Fatalf("GET /audit lacks %s: %d %s", subject, code, body)
		}
	}
	// A write to a flag-off node still works: the node stays correct.
	putObject(t, n, []byte("written with repair off"))

	// The flips are overrides, persisted in the data dir: a config file
	// edit changes the flags it alone holds (oap), not an overridden one
	// (repair), and a restart keeps every override.
	if err := os.WriteFile(file, []byte("flags:\n  repair: true\n  oap: false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, convergeTimeout, "oap off from the config file", func() (bool, string) {
		got := status()
		return !got["oap"], fmt.Sprint(got)
	})
	eventually(t, convergeTimeout, "the config file's flip of oap audited (through rond's audit queue)", func() (bool, string) {
		code, body := n.do(t, "GET", "/audit", nil, true)
		return code == http.StatusOK && bytes.Contains(body, []byte(`"actor":"rond","tenant":"","subject":"flag:oap"`)) &&
			bytes.Contains(body, []byte("(reloaded from "+file+")")), string(body)
	})
	wantSources := map[string]string{"anonymous_reads": "override", "oap": "config", "repair": "override", "republish": "override"}
	if got, src := status(), sources(t, n); got["repair"] || got["republish"] || fmt.Sprint(src) != fmt.Sprint(wantSources) {
		t.Fatalf("after the reload: flags %v, sources %v; want repair and republish still off, sources %v", got, src, wantSources)
	}
	n.kill(t)
	n.start(t)
	n.waitReady(t)
	if got, src := status(), sources(t, n); got["repair"] || got["republish"] || !got["anonymous_reads"] || got["oap"] ||
		fmt.Sprint(src) != fmt.Sprint(wantSources) {
		t.Fatalf("after a restart: flags %v, sources %v; want the overrides kept", got, src)
	}
	wantMetric(t, n, `feature_flag_enabled{flag="repair"} 0`)
}

// sources is GET /status's flag_sources.
func sources(t *testing.T, n *procNode) map[string]string {
	t.Helper()
	code, body := n.do(t, "GET", "/status", nil, false)
	var s gateway.Status
	if code != http.StatusOK || json.Unmarshal(body, &s) != nil {
		t.Fatalf("GET /status: %d %s", code, body)
	}
	return s.FlagSources
}

func wantMetric(t *testing.T, n *procNode, line string) {
	t.Helper()
	code, body := n.do(t, "GET", "/metrics", nil, false)
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		if sc.Text() == line {
			return
		}
	}
	t.Fatalf("/metrics (%d) lacks %q", code, line)
}

// TestOAPFlagOffRefusesOAPAndKeepsHTTP: with the flag oap off (config
// file) every OAP/1 request answers 503 naming the flag while HTTP serves
// the same object; POST /admin/flags switches OAP/1 back on live.
func TestOAPFlagOffRefusesOAPAndKeepsHTTP(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	file := filepath.Join(t.TempDir(), "rond.yaml")
	if err := os.WriteFile(file, []byte("flags:\n  oap: false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := startRond(t, "--quic-addr", "127.0.0.1:0", "--oap-addr", "127.0.0.1:0", "--config", file)
	oapAddr := n.oap // bound by rond: no free port picked and released
	ronctl := buildRonctl(t)
	node := &procNode{name: "oap", url: n.url, token: n.token}
	node.waitReadyURL(t)
	addr := putObject(t, node, []byte("served over HTTP, OAP/1 off"))
	over := []string{"--oap", oapAddr, "--node-id", n.id}
	if _, errOut, code := ctl(t, ronctl, append(over, "cat", addr)...); code != 1 || !strings.Contains(errOut, "503") || !strings.Contains(errOut, "flag oap") {
		t.Fatalf("ronctl --oap cat with the flag off: exit %d %s", code, errOut)
	}
	if code, body := node.do(t, "GET", "/o/"+addr, nil, false); code != http.StatusOK || string(body) != "served over HTTP, OAP/1 off" {
		t.Fatalf("HTTP GET with oap off: %d", code)
	}
	if code, body := node.do(t, "POST", "/admin/flags", []byte(`{"oap": true}`), true); code != http.StatusOK {
		t.Fatalf("POST /admin/flags: %d %s", code, body)
	}
	if out, errOut, code := ctl(t, ronctl, append(over, "cat", addr)...); code != 0 || out != "served over HTTP, OAP/1 off" {
		t.Fatalf("ronctl --oap cat with the flag back on: exit %d %q %s", code, out, errOut)
	}
}

// waitReadyURL polls /readyz of a node started by startRond.
func (n *procNode) waitReadyURL(t *testing.T) {
	t.Helper()
	eventually(t, startDeadline, "/readyz", func() (bool, string) {
		code, body := n.do(t, "GET", "/readyz", nil, false)
		return code == http.StatusOK, fmt.Sprintf("%d %s", code, body)
	})
}

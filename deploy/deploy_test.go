package deploy_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/specs/slo"
	// The packages rond links, so that env.Catalog() here is rond's.
	_ "github.com/ron-network/ron/io/gateway"
	_ "github.com/ron-network/ron/io/oapgate"
	_ "github.com/ron-network/ron/io/pebbledisk"
	_ "github.com/ron-network/ron/io/quicnet"
	_ "github.com/ron-network/ron/io/runtime"
)

// promtool returns the promtool path. Without it the test fails in CI
// (CI set, as .ci/run and most CI services do), so a broken install cannot
// pass the alert tests silently; elsewhere it skips, naming the package
// that provides it.
func promtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		const why = "promtool not installed (Debian: apt-get install prometheus; .ci/run does this)"
		if inCI() {
			t.Fatal(why + ": CI is set, so the promtool checks must run")
		}
		t.Skip(why + ": skipping the promtool check outside CI")
	}
	return path
}

// inCI reports whether CI is set to something other than "" or "false".
func inCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v != "" && v != "false" && v != "0"
}

func runPromtool(t *testing.T, stdin []byte, args ...string) {
	t.Helper()
	cmd := exec.Command(promtool(t), args...)
	cmd.Dir = "prometheus"
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestPrometheusConfigAndRules: the sample config and alert rules are
// valid, and the alerts fire exactly as their unit tests expect.
func TestPrometheusConfigAndRules(t *testing.T) {
	runPromtool(t, nil, "check", "config", "prometheus.yml")
	runPromtool(t, nil, "check", "rules", "alerts.yml")
	runPromtool(t, nil, "test", "rules", "alerts_test.yml")
}

// TestEverySLOHasATestedAlert: every objective of specs/slo that a metric
// measures names an alert of alerts.yml, and every alert of alerts.yml has
// a unit test in alerts_test.yml that expects it to fire.
func TestEverySLOHasATestedAlert(t *testing.T) {
	alerts := map[string]bool{}
	for _, g := range readRules(t).Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = true
		}
	}
	for _, o := range slo.Seed {
		if o.Alert != "" && !alerts[o.Alert] {
			t.Errorf("SLO %s names alert %s, which alerts.yml lacks", o.Name, o.Alert)
		}
	}
	data, err := os.ReadFile("prometheus/alerts_test.yml")
	if err != nil {
		t.Fatal(err)
	}
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string
				ExpAlerts []map[string]any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		}
	}
	if err := yaml.Unmarshal(data, &tests); err != nil {
		t.Fatal(err)
	}
	fires := map[string]bool{}
	for _, test := range tests.Tests {
		for _, a := range test.AlertRuleTest {
			fires[a.Alertname] = fires[a.Alertname] || len(a.ExpAlerts) > 0
		}
	}
	untested := []string{"RonGatewayShedding", "RonHandshakeFailures"} // operational alerts, not seed SLOs
	for name := range alerts {
		if !fires[name] && !slices.Contains(untested, name) {
			t.Errorf("alert %s has no test in alerts_test.yml that expects it to fire", name)
		}
	}
}

func readRules(t *testing.T) ruleFile {
	t.Helper()
	data, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rules ruleFile
	if err := yaml.Unmarshal(data, &rules); err != nil {
		t.Fatal(err)
	}
	return rules
}

type ruleFile struct {
	Groups []struct {
		Name  string
		Rules []struct {
			Alert string
			Expr  string
		}
	}
}

// promqlWords are identifiers with an underscore in alerts.yml that are not
// metric names.
var promqlWords = map[string]bool{"histogram_quantile": true, "clamp_min": true, "clamp_max": true, "quantile_over_time": true}

var (
	quoted     = regexp.MustCompile(`"[^"]*"`)
	identifier = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
)

// metricsOf returns the metric names expr reads: identifiers with an
// underscore, outside quoted label values, that are not PromQL functions,
// with histogram series suffixes removed.
func metricsOf(expr string) []string {
	var out []string
	for _, w := range identifier.FindAllString(quoted.ReplaceAllString(expr, `""`), -1) {
		if !strings.Contains(w, "_") || promqlWords[w] {
			continue
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(w, suffix); ok {
				if d, declared := env.LookupMetric(base); declared && d.Kind == env.Histogram {
					w = base
				}
			}
		}
		out = append(out, w)
	}
	return out
}

// rondMetrics are the metrics alerts read that cmd/rond declares itself,
// with their types: a main package, which this test cannot link, so
// env.Catalog() here lacks them. TestLiveMetricsPassPromtool checks that
// a live rond exports each.
var rondMetrics = map[string]string{"audit_records_dropped_total": "counter"}

// TestAlertsReadDeclaredMetrics: a misspelt metric in an alert would never
// fire; every metric an alert reads must be one rond declares (histograms
// through their _bucket series).
func TestAlertsReadDeclaredMetrics(t *testing.T) {
	rules := readRules(t)
	alerts := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			alerts++
			names := metricsOf(r.Expr)
			if len(names) == 0 && !strings.Contains(r.Expr, "up{") {
				t.Errorf("%s: reads no metric: %s", r.Alert, r.Expr)
			}
			for _, name := range names {
				if _, ok := env.LookupMetric(name); !ok && rondMetrics[name] == "" {
					t.Errorf("%s reads %s, which rond does not declare", r.Alert, name)
				}
			}
		}
	}
	if alerts < 10 {
		t.Fatalf("alerts.yml has %d alerts; the file did not parse as expected", alerts)
	}
	if got := metricsOf(`rate(not_declared_total{code=~"5.."}[5m])`); len(got) != 1 || got[0] != "not_declared_total" {
		t.Fatalf("metricsOf does not find a metric name: %v", got)
	}
}

// designMetric is one metric of ARCHITECTURE section 8: its kind and label as
// the design states them ("" when it names none).
type designMetric struct {
	name  string
	kind  env.MetricKind
	label string
}

// designMetrics is ARCHITECTURE section 8's list. Latency names are histograms
// ("Latency histograms are _seconds"); node_startup_seconds and
// registry_snapshot_age_seconds are single values (a duration once, an
// age now), so gauges; dht_lookup_hops is a distribution (p99 SLO).
var designMetrics = []designMetric{
	{"overlay_rpc_latency_seconds", env.Histogram, ""},
	{"overlay_peer_queue_depth", env.Gauge, "dir"},
	{"overlay_peer_dropped_total", env.Counter, ""},
	{"overlay_reconnects_total", env.Counter, ""},
	{"dht_lookup_latency_seconds", env.Histogram, ""},
	{"dht_lookup_hops", env.Histogram, ""},
	{"dht_bucket_fill_ratio", env.Gauge, ""},
	{"dht_timeouts_total", env.Counter, ""},
	{"omnigate_request_latency_seconds", env.Histogram, ""},
	{"omnigate_requests_total", env.Counter, "code"},
	{"omnigate_shed_total", env.Counter, "reason"},
	{"gateway_route_latency_seconds", env.Histogram, "route"},
	{"transport_handshake_fail_total", env.Counter, "reason"},
	{"storage_put_latency_seconds", env.Histogram, ""},
	{"storage_get_latency_seconds", env.Histogram, ""},
	{"storage_replication_lag_seconds", env.Histogram, ""},
	{"index_resolve_latency_seconds", env.Histogram, ""},
	{"auth_verify_latency_seconds", env.Histogram, ""},
	{"kms_rotation_events_total", env.Counter, ""},
	{"edge_cache_hit_ratio", env.Gauge, ""},
	{"bus_publish_latency_seconds", env.Histogram, ""},
	{"bus_dropped_total", env.Counter, "subscriber"},
	{"service_restarts_total", env.Counter, ""},
	{"registry_snapshot_age_seconds", env.Gauge, ""},
	{"audit_append_latency_seconds", env.Histogram, ""},
	{"node_startup_seconds", env.Gauge, ""},
	{"node_ready_state", env.Gauge, ""},
}

// notInRond are the section 8 metrics rond cannot export yet, and why.
var notInRond = map[string]string{}

// TestDesignMetricsDeclared: every section 8 metric that applies to rond
// is declared (so exported by io/runtime's registry) with the design's
// kind and, where the design names one, its label.
func TestDesignMetricsDeclared(t *testing.T) {
	for _, want := range designMetrics {
		got, ok := env.LookupMetric(want.name)
		if why, skip := notInRond[want.name]; skip {
			if ok {
				t.Errorf("%s is now declared: remove it from notInRond (%s)", want.name, why)
			}
			continue
		}
		switch {
		case !ok:
			t.Errorf("%s (ARCHITECTURE section 8) is not declared by any package rond links", want.name)
		case got.Kind != want.kind:
			t.Errorf("%s has kind %d, want %d", want.name, got.Kind, want.kind)
		case want.label != "" && got.Label != want.label:
			t.Errorf("%s has label %q, want {%s}", want.name, got.Label, want.label)
		}
	}
}

var bannerURL = regexp.MustCompile(`^\s+http\s+(http://\S+)`)

// startRond builds rond, starts a micronode on ephemeral loopback ports and
// returns its URL and root token; the process is killed at cleanup.
func startRond(t *testing.T) (url, token string) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "rond")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/ron-network/ron/cmd/rond").CombinedOutput(); err != nil {
		t.Fatalf("go build rond: %v\n%s", err, out)
	}
	tokenFile := filepath.Join(dir, "root.token")
	cmd := exec.Command(bin, "--http-addr", "127.0.0.1:0", "--quic-addr", "127.0.0.1:0", "--root-token-file", tokenFile)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := bannerURL.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
				_, _ = io.Copy(io.Discard, stdout)
				return
			}
		}
		close(found)
	}()
	select {
	case url = <-found:
	case <-time.After(60 * time.Second):
		t.Fatal("rond did not print its address")
	}
	if url == "" {
		t.Fatal("rond exited before printing its address")
	}
	text, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	return url, strings.TrimSpace(string(text))
}

func request(t *testing.T, method, url, token string, body []byte, header ...string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data
}

var promType = map[env.MetricKind]string{env.Counter: "counter", env.Gauge: "gauge", env.Histogram: "histogram"}

// TestLiveMetricsPassPromtool scrapes a running rond after some traffic
// (puts, gets, a range, a refused token, a miss) and checks the scrape:
// promtool check metrics finds no problem, every unlabelled declared
// metric is exported with its declared type, and the labelled gateway
// metrics carry the codes and routes of the traffic.
func TestLiveMetricsPassPromtool(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs rond")
	}
	url, token := startRond(t)
	body := bytes.Repeat([]byte("metrics "), 1<<15)
	code, resp := request(t, "PUT", url+"/o", token, body)
	if code != http.StatusCreated {
		t.Fatalf("PUT: %d %s", code, resp)
	}
	addr := regexp.MustCompile(`b3:[0-9a-f]{64}`).Find(resp)
	if code, _ := request(t, "GET", url+"/o/"+string(addr), "", nil); code != http.StatusOK {
		t.Fatalf("GET: %d", code)
	}
	if code, _ := request(t, "GET", url+"/o/"+string(addr), "", nil, "Range", "bytes=0-9"); code != http.StatusPartialContent {
		t.Fatalf("GET range: %d", code)
	}
	if code, _ := request(t, "PUT", url+"/o", "not-a-token", body); code != http.StatusUnauthorized {
		t.Fatalf("PUT with a bad token: %d, want 401", code)
	}
	code, scrape := request(t, "GET", url+"/metrics", "", nil)
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}

	text := string(scrape)
	for _, def := range env.Catalog() {
		// A labelled counter series appears with its first observation,
		// unless its label value is known up front: then it is at 0 from
		// the start, so that increase() sees the first event.
		for _, value := range def.LabelValues {
			if series := fmt.Sprintf("%s{%s=%q} ", def.Name, def.Label, value); !strings.Contains(text, series) {
				t.Errorf("the scrape lacks %s", series)
			}
		}
		if def.Label != "" {
			continue
		}
		if line := fmt.Sprintf("# TYPE %s %s\n", def.Name, promType[def.Kind]); !strings.Contains(text, line) {
			t.Errorf("the scrape lacks %q", strings.TrimSpace(line))
		}
	}
	for name, typ := range rondMetrics {
		if line := fmt.Sprintf("# TYPE %s %s\n", name, typ); !strings.Contains(text, line) {
			t.Errorf("the scrape lacks %q (cmd/rond's own metric)", strings.TrimSpace(line))
		}
	}
	if !strings.Contains(text, `service_restarts_total{service="node"} 0`) || !strings.Contains(text, `kms_rotation_events_total{key="root"} 0`) {
		t.Error("the scrape lacks the restart or rotation series at zero")
	}
	for _, series := range []string{`omnigate_requests_total{code="201"}`, `omnigate_requests_total{code="401"}`,
		`omnigate_requests_total{code="206"}`, `gateway_route_latency_seconds_bucket{route=`,
		`auth_verify_latency_seconds_count`, `storage_put_latency_seconds_count`} {
		if !strings.Contains(text, series) {
			t.Errorf("the scrape lacks %s", series)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", text)
	}
	runPromtool(t, scrape, "check", "metrics")
}

// TestComposeNodesShareKeys: every node of the compose cluster reads the
// same capability key and admin key, from the one host folder the script
// fills (keys/shared), and lists the same --admin-keys, as cmd/rond's
// doc.go requires of nodes that verify each other's tokens and commit
// revocations in one registry. Without it node1's tokens are bad_mac on
// node2 and a revoke is refused (403: the registry does not list the
// node's admin key).
func TestComposeNodesShareKeys(t *testing.T) {
	text, err := os.ReadFile(filepath.Join("compose", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Services map[string]struct {
			Command []string `yaml:"command"`
			Volumes []string `yaml:"volumes"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(text, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Services) < 2 {
		t.Fatalf("compose file has %d services, want the cluster's nodes", len(file.Services))
	}
	want := map[string]string{
		"--cap-key-file":   "/shared/cap.key",
		"--admin-key-file": "/shared/admin.key",
		"--admin-keys":     "${RON_ADMIN_KEYS:?run make cluster-up}",
	}
	for name, svc := range file.Services {
		got := map[string]string{}
		for _, arg := range svc.Command {
			if k, v, ok := strings.Cut(arg, "="); ok {
				got[k] = v
			}
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %s=%q, want %q (shared by every node)", name, k, got[k], v)
			}
		}
		if !slices.Contains(svc.Volumes, "${RON_CLUSTER_STATE}/keys/shared:/shared:ro") {
			t.Errorf("%s: volumes %q do not mount the shared key folder read-only at /shared", name, svc.Volumes)
		}
	}
}

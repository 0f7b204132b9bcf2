package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestConfigCheckRefusesSilentEdges: what the YAML library would read
// silently as something else is refused by rond config check, naming the
// file, the line and the key: a flag without a value (null, decoded as
// false), a second YAML document (never read), a fraction for an integer
// setting (truncated), an address whose port is out of range (which
// failed only at start); and a value-range error carries the line too.
func TestConfigCheckRefusesSilentEdges(t *testing.T) {
	for _, c := range []struct {
		name, text string
		want       []string // in stderr: the first after the file name
	}{
		{"null flag", "log_format: json\nflags:\n  repair:\n", []string{":3: flags: repair has no value"}},
		{"second document", "log_format: json\n---\nbogus_key: 1\n", []string{":2: a second YAML document"}},
		{"second document after empty one", "log_format: json\n---\n# c\n---\nrepair: 1\n", []string{":4: a second YAML document"}},
		{"aliased fraction", "anonymous_read_rate: &n 1.5\nnames_per_tenant: *n\n", []string{":2: names_per_tenant: 1.5 is not a whole number"}},
		{"aliased null flag", "audit_retain_age: &z ~\nflags: {repair: *z}\n", []string{":2: flags: repair has no value"}},
		{"fraction", "log_format: json\nnames_per_tenant: 1.5\n", []string{":2: names_per_tenant: 1.5 is not a whole number"}},
		{"fraction requests", "requests_per_source: 0.5\n", []string{":1: requests_per_source: 0.5 is not a whole number"}},
		{"http port", "log_format: json\nhttp_addr: 127.0.0.1:99999\n", []string{":2: http_addr:", "99999", "65535"}},
		{"quic port", "quic_addr: 127.0.0.1:-1\n", []string{":1: quic_addr:", "65535"}},
		{"service-name port", "http_addr: 127.0.0.1:http\n", []string{":1: http_addr:", "want a numeric port from 0 to 65535"}},
		{"empty port", "quic_addr: \"127.0.0.1:\"\n", []string{":1: quic_addr:", "want a numeric port"}},
		{"oap port", "oap_addr: 127.0.0.1:65536\n", []string{":1: oap_addr:", "65536"}},
		{"bootstrap port", "bootstrap: [\"" + strings.Repeat("ab", 32) + "@127.0.0.1:0\"]\n", []string{":1: bootstrap:", "from 1 to 65535"}},
		{"rate range", "log_format: json\n\nanonymous_read_rate: -5\n", []string{":3: anonymous_read_rate: -5 is not a rate"}},
	} {
		file := writeFile(t, "c.yaml", c.text)
		out, errOut, code := runRond("config", "check", file)
		if code != 1 || out != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 1", c.name, code, out, errOut)
			continue
		}
		if !strings.Contains(errOut, file+c.want[0]) {
			t.Errorf("%s: stderr %q, want %q", c.name, errOut, file+c.want[0])
		}
		for _, w := range c.want[1:] {
			if !strings.Contains(errOut, w) {
				t.Errorf("%s: stderr %q, want %q in it", c.name, errOut, w)
			}
		}
	}
	// Still accepted: whole numbers written as floats, a flag with a
	// value, oap_addr off, port 0 (a free port) for a listener.
	file := writeFile(t, "ok.yaml", "names_per_tenant: 2.0\nrequests_per_source: 1e1\nflags:\n  repair: false\noap_addr: \"off\"\nhttp_addr: 127.0.0.1:0\nquic_addr: \"[::1]:65535\"\n")
	if out, errOut, code := runRond("config", "check", file); code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("good file: exit %d, %q %q", code, out, errOut)
	}
	// An empty trailing document has no keys to miss: accepted, as
	// before the check for a second document.
	for _, text := range []string{"log_format: json\n---\n", "log_format: json\n---\n# nothing here\n", "log_format: json\n---\n---\n"} {
		file := writeFile(t, "ok.yaml", text)
		if out, errOut, code := runRond("config", "check", file); code != 0 || !strings.Contains(out, "ok") {
			t.Errorf("empty trailing document %q: exit %d, %q %q", text, code, out, errOut)
		}
	}
}

// TestConfigValueErrorLines: at start too, a value error of a setting the
// file set names the file's line; when a flag overrides that setting the
// error is the flag's, without the file's line.
func TestConfigValueErrorLines(t *testing.T) {
	file := writeFile(t, "c.yaml", "log_format: json\nanonymous_read_rate: -5\n")
	_, _, err := loadConfig([]string{"--config", file}, envOf(nil), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), file+":2: anonymous_read_rate:") {
		t.Fatalf("file value: %v", err)
	}
	file = writeFile(t, "c.yaml", "log_format: json\nanonymous_read_rate: 5\n")
	_, _, err = loadConfig([]string{"--config", file, "--anonymous-read-rate", "-5"}, envOf(nil), &bytes.Buffer{})
	if err == nil || strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "anonymous_read_rate") {
		t.Fatalf("flag over file: %v", err)
	}
	file = writeFile(t, "c.yaml", "flags:\n  repair:\n")
	if _, _, err := loadConfig([]string{"--config", file}, envOf(nil), &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), file+":2: flags: repair") {
		t.Fatalf("null flag at start: %v", err)
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func runRond(args ...string) (stdout, stderr string, code int) {
	var out, errOut bytes.Buffer
	code = run(args, envOf(nil), &out, &errOut)
	return out.String(), errOut.String(), code
}

func TestHelpGoesToStdoutAndExits0(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"--data-dir", "x", "--help"}} {
		out, errOut, code := runRond(args...)
		if code != 0 || errOut != "" || !strings.Contains(out, "Usage: rond") || !strings.Contains(out, "-http-addr") {
			t.Errorf("rond %v: exit %d, stderr %q, stdout %.80q; want the usage on stdout and exit 0", args, code, errOut, out)
		}
	}
	out, errOut, code := runRond("config", "--help")
	if code != 0 || errOut != "" || !strings.Contains(out, "rond config check FILE") {
		t.Errorf("rond config --help: exit %d, stderr %q, stdout %q", code, errOut, out)
	}
}

func TestUnknownFlagIsOneLineWithAPointerToHelp(t *testing.T) {
	out, errOut, code := runRond("--http-adr", "127.0.0.1:1")
	if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "http-adr") || !strings.Contains(errOut, "rond --help") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want exit 2 and one line naming the flag and 'rond --help'", code, out, errOut)
	}
}

func TestVersionNamesGoAndRevision(t *testing.T) {
	for _, arg := range []string{"--version", "version"} {
		out, _, code := runRond(arg)
		if code != 0 || !strings.HasPrefix(out, "rond ") || !strings.Contains(out, "go1.") || !strings.Contains(out, "revision ") {
			t.Errorf("rond %s: exit %d, %q", arg, code, out)
		}
	}
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigTypoNamesFileLineAndNearestKey(t *testing.T) {
	file := writeFile(t, "rond.yaml", "log_level: info\n# a comment\nhttp_adr: 127.0.0.1:9\n")
	_, errOut, code := runRond("--config", file)
	for _, want := range []string{file + ":3:", `unknown key "http_adr"`, `did you mean "http_addr"?`} {
		if code != 2 || !strings.Contains(errOut, want) {
			t.Errorf("exit %d, stderr %q; want 2 and %q", code, errOut, want)
		}
	}
	// Nothing close: the known keys are listed instead of a wild guess.
	far := writeFile(t, "far.yaml", "zzzzzzzzzz: 1\n")
	if _, errOut, _ := runRond("--config", far); !strings.Contains(errOut, "known keys: data_dir, http_addr") || strings.Contains(errOut, "did you mean") {
		t.Errorf("far key: %q", errOut)
	}
	bad := writeFile(t, "type.yaml", "http_addr: 127.0.0.1:9\nedge_cache_bytes: lots\n")
	if _, errOut, code := runRond("--config", bad); code != 2 || !strings.Contains(errOut, bad+":2:") || !strings.Contains(errOut, "lots") {
		t.Errorf("type error: exit %d, %q; want %s:2: naming the value", code, errOut, bad)
	}
}

func TestNearestKey(t *testing.T) {
	keys := configKeys()
	for typo, want := range map[string]string{"http_adr": "http_addr", "quic_address": "quic_addr", "dat_dir": "data_dir",
		"loglevel": "log_level", "policy": "policy", "x": ""} {
		if got := nearestKey(typo, keys); got != want {
			t.Errorf("nearestKey(%q) = %q, want %q", typo, got, want)
		}
	}
}

func TestConfigCheck(t *testing.T) {
	good := writeFile(t, "good.yaml", "http_addr: 127.0.0.1:9000\nlog_format: json\n")
	if out, errOut, code := runRond("config", "check", good); code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("good file: exit %d, %q %q", code, out, errOut)
	}
	typo := writeFile(t, "typo.yaml", "http_adr: 127.0.0.1:9000\n")
	if _, errOut, code := runRond("config", "check", typo); code != 1 || !strings.Contains(errOut, typo+":1:") || !strings.Contains(errOut, `"http_addr"`) {
		t.Fatalf("typo: exit %d, %q", code, errOut)
	}
	invalid := writeFile(t, "invalid.yaml", "log_format: xml\n")
	if _, errOut, code := runRond("config", "check", invalid); code != 1 || !strings.Contains(errOut, "log_format") {
		t.Fatalf("invalid value: exit %d, %q", code, errOut)
	}
	if _, errOut, code := runRond("config", "check", filepath.Join(t.TempDir(), "missing.yaml")); code != 1 || errOut == "" {
		t.Fatalf("missing file: exit %d, %q", code, errOut)
	}
	if _, _, code := runRond("config", "frobnicate"); code != 2 {
		t.Fatalf("unknown config command: exit %d", code)
	}
}

func TestConfigSchemaCoversEveryKey(t *testing.T) {
	out, errOut, code := runRond("config", "schema")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var schema struct {
		Schema     string `json:"$schema"`
		Additional *bool  `json:"additionalProperties"`
		Properties map[string]struct {
			Type    any `json:"type"`
			Default any `json:"default"`
		}
	}
	if err := json.Unmarshal([]byte(out), &schema); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if schema.Additional == nil || *schema.Additional || !strings.Contains(schema.Schema, "json-schema.org") {
		t.Fatalf("schema header: %+v", schema)
	}
	want := map[reflect.Kind]string{reflect.String: "string", reflect.Bool: "boolean", reflect.Int64: "integer", reflect.Int: "integer",
		reflect.Float64: "number", reflect.Slice: "array", reflect.Map: "object"}
	ty := reflect.TypeOf(Config{})
	keys := 0
	for i := 0; i < ty.NumField(); i++ {
		key, _, _ := strings.Cut(ty.Field(i).Tag.Get("yaml"), ",")
		if key == "-" {
			continue // not a file key (ConfigFile)
		}
		keys++
		prop, ok := schema.Properties[key]
		wantType := any(want[ty.Field(i).Type.Kind()])
		if slices.Contains(sizeKeys(), key) {
			wantType = []any{"string", "integer"} // TestSchemaSizeKeys checks these
		}
		if !ok || !reflect.DeepEqual(prop.Type, wantType) {
			t.Errorf("yaml key %q (%s): schema has %+v (present %v)", key, ty.Field(i).Type, prop, ok)
		}
	}
	if len(schema.Properties) != keys {
		t.Errorf("schema has %d properties, Config %d keys", len(schema.Properties), keys)
	}
	if d := schema.Properties["http_addr"].Default; d != defaults().HTTPAddr {
		t.Errorf("http_addr default %v", d)
	}
}

// A second rond on the same port says which setting, that another rond
// may hold it, and the flag that moves it.
func TestPortInUseNamesSettingAndFlag(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	cases := []struct {
		args          []string
		setting, addr string
	}{
		{[]string{"--http-addr", tcp.Addr().String(), "--quic-addr", "127.0.0.1:0", "--oap-addr", "off"}, "http_addr", tcp.Addr().String()},
		{[]string{"--http-addr", "127.0.0.1:0", "--quic-addr", udp.LocalAddr().String(), "--oap-addr", "off"}, "quic_addr", udp.LocalAddr().String()},
	}
	for _, c := range cases {
		_, errOut, code := runRond(append(c.args, "--log-level", "error")...)
		flagName := "--" + strings.ReplaceAll(c.setting, "_", "-")
		for _, want := range []string{c.setting, c.addr, "already in use", "another rond", flagName} {
			if code != 2 || !strings.Contains(errOut, want) {
				t.Errorf("%s busy: exit %d, stderr %q; want 2 and %q", c.setting, code, errOut, want)
			}
		}
	}
}

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "rond.yaml")
	yaml := "http_addr: 127.0.0.1:1001\nquic_addr: 127.0.0.1:2001\nlog_format: json\nbootstrap: []\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := envOf(map[string]string{"RON_QUIC_ADDR": "127.0.0.1:2002", "RON_LOG_FORMAT": "text"})
	cfg, _, err := loadConfig([]string{"--config", file, "--log-format", "json"}, env, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	// http from the file, quic from env (over the file), log format from
	// the flag (over env, over the file).
	if cfg.HTTPAddr != "127.0.0.1:1001" || cfg.QUICAddr != "127.0.0.1:2002" || cfg.LogFormat != "json" {
		t.Fatalf("got %+v", cfg)
	}
	def, _, err := loadConfig(nil, envOf(nil), &bytes.Buffer{})
	if err != nil || def.HTTPAddr != "127.0.0.1:8080" || def.QUICAddr != "127.0.0.1:7070" || def.DataDir != "" {
		t.Fatalf("defaults: %+v %v", def, err)
	}
}

func TestBadConfigNamesTheSettingAndExits2(t *testing.T) {
	dir := t.TempDir()
	unknown := filepath.Join(dir, "unknown.yaml")
	_ = os.WriteFile(unknown, []byte("http_adr: x\n"), 0o600)
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--http-addr", "nonsense"}, nil, "http_addr"},
		{nil, map[string]string{"RON_LOG_FORMAT": "xml"}, "log_format"},
		{[]string{"--bootstrap", "zz@127.0.0.1:1"}, nil, "bootstrap"},
		{[]string{"--replicas", "abc"}, nil, "replicas"},
		{[]string{"--config", unknown}, nil, "http_adr"},
		{[]string{"--registry-replica=maybe"}, nil, "registry-replica"},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		code := run(c.args, envOf(c.env), &stdout, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v %v: exit %d, stderr %q; want 2 naming %s", c.args, c.env, code, stderr.String(), c.want)
		}
	}
}

func TestVersion(t *testing.T) {
	var stdout bytes.Buffer
	if code := run([]string{"--version"}, envOf(nil), &stdout, &bytes.Buffer{}); code != 0 || !strings.HasPrefix(stdout.String(), "rond ") {
		t.Fatalf("exit %d output %q", code, stdout.String())
	}
}

func TestNodeKeyPersistsWithMode0600(t *testing.T) {
	dir := t.TempDir()
	k1, err := nodeKey(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	k2, err := nodeKey(Config{DataDir: dir})
	if err != nil || !k1.Equal(k2) {
		t.Fatalf("second start got a different key (%v)", err)
	}
	st, err := os.Stat(filepath.Join(dir, "node.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("node.key mode %v (%v), want 0600", st.Mode().Perm(), err)
	}
}

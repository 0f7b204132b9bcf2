package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// settingSpec describes one numeric setting that rond reads from its
// file, its environment and its flags, so that every such setting's test
// checks the same contract: its default when unset, then file < env <
// flag, then bad flag values refused with exit 2 naming the setting.
type settingSpec[T comparable] struct {
	key   string // the file key, e.g. "names_per_tenant"
	env   string // the environment variable, e.g. "RON_NAMES_PER_TENANT"
	flag  string // the flag, e.g. "--names-per-tenant"
	get   func(Config) T
	def   T // the value when nothing sets it
	layer [3]settingValue[T]
	bad   []string // flag values that must be refused
	names string   // what stderr must contain for a refusal
}

// settingValue is one layer's raw text and the value it must load as.
type settingValue[T comparable] struct {
	raw  string
	want T
}

// checkSetting checks spec's contract: layer[0] is written to the file,
// layer[1] to the environment and layer[2] to the flag, each one on top
// of the ones before it, so each must win over those below.
func checkSetting[T comparable](t *testing.T, spec settingSpec[T]) {
	t.Helper()
	def, _, err := loadConfig(nil, envOf(nil), &bytes.Buffer{})
	if err != nil || spec.get(def) != spec.def {
		t.Fatalf("default %s %v (%v), want %v", spec.key, spec.get(def), err, spec.def)
	}
	file := filepath.Join(t.TempDir(), "rond.yaml")
	if err := os.WriteFile(file, []byte(spec.key+": "+spec.layer[0].raw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{spec.env: spec.layer[1].raw}
	cases := []struct {
		args []string
		env  map[string]string
		want T
	}{
		{[]string{"--config", file}, nil, spec.layer[0].want},
		{[]string{"--config", file}, env, spec.layer[1].want},
		{[]string{"--config", file, spec.flag, spec.layer[2].raw}, env, spec.layer[2].want},
	}
	for _, c := range cases {
		cfg, _, err := loadConfig(c.args, envOf(c.env), &bytes.Buffer{})
		if err != nil || spec.get(cfg) != c.want {
			t.Errorf("%v %v: %v (%v), want %v", c.args, c.env, spec.get(cfg), err, c.want)
		}
	}
	for _, bad := range spec.bad {
		var stderr bytes.Buffer
		code := run([]string{spec.flag, bad}, envOf(nil), &bytes.Buffer{}, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), spec.names) {
			t.Errorf("%s %s: exit %d, stderr %q; want 2 naming the setting", spec.flag, bad, code, stderr.String())
		}
	}
}

// checkBoolSetting checks the contract of a boolean setting that is off
// by default: file < env < flag (a bare flag turns it on, flag=false off)
// and a value that is not a boolean, in the flag, the environment or the
// file, refused with exit 2 naming the setting.
func checkBoolSetting(t *testing.T, key, env, flag string, get func(Config) bool) {
	t.Helper()
	def, _, err := loadConfig(nil, envOf(nil), &bytes.Buffer{})
	if err != nil || get(def) {
		t.Fatalf("default %s %v (%v), want false", key, get(def), err)
	}
	file := filepath.Join(t.TempDir(), "rond.yaml")
	if err := os.WriteFile(file, []byte(key+": true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	off := map[string]string{env: "false"}
	on := map[string]string{env: "true"}
	for _, c := range []struct {
		args []string
		env  map[string]string
		want bool
	}{
		{[]string{"--config", file}, nil, true},
		{[]string{"--config", file}, off, false},
		{[]string{"--config", file, flag}, off, true},
		{[]string{"--config", file, flag + "=false"}, nil, false},
		{nil, on, true},
		{[]string{flag}, nil, true},
		{[]string{flag + "=false"}, nil, false},
	} {
		cfg, _, err := loadConfig(c.args, envOf(c.env), &bytes.Buffer{})
		if err != nil || get(cfg) != c.want {
			t.Errorf("%v %v: %s %v (%v), want %v", c.args, c.env, key, get(cfg), err, c.want)
		}
	}
	bad := filepath.Join(t.TempDir(), "rond.yaml")
	if err := os.WriteFile(bad, []byte(key+": sometimes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, b := range []struct {
		args []string
		env  map[string]string
		name string
	}{
		{[]string{flag + "=sometimes"}, nil, flag},
		{nil, map[string]string{env: "2"}, env},
		{[]string{"--config", bad}, nil, key},
	} {
		var stderr bytes.Buffer
		if code := run(b.args, envOf(b.env), &bytes.Buffer{}, &stderr); code != 2 || !strings.Contains(stderr.String(), b.name) {
			t.Errorf("%v %v: exit %d, stderr %q; want 2 naming %s", b.args, b.env, code, stderr.String(), b.name)
		}
	}
}

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFlagOverridesPersistAndWinOverTheConfig: an operator's flip is
// written to the data dir, a node built later over the same dir starts
// with it whatever the config says, a config reload does not undo it, and
// each flag's source is reported.
func TestFlagOverridesPersistAndWinOverTheConfig(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	f := newFeatureFlags(map[string]bool{flagRepair: true, flagOAP: false}, nil)
	if err := f.persistIn(dir); err != nil {
		t.Fatal(err)
	}
	if err := f.Set(ctx, flagRepair, false); err != nil {
		t.Fatal(err)
	}
	again := newFeatureFlags(map[string]bool{flagRepair: true, flagOAP: false}, nil)
	if err := again.persistIn(dir); err != nil {
		t.Fatal(err)
	}
	if again.Enabled(flagRepair) {
		t.Fatal("restart: repair on again, want the override (off) kept")
	}
	want := map[string]string{flagAnonymousReads: sourceDefault, flagOAP: sourceConfig, flagRepair: sourceOverride, flagRepublish: sourceDefault}
	if got := again.Sources(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("sources %v, want %v", got, want)
	}
	if applied, err := again.setFromConfig(ctx, flagRepair, true); applied || err != nil || again.Enabled(flagRepair) {
		t.Fatalf("a reload naming an overridden flag: applied %v, err %v, repair on %v", applied, err, again.Enabled(flagRepair))
	}
	if applied, err := again.setFromConfig(ctx, flagOAP, true); !applied || err != nil || !again.Enabled(flagOAP) {
		t.Fatalf("a reload naming a config flag: applied %v, err %v", applied, err)
	}
}

// TestFlagOverrideNotPersistedIsNotApplied: when the override cannot be
// written, the flip is refused and nothing changes.
func TestFlagOverrideNotPersistedIsNotApplied(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	f := newFeatureFlags(nil, nil)
	if err := f.persistIn(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	err := f.Set(context.Background(), flagRepair, false)
	if err == nil || !f.Enabled(flagRepair) || f.Sources()[flagRepair] != sourceDefault {
		t.Fatalf("flip without a data dir: err %v, repair on %v, source %s", err, f.Enabled(flagRepair), f.Sources()[flagRepair])
	}
}

// TestCorruptFlagOverridesNameTheFile: a damaged overrides file stops the
// start with an error naming the file and what to do, both in the
// loader and through rond itself.
func TestCorruptFlagOverridesNameTheFile(t *testing.T) {
	cases := map[string]string{
		"truncated":     `{"version":1,"flags":{"repair":fa`,
		"unknown flag":  `{"version":1,"flags":{"repiar":false}}`,
		"newer version": `{"version":2,"flags":{}}`,
		"unknown key":   `{"version":1,"flagz":{}}`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, flagOverridesName)
			if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			err := newFeatureFlags(nil, nil).persistIn(dir)
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "delete it") {
				t.Fatalf("persistIn: %v; want an error naming %s", err, path)
			}
		})
	}
	dir := t.TempDir()
	path := filepath.Join(dir, flagOverridesName)
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runRond("--data-dir", dir, "--http-addr", "127.0.0.1:0", "--quic-addr", "127.0.0.1:0")
	if code == 0 || !strings.Contains(errOut, path) {
		t.Fatalf("rond over a corrupt overrides file: exit %d, stderr %q; want a failure naming %s", code, errOut, path)
	}
}

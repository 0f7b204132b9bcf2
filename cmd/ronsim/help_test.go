package main_test

import (
	"strings"
	"testing"
)

// Every command's --help prints its usage, examples and flags on stdout
// and exits 0; ronsim help COMMAND says the same.
func TestCommandHelpOnStdout(t *testing.T) {
	for cmd, flagName := range map[string]string{"run": "-seed", "explore": "-seeds", "determinism": "-seeds", "real": "-rond"} {
		for _, args := range [][]string{{cmd, "--help"}, {cmd, "-h"}, {cmd, "scenarios/partition.yaml", "--help"}, {"help", cmd}} {
			r := ronsimRun(t, args...)
			expectCode(t, r, 0, args...)
			for _, want := range []string{"Usage: ronsim " + cmd, "Examples:", "ronsim " + cmd + " scenarios/", "Flags:", flagName} {
				if !strings.Contains(r.stdout, want) {
					t.Fatalf("ronsim %v lacks %q:\n%s", args, want, r.stdout)
				}
			}
			if r.stderr != "" || strings.Contains(r.stdout, "help requested") {
				t.Fatalf("ronsim %v: stderr %q", args, r.stderr)
			}
		}
	}
}

// An unknown flag or command is one line on stderr with a pointer to
// --help, exit 2, and no usage dump.
func TestUnknownFlagIsOneLine(t *testing.T) {
	for _, c := range []struct {
		args    []string
		pointer string
	}{
		{[]string{"run", "scenarios/partition.yaml", "--nope"}, "ronsim run --help"},
		{[]string{"explore", "--bogus"}, "ronsim explore --help"},
		{[]string{"frobnicate"}, "ronsim --help"},
		{nil, "ronsim --help"},
	} {
		r := ronsimRun(t, c.args...)
		expectCode(t, r, 2, c.args...)
		if strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, c.pointer) || r.stdout != "" {
			t.Errorf("ronsim %v: stderr %q stdout %q; want one line pointing to %q", c.args, r.stderr, r.stdout, c.pointer)
		}
	}
}

func TestVersion(t *testing.T) {
	for _, arg := range []string{"--version", "version"} {
		r := ronsimRun(t, arg)
		expectCode(t, r, 0, arg)
		if !strings.HasPrefix(r.stdout, "ronsim ") || !strings.Contains(r.stdout, "go1.") || !strings.Contains(r.stdout, "revision ") {
			t.Errorf("ronsim %s: %q", arg, r.stdout)
		}
	}
}

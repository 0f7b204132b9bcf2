//go:build unix

package main_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestScenarioMustBeARegularFile: every command that reads a scenario
// refuses a FIFO, a device and a directory at once, exit 2, naming the
// path and its type. Before, a FIFO without a writer blocked ronsim for
// ever in open(2).
func TestScenarioMustBeARegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "s.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		fifo:       "a named pipe (FIFO)",
		os.DevNull: "a character device",
		dir:        "a directory",
	}
	for path, kind := range cases {
		for _, args := range [][]string{{"run", path}, {"explore", path, "--seeds", "1"}, {"determinism", path}, {"shrink", path, "-o", filepath.Join(dir, "min.yaml")}} {
			cmd := exec.Command(ronsim, args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			var err error
			select {
			case err = <-exited:
			case <-time.After(60 * time.Second): // a backstop: the refusal is immediate
				_ = cmd.Process.Kill()
				t.Logf("killed: %v", <-exited)
				t.Fatalf("ronsim %v still running: it blocked on %s", args, kind)
			}
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
				t.Errorf("ronsim %v: %v, want exit 2; stderr %q", args, err, stderr.String())
			}
			if want := path + " is " + kind + ", not a regular file"; !strings.Contains(stderr.String(), want) {
				t.Errorf("ronsim %v: stderr %q, want %q", args, stderr.String(), want)
			}
		}
	}
}

// TestSeedCountsThatCheckNothingAreRefused: explore and determinism with
// --seeds 0 ran nothing and exited 0, as if all was well; explore with a
// huge --seeds built its seed list in memory until it ran out, and --from
// near the top wrapped round to seed 0. Each is refused, exit 2, naming
// the flag.
func TestSeedCountsThatCheckNothingAreRefused(t *testing.T) {
	const file = "scenarios/partition.yaml"
	// determinism counts up from the scenario's own seed: at the top, a
	// second seed wrapped round to seed 0.
	src, err := os.ReadFile(filepath.Join(repoRoot, file))
	if err != nil {
		t.Fatal(err)
	}
	top := filepath.Join(t.TempDir(), "top.yaml")
	if err := os.WriteFile(top, bytes.Replace(src, []byte("\nseed: 7\n"), []byte("\nseed: 18446744073709551615\n"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"explore", file, "--seeds", "0", "--workers", "1"}, "--seeds 0: want 1.."},
		{[]string{"determinism", file, "--seeds", "0"}, "--seeds 0 checks nothing"},
		{[]string{"explore", file, "--seeds", "2", "--from", "18446744073709551615", "--workers", "1"}, "--from 18446744073709551615 --seeds 2: the last seed would pass"},
		{[]string{"explore", file, "--seeds", "100000000000000", "--workers", "1"}, "--seeds 100000000000000: want 1..16777216"},
		{[]string{"determinism", top, "--seeds", "2"}, "seed 18446744073709551615 --seeds 2: the last seed would pass"},
	} {
		r := ronsimRun(t, c.args...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("ronsim %v: exit %d, stderr %q; want 2 and %q", c.args, r.code, r.stderr, c.want)
		}
	}
}

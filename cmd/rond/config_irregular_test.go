//go:build unix

package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestConfigMustBeARegularFile: rond config check FILE and rond --config
// FILE refuse a FIFO, a symlink to one, a socket, a device and a
// directory at once, exiting non-zero with the path and its type. Before,
// a FIFO without a writer blocked rond for ever in open(2), and a
// directory or device gave an obscure read error or a YAML one.
func TestConfigMustBeARegularFile(t *testing.T) {
	bin := buildRond(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "rond.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "rond.yaml")
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cases := map[string]string{
		fifo:       "a named pipe (FIFO)",
		link:       "a named pipe (FIFO)",
		sock:       "a socket",
		os.DevNull: "a character device",
		dir:        "a directory",
	}
	for path, kind := range cases {
		for _, args := range [][]string{
			{"config", "check", path},
			{"--config", path, "--http-addr", "127.0.0.1:0", "--quic-addr", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data")},
		} {
			cmd := exec.Command(bin, args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case err = <-exited:
			case <-time.After(60 * time.Second): // a backstop: the refusal is immediate
				_ = cmd.Process.Kill()
				t.Logf("killed: %v", <-exited)
				t.Fatalf("rond %v still running: it blocked on %s", args, kind)
			}
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() == 0 {
				t.Errorf("rond %v: %v, want a non-zero exit", args, err)
			}
			if want := path + " is " + kind + ", not a regular file"; !strings.Contains(stderr.String(), want) {
				t.Errorf("rond %v: stderr %q, want %q", args, stderr.String(), want)
			}
		}
	}
}

package real

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ron-network/ron/sim/scenario"
)

// FormatRecordName is the data dir's format record that io/datadir writes
// (sim/ cannot import io/): JSON with a "format" field; no record is
// format 0.
const FormatRecordName = "FORMAT"

// swapActions upgrade or downgrade the target: SIGTERM (rond's own
// shutdown runs), `NEW migrate --data-dir DIR --to N` (N the newest format
// for an upgrade, the format the node's dir had on the old build for a
// downgrade), then, after restart_after, a start on the other binary.
// The migration always runs with the new build: only it knows both
// formats. As in the simulator, an upgraded node's registry reads the
// test-only entry version 2 (FailpointRegistryVersionMax, set for its
// next start) and a downgraded node's the base version only, so a
// rolling upgrade runs the registry's cluster version gate: the version
// rises once every replica is upgraded (the liveness detail names it).
// An old build without the failpoint ignores it.
func (t *timeline) swapActions(f scenario.Fault) []action {
	var victim int
	kind := f.Crash.Swap
	return []action{{f.At, func() (string, string, error) {
		var err error
		if victim, err = t.target(f.Crash.Target); err != nil {
			return kind, "", err
		}
		n := t.c.nodes[victim]
		t.c.metrics.bank(n)
		if err := n.stop(); err != nil {
			return kind, n.name, err
		}
		bin, to, versionTerms := t.c.bin, t.c.formatNew, "return(2)"
		if kind == scenario.KindDowngrade {
			bin, to, versionTerms = t.c.old, n.oldFormat, ""
		}
		if err := n.setFailpoint(FailpointRegistryVersionMax, versionTerms); err != nil {
			return kind, n.name, err
		}
		out, err := t.c.migrate(n, to)
		n.bin = bin
		return kind, fmt.Sprintf("%s migrate --to %d: %s; restarts on %s", n.name, to, out, bin), err
	}}, {f.At + f.Crash.RestartAfter, func() (string, string, error) { return t.restart(victim) }}}
}

// stop sends SIGTERM to the node's process group and waits for it to
// exit; a node that does not exit within ExitDeadline is killed and the
// stop reported as failed.
func (n *node) stop() error {
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.mu.Unlock()
	if cmd == nil {
		return nil // down already (a crash): nothing to stop
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGCONT) // a paused node must run to exit
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(ExitDeadline):
		_ = n.kill()
		return fmt.Errorf("real: %s did not exit within %v of SIGTERM; killed", n.name, ExitDeadline)
	}
	n.mu.Lock()
	n.cmd, n.up, n.paused, n.ready = nil, false, false, false
	if n.logFile != nil {
		fmt.Fprintf(n.logFile, "--- ronsim real: stopped (SIGTERM), exit %v\n", cmd.ProcessState)
	}
	n.mu.Unlock()
	return nil
}

// migrate runs the new binary's migrate on the node's stopped data dir,
// its output appended to the node's log; it returns that output's last
// line.
func (c *cluster) migrate(n *node, to uint32) (string, error) {
	cmd := exec.Command(c.bin, "migrate", "--data-dir", n.dataDir, "--to", strconv.FormatUint(uint64(to), 10))
	out, err := cmd.CombinedOutput()
	if n.logFile != nil {
		fmt.Fprintf(n.logFile, "--- ronsim real: %s\n%s", strings.Join(cmd.Args, " "), out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	last := lines[len(lines)-1]
	if err != nil {
		return last, fmt.Errorf("real: %s: %s: %w: %s", n.name, strings.Join(cmd.Args, " "), err, last)
	}
	return last, nil
}

// readFormat is the format of a data dir: its record's, 0 without one.
func readFormat(dir string) (uint32, error) {
	data, err := os.ReadFile(filepath.Join(dir, FormatRecordName))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var rec struct {
		Format uint32 `json:"format"`
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		return 0, fmt.Errorf("real: %s: %w", filepath.Join(dir, FormatRecordName), err)
	}
	return rec.Format, nil
}

// checkFlags refuses a binary whose --help does not list every flag in
// args (an old build that predates one of them), naming the missing ones.
func checkFlags(bin string, args []string) error {
	help, _ := exec.Command(bin, "--help").CombinedOutput() // --help may exit non-zero
	var missing []string
	for _, a := range args {
		name, ok := strings.CutPrefix(a, "--")
		if !ok {
			continue
		}
		name, _, _ = strings.Cut(name, "=")
		if !strings.Contains(string(help), "-"+name+" ") && !strings.Contains(string(help), "-"+name+"\n") {
			missing = append(missing, "--"+name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s --help lists no %s, which ronsim real passes every node", ErrUnsupported, bin, strings.Join(missing, ", "))
	}
	return nil
}

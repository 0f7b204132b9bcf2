package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/io/datadir"
	"github.com/ron-network/ron/io/oapgate"
	"github.com/ron-network/ron/sim/real"
	"github.com/ron-network/ron/sim/runner"
)

// cmdReal runs a scenario against real rond processes (sim/real). Exit
// status as run: 0 every check passed, 1 a check failed, 2 bad input or a
// scenario feature that cannot be made real.
func cmdReal(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("real", "ronsim real FILE [flags]")
	seed := fs.Uint64("seed", 0, "seed (default: the scenario's seed, else 1)")
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	historyPath := fs.String("history", "", "write the client history as JSON lines to FILE")
	vizPath := fs.String("viz", "", "write the porcupine visualisation (HTML) to FILE")
	rond := fs.String("rond", "", "rond binary to run (default: go build ./cmd/rond of this tree)")
	rondOld := fs.String("rond-old", "", "rond binary every node starts on; upgrade faults move a node to --rond, downgrade faults back")
	tags := fs.String("tags", "", "build tags for the rond it builds (e.g. canary)")
	keep := fs.String("keep", "", "keep data dirs, node logs and the history in DIR")
	soak := fs.Duration("duration", 0, "soak: repeat the scenario's faults and keep the workload going for this long, sampling each node's memory (a leak fails the run)")
	failpoints := map[string]string{}
	fs.Func("failpoint", "turn a rond failpoint on in every node for the whole run, `NAME=TERMS` (repeatable), e.g. github.com/ron-network/ron/io/quicnet/send=5%return(true)", func(v string) error {
		name, terms, ok := strings.Cut(v, "=")
		if !ok || name == "" || terms == "" {
			return fmt.Errorf("%q is not NAME=TERMS", v)
		}
		failpoints[name] = terms
		return nil
	})
	oapShare := fs.Float64("oap-share", 0, "share of the clients (0..1) that send every request over OAP/1 instead of HTTP")
	canary := fs.String("canary", "", "deliberately wrong registry in every node: local_resolve, ack_before_commit, skip_sync (builds rond with -tags canary)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return badInput("real takes exactly one scenario file, got %d (see 'ronsim help')", len(pos))
	}
	s, err := loadScenario(pos[0])
	if err != nil {
		return err
	}
	opts := real.Options{Seed: defaultSeed(s), Rond: *rond, RondOld: *rondOld, FormatNew: datadir.FormatCurrent, BuildTags: *tags, VizPath: *vizPath, KeepDir: *keep, Soak: *soak, Failpoints: failpoints, Progress: stderr}
	if *oapShare < 0 || *oapShare > 1 {
		return badInput("--oap-share %g: want a share between 0 and 1", *oapShare)
	}
	if *oapShare > 0 {
		opts.OAPShare, opts.OAP = *oapShare, dialOAP
	}
	if *canary != "" {
		opts.Canary = *canary
		if opts.BuildTags == "" {
			opts.BuildTags = "canary"
		}
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "seed" {
			opts.Seed = *seed
		}
	})
	if err := real.Validate(s); err != nil {
		return &exitError{code: 2, err: err}
	}
	if opts.Rond == "" {
		if opts.ModuleDir, err = moduleRoot(); err != nil {
			return badInput("--rond not given and %v", err)
		}
	}
	if *historyPath != "" {
		f, err := createFile("history", *historyPath)
		if err != nil {
			return err
		}
		defer f.Close()
		opts.History = f
	}
	s = real.Soak(s, opts.Soak)
	if !*asJSON {
		fmt.Fprint(stdout, runner.Preamble(s, opts.Seed, false))
		fmt.Fprintln(stdout, "mode       real (rond processes on loopback; not deterministic)")
	}
	rep, err := real.Run(s, opts)
	if err != nil {
		if errors.Is(err, real.ErrUnsupported) {
			return &exitError{code: 2, err: err}
		}
		return err
	}
	if *asJSON {
		if err := json.NewEncoder(stdout).Encode(rep); err != nil {
			return err
		}
	} else {
		rep.WriteText(stdout)
	}
	if !rep.OK {
		return &exitError{code: 1, err: fmt.Errorf("")}
	}
	return nil
}

// dialOAP is real.Options.OAP: an io/oapgate client pinned to the node.
func dialOAP(addr string, id proto.NodeID) (http.RoundTripper, error) {
	return oapgate.NewClient(addr, oapgate.ClientConfig{NodeID: id, UA: "ronsim-real"})
}

// moduleRoot finds the directory holding go.mod from the working dir up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory to build rond from")
		}
		dir = parent
	}
}

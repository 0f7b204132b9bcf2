package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"

	"github.com/ron-network/ron/io/regfile"
	"github.com/ron-network/ron/sim/runner"
	"github.com/ron-network/ron/sim/scenario"
)

// loadScenario reads and parses the scenario file at path, as
// scenario.Load does, but refuses a FIFO, device, socket or directory by
// name and type rather than block on it or read it without end
// (io/regfile).
func loadScenario(path string) (*scenario.Scenario, error) {
	f, err := regfile.Open(path)
	if err != nil {
		return nil, &exitError{code: 2, err: fmt.Errorf("scenario: %w", err)}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, scenario.FileBytesMax+1))
	if err != nil {
		return nil, &exitError{code: 2, err: fmt.Errorf("scenario: read %s: %w", path, err)}
	}
	s, err := scenario.Parse(path, data)
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	return s, nil
}

func defaultSeed(s *scenario.Scenario) uint64 {
	if s.Seed != nil {
		return *s.Seed
	}
	return 1
}

func createFile(flagName, path string) (*os.File, error) {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, badInput("--%s %s: %v", flagName, path, err)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, badInput("--%s: %v", flagName, err)
	}
	return f, nil
}

func cmdRun(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", "ronsim run FILE [flags]")
	seed := fs.Uint64("seed", 0, "seed (default: the scenario's seed, else 1)")
	swarm := fs.Bool("swarm", false, "draw the scenario's swarm ranges from the seed (as explore does)")
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	tracePath := fs.String("trace", "", "write every delivered event as JSON lines to FILE")
	historyPath := fs.String("history", "", "write the client history as JSON lines to FILE")
	vizPath := fs.String("viz", "", "write the porcupine visualisation (HTML) to FILE")
	recordPath := fs.String("record", "", "write the faults actually injected as a scenario file")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run (go tool pprof) to FILE")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return badInput("run takes exactly one scenario file, got %d (see 'ronsim help')", len(pos))
	}
	s, err := loadScenario(pos[0])
	if err != nil {
		return err
	}
	tuneGC()
	opts := runner.Options{Seed: defaultSeed(s), Swarm: *swarm, VizPath: *vizPath}
	if err := applyCanary(&opts); err != nil {
		return err
	}
	seedSet := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "seed" {
			seedSet = true
		}
	})
	if seedSet {
		opts.Seed = *seed
	}
	if *vizPath != "" {
		// Fail before a long run, not after it, on a path we cannot write.
		if err := checkWritable("viz", *vizPath); err != nil {
			return err
		}
	}
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	for _, out := range []struct {
		name string
		path string
		dst  *io.Writer
	}{{"trace", *tracePath, &opts.Trace}, {"history", *historyPath, &opts.History}} {
		if out.path == "" {
			continue
		}
		f, err := createFile(out.name, out.path)
		if err != nil {
			return err
		}
		closers = append(closers, f)
		*out.dst = f
	}
	if !*asJSON {
		fmt.Fprint(stdout, runner.Preamble(s, opts.Seed, opts.Swarm))
	}
	if *cpuProfile != "" {
		f, err := createFile("cpuprofile", *cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return badInput("--cpuprofile: %v", err)
		}
		closers = append(closers, f)
	}
	rep, err := runner.Run(s, opts)
	if *cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if *recordPath != "" {
		if err := writeRecord(*recordPath, rep); err != nil {
			return err
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		rep.WriteText(stdout)
	}
	if rep.VizError != "" {
		return badInput("--viz: %s", rep.VizError)
	}
	if *vizPath != "" && rep.VizPath == "" {
		os.Remove(*vizPath) // the placeholder checkWritable left
		fmt.Fprintf(stderr, "ronsim: --viz: %s has no registry history to visualise; nothing written\n", s.Source)
	}
	if !rep.OK {
		return &exitError{code: 1, err: fmt.Errorf("")}
	}
	return nil
}

// checkWritable creates path (and its directory) the way the run will
// write it, so a bad path is reported before the run.
func checkWritable(flagName, path string) error {
	f, err := createFile(flagName, path)
	if err != nil {
		return err
	}
	return f.Close()
}

func writeRecord(path string, rep *runner.Report) error {
	data, err := rep.Recorded.Marshal()
	if err != nil {
		return fmt.Errorf("--record: %w", err)
	}
	f, err := createFile("record", path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write(data)
	return err
}

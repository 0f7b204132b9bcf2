package main

import (
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/io/datadir"
	"github.com/ron-network/ron/io/keyfile"
)

const migrateUsage = `Usage:
  rond migrate --data-dir DIR --to N [--dry-run] [--node-key FILE]

Moves a stopped node's data dir to format N, up or down, one format at a
time. Each step commits atomically: a crash leaves the old format or the
new one, and running the command again finishes the job. rond never
migrates on its own: a data dir of an older format is opened as is, and one
of a newer format is refused. It holds the data dir's lock (DIR/LOCK) while
it runs, and is refused while rond or another migration holds it.

Formats:
  0  the data dir of builds before the format record (no FORMAT file)
  1  0 plus the format record FORMAT (format, the build that wrote it,
     the node id)

Examples:
  rond migrate --data-dir /var/lib/ron --to 3 --dry-run
  rond migrate --data-dir /var/lib/ron --to 3
  rond migrate --data-dir /var/lib/ron --to 2   # before going back to a build of format 2
`

// migrateCmd runs rond migrate: 0 done, 1 failed, 2 bad arguments.
func migrateCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rond migrate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dir := fs.String("data-dir", "", "the data `DIR` to migrate (the node must be stopped)")
	to := fs.Int("to", -1, "the target format `N`")
	dry := fs.Bool("dry-run", false, "print the plan, change nothing")
	nodeKeyPath := fs.String("node-key", "", "the node key `FILE` when it is not DIR/node.key (names the node in the record)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, migrateUsage)
			return 0
		}
		fmt.Fprintf(stderr, "rond: migrate: %v (run 'rond migrate --help')\n", err)
		return 2
	}
	if *dir == "" || *to < 0 || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "rond: migrate: want --data-dir DIR --to N (run 'rond migrate --help')")
		return 2
	}
	from, isNew, err := datadir.Check(*dir, versionLine())
	if err != nil {
		fmt.Fprintln(stderr, "rond: migrate:", heldOr(*dir, err))
		return 1
	}
	if isNew {
		fmt.Fprintf(stderr, "rond: migrate: %s holds no store: nothing to migrate\n", *dir)
		return 1
	}
	// A store the record says was created but is gone is refused by the
	// dry run too (datadir.Migrate refuses it), not shown a plan.
	if _, err := datadir.StoreFound(*dir); errors.Is(err, datadir.ErrStoreMissing) {
		fmt.Fprintln(stderr, "rond: migrate:", heldOr(*dir, err))
		return 1
	}
	plan, err := datadir.Plan(from, uint32(*to))
	if err != nil {
		fmt.Fprintln(stderr, "rond: migrate:", err)
		return 1
	}
	if *dry {
		fmt.Fprintf(stdout, "%s: format %d -> %d (dry run, nothing changed)\n", *dir, from, *to)
		for _, p := range plan {
			fmt.Fprintf(stdout, "  would run: %s\n", p)
		}
		return 0
	}
	id, err := migrateNodeID(*dir, *nodeKeyPath)
	if err != nil {
		fmt.Fprintln(stderr, "rond: migrate:", err)
		return 1
	}
	ran, err := datadir.Migrate(*dir, uint32(*to), datadir.MigrateOptions{Binary: versionLine(), NodeID: id})
	for _, p := range ran {
		fmt.Fprintf(stdout, "  ran: %s\n", p)
	}
	if err != nil {
		fmt.Fprintln(stderr, "rond: migrate:", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: format %d -> %d\n", *dir, from, *to)
	return 0
}

// heldOr is err, a check of dir that failed before its lock was taken,
// unless another process holds dir's lock (datadir.Held): then that,
// as what the check saw may be that process's work in progress.
func heldOr(dir string, err error) error {
	if held := datadir.Held(dir); held != nil {
		return held
	}
	return err
}

// migrateNodeID reads the node key (never creates one) to name the node in
// the record; "" when the key is elsewhere and --node-key is not given.
func migrateNodeID(dir, path string) (string, error) {
	if path == "" {
		path = filepath.Join(dir, "node.key")
	}
	seed, err := keyfile.Read(path, ed25519.SeedSize)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	return proto.NodeIDFromPublicKey(pub).String(), nil
}

// dataDirState is what checkDataDir found.
type dataDirState struct {
	isNew      bool // no record and no store: stampDataDir writes the record
	storeFound bool // DIR/pebble holds the store: start opens it with MustExist
}

// checkDataDir runs before rond touches the data dir: it refuses a newer
// or older format (one line, exit 2; an older one names the rond migrate
// command), and a store that lost its manifest marker
// (datadir.ErrStoreLost): opened as is, pebble would create a new store
// over it, delete its tables and the side files' sweep its segments;
// and a store the record says was created that is gone
// (datadir.ErrStoreMissing): the node would start empty under its id.
// It returns whether the dir is new, for stampDataDir, and whether it
// holds its store, for start.
func checkDataDir(cfg Config, log *slog.Logger) (dataDirState, error) {
	if cfg.DataDir == "" {
		return dataDirState{}, nil
	}
	format, isNew, err := datadir.Check(cfg.DataDir, versionLine())
	if err != nil {
		return dataDirState{}, &configError{msg: "rond: " + err.Error()}
	}
	if !isNew && format < datadir.FormatCurrent {
		// Format 2 renamed every chunk and manifest: this build would see
		// an older store as empty (and its orphan sweep would delete the
		// chunks). Format 3 (side files) reads a value that starts with
		// the segment pointer's marker as a pointer, which a format 2
		// store does not escape. So it refuses any older store until it
		// is migrated.
		return dataDirState{}, &configError{msg: fmt.Sprintf("rond: data dir %s has format %d, this build (%s) reads format %d: stop here and run rond migrate --data-dir %s --to %d (the older build opens it until then)",
			cfg.DataDir, format, versionLine(), datadir.FormatCurrent, cfg.DataDir, datadir.FormatCurrent)}
	}
	if isNew {
		return dataDirState{isNew: true}, nil
	}
	// A recorded dir without its store is the crash window between
	// stampDataDir and the first Open: start creates the store. Once the
	// record says the store was created (store_created, marked by start
	// after the first Open), StoreFound refuses a missing or empty one.
	found, err := datadir.StoreFound(cfg.DataDir)
	if err != nil {
		return dataDirState{}, &configError{msg: "rond: " + err.Error()}
	}
	return dataDirState{storeFound: found}, nil
}

// lockDataDir runs the checks that only read (checkDataDir,
// checkNodeKeyPresent), so that a refused dir gets no lock file, then
// takes the data dir's lock (datadir.Lock, DIR/LOCK) that the process
// holds until unlock, so that no other rond nor rond migrate works on the
// dir meanwhile, and checks again under it (a migration may have ended
// in between). A check that fails before the lock is reported as the dir
// in use when DIR/LOCK is held (datadir.Held, which creates no file). A
// dir in use exits 1 (inUseError). A micronode has no dir to lock.
func lockDataDir(cfg Config, log *slog.Logger) (dataDirState, func(), error) {
	noop := func() {}
	check := func() (dataDirState, error) {
		state, err := checkDataDir(cfg, log)
		if err != nil {
			return state, err
		}
		return state, checkNodeKeyPresent(cfg, state.isNew)
	}
	state, err := check()
	if err != nil && cfg.DataDir != "" {
		// A migration at work on the dir may be why it looks wrong
		// (an older format, a store half converted): say it is in use.
		if held := datadir.Held(cfg.DataDir); held != nil {
			return state, noop, inUseError(held)
		}
	}
	if err != nil || cfg.DataDir == "" {
		return state, noop, err
	}
	unlock, err := datadir.Lock(cfg.DataDir)
	if errors.Is(err, datadir.ErrInUse) {
		return state, noop, inUseError(err)
	}
	if err != nil {
		return state, noop, &configError{msg: "rond: " + err.Error()}
	}
	if state, err = check(); err != nil {
		unlock()
		return state, noop, err
	}
	return state, unlock, nil
}

// inUseError is a data dir another process holds (datadir.ErrInUse):
// printed alone as a bad setting is, but exit 1, not 2, since it passes
// once the other process is done (a supervisor may take 2 as permanent).
func inUseError(err error) error {
	return &configError{msg: "rond: " + err.Error(), code: 1}
}

// stampDataDir gives a new data dir its record and checks that an existing
// record names this node.
func stampDataDir(cfg Config, isNew bool, self proto.NodeID) error {
	if cfg.DataDir == "" {
		return nil
	}
	if err := datadir.Stamp(cfg.DataDir, isNew, self.String(), versionLine()); err != nil {
		return &configError{msg: "rond: " + err.Error()}
	}
	return nil
}

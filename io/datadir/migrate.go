package datadir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ron-network/ron/io/pebbledisk"
)

// ErrInUse: a running rond holds the store; migrations need it stopped.
var ErrInUse = errors.New("datadir: data dir in use")

// lockStore takes the store's own lock (the one pebble holds while rond
// runs), so that a migration never runs under a live node, even one of
// an older build that does not take the data dir's lock (Lock), which
// Migrate holds already. A dir without a store has no store lock to
// take; the data dir's lock keeps rond out of it.
// The lock is pebble's (pebble.LockDirectory), kept in heldLocks while
// the migrations run, so that one that opens the store (pebbledisk's
// conversions) opens it under this lock instead of failing to take it.
func lockStore(dir string) (func(), error) {
	store := filepath.Join(dir, StoreName)
	if _, err := os.Stat(store); errors.Is(err, fs.ErrNotExist) {
		return func() {}, nil
	}
	lock, err := pebble.LockDirectory(store, vfs.Default)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is locked (is rond running on it? stop it first): %v", ErrInUse, store, err)
	}
	heldLocks.Store(store, lock)
	return func() {
		heldLocks.Delete(store)
		_ = lock.Close()
	}, nil
}

// heldLocks maps a store directory to the lock Migrate holds on it.
var heldLocks sync.Map

// storeLock is the lock Migrate holds on store, or nil.
func storeLock(store string) *pebble.Lock {
	if l, ok := heldLocks.Load(store); ok {
		return l.(*pebble.Lock)
	}
	return nil
}

// Migration moves a directory from format To-1 to To (Up) and back (Down).
// Both do their work beside the live data and commit with the record, so
// that a crash before the commit leaves the old format and a crash after
// it the new one; both are idempotent, so running them again after a
// crash finishes the job.
type Migration struct {
	To   uint32
	What string // one line for --dry-run and the log
	// Up and Down that open the store pass storeLock to pebbledisk, so
	// that it opens under the lock Migrate holds for the whole plan.
	Up   func(dir string, rec Record, step Step) error
	Down func(dir string, rec Record, step Step) error
}

// Migrations lists every migration, Migrations[i].To == i+1.
var Migrations = []Migration{
	{
		To:   1,
		What: "add the format record FORMAT (format 0 is a data dir without one)",
		Up: func(dir string, rec Record, step Step) error {
			return writeSteps(dir, rec, "up1", step)
		},
		Down: func(dir string, _ Record, step Step) error {
			return remove(dir, "down1", step)
		},
	},
	migration2,
	{
		To:   FormatSideFiles,
		What: "move the store's large values (64 KiB and more) out of pebble into segment files, written once",
		Up:   sideFilesUp,
		Down: sideFilesDown,
	},
}

// sideFilesUp checks that the legacy store can take side files (no value
// starts with their marker), commits the new format with the record, then
// moves the large values into segments. The store of the new format reads
// inline values too, so a crash during the move leaves a valid store of
// the new format whose remaining large values stay inline (they still
// read; only their space is not saved).
func sideFilesUp(dir string, rec Record, step Step) error {
	step = orKill(step)
	name := fmt.Sprintf("up%d", FormatSideFiles)
	store := filepath.Join(dir, StoreName)
	if exists, err := storeExists(dir); err != nil {
		return err
	} else if !exists {
		return writeSteps(dir, rec, name, step) // no store: nothing to move
	}
	step(name + ":check")
	if err := pebbledisk.CheckConvertible(store, nil, storeLock(store)); err != nil {
		return err
	}
	if err := writeSteps(dir, rec, name, step); err != nil {
		return err
	}
	if err := pebbledisk.ConvertToSide(store, nil, storeLock(store), func(s string) { step(name + ":" + s) }); err != nil {
		return err
	}
	return pebbledisk.FinishConvertToSide(store, nil)
}

// sideFilesDown writes the values held in segments back into pebble,
// syncs, removes the segments (the store is then one of the older format,
// still valid in the new one), and commits with the record.
func sideFilesDown(dir string, rec Record, step Step) error {
	step = orKill(step)
	name := fmt.Sprintf("down%d", FormatSideFiles)
	store := filepath.Join(dir, StoreName)
	exists, err := storeExists(dir)
	if err != nil {
		return err
	}
	if exists {
		if err := pebbledisk.ConvertToInline(store, nil, storeLock(store), func(s string) { step(name + ":" + s) }); err != nil {
			return err
		}
	}
	return writeSteps(dir, rec, name, step)
}

// PlanStep is one migration of a plan, in the order it runs.
type PlanStep struct {
	From, To uint32
	What     string
}

func (p PlanStep) String() string {
	verb := "up"
	if p.To < p.From {
		verb = "down"
	}
	return fmt.Sprintf("%s %d -> %d: %s", verb, p.From, p.To, p.What)
}

// Plan lists the migrations that take a directory from format from to
// format to, one format at a time.
func Plan(from, to uint32) ([]PlanStep, error) {
	if to > FormatCurrent || from > FormatCurrent {
		return nil, fmt.Errorf("%w: this build knows formats 0 to %d; asked %d -> %d", ErrNewer, FormatCurrent, from, to)
	}
	var plan []PlanStep
	for v := from; v < to; v++ {
		plan = append(plan, PlanStep{From: v, To: v + 1, What: Migrations[v].What})
	}
	for v := from; v > to; v-- {
		plan = append(plan, PlanStep{From: v, To: v - 1, What: "undo: " + Migrations[v-1].What})
	}
	return plan, nil
}

// MigrateOptions: Binary and NodeID fill the records a migration writes;
// Step (may be nil) is called before each effect, after FailpointKill.
type MigrateOptions struct {
	Binary string
	NodeID string
	Step   Step
}

// Migrate runs the plan from dir's format to format to and returns the
// steps it ran. The directory is checked first: a newer format than this
// build knows is refused, and so is a DIR/pebble that is not a store
// (ErrForeignStore) or a store the record says was created but is gone
// (ErrStoreMissing), untouched. It then takes the data dir's lock (Lock)
// for the whole plan, so that no rond starts on the dir meanwhile, and
// checks again under it; then the store's lock (lockStore).
func Migrate(dir string, to uint32, opts MigrateOptions) ([]PlanStep, error) {
	// The first check only reads: a refused dir does not even get a
	// lock file.
	if _, _, err := migrateCheck(dir, to, opts); err != nil {
		return nil, err
	}
	unlockDir, err := Lock(dir)
	if err != nil {
		return nil, err
	}
	defer unlockDir()
	plan, created, err := migrateCheck(dir, to, opts)
	if err != nil {
		return nil, err
	}
	unlock, err := lockStore(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	for i, p := range plan {
		rec := Record{Format: p.To, WrittenBy: opts.Binary, NodeID: opts.NodeID, StoreCreated: created}
		m := Migrations[min(p.From, p.To)]
		if p.To > p.From {
			err = m.Up(dir, rec, opts.Step)
		} else {
			err = m.Down(dir, rec, opts.Step)
		}
		if err != nil {
			return plan[:i], fmt.Errorf("datadir: migration %s: %w", p, err)
		}
	}
	return plan, nil
}

// migrateCheck refuses a dir Migrate must not touch and returns its plan,
// and whether the records the plan writes say the store was created (it
// is there: a record that says so of a store that is gone is refused).
func migrateCheck(dir string, to uint32, opts MigrateOptions) ([]PlanStep, bool, error) {
	from, isNew, err := Check(dir, opts.Binary)
	if err != nil {
		return nil, false, err
	}
	if isNew {
		return nil, false, fmt.Errorf("datadir: %s holds no store (%s) and no format record: nothing to migrate", dir, StoreName)
	}
	// A recorded dir's store is checked too, before its lock file is
	// created: a migration never writes into a foreign DIR/pebble, nor
	// over a store that is gone.
	rec, _, err := Read(dir)
	if err != nil {
		return nil, false, err
	}
	if rec.StoreCreated {
		// Gone, or an empty DIR/pebble: the store is lost, which says
		// more than calling the empty directory foreign.
		if _, err := storeFound(vfs.Default, dir, rec); errors.Is(err, ErrStoreMissing) {
			return nil, false, err
		}
	}
	exists, err := storeExists(dir)
	if err != nil {
		return nil, false, err
	}
	plan, err := Plan(from, to)
	if err != nil {
		return nil, false, err
	}
	// A store the record says was created and that is gone was refused
	// above, so exists says it all.
	return plan, exists, nil
}

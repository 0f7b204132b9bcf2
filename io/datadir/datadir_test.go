package datadir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ron-network/ron/io/pebbledisk"
)

// storeDir makes a directory that looks like one the landed build wrote:
// a store (an empty pebble store, as that build created it) and no
// record (format 0).
func storeDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	d, err := pebbledisk.Open(pebbledisk.Options{Dir: filepath.Join(dir, StoreName), ReserveBytes: -1, Legacy: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestFormatOfNewFormat0AndRecorded(t *testing.T) {
	fresh := filepath.Join(t.TempDir(), "never-created")
	if f, isNew, err := Format(fresh); err != nil || !isNew || f != FormatCurrent {
		t.Fatalf("new dir: format %d new %v err %v", f, isNew, err)
	}
	dir := storeDir(t)
	if f, isNew, err := Format(dir); err != nil || isNew || f != 0 {
		t.Fatalf("store without record: format %d new %v err %v", f, isNew, err)
	}
	if err := Write(dir, Record{Format: 1, WrittenBy: "rond test", NodeID: "ab"}, nil); err != nil {
		t.Fatal(err)
	}
	if f, isNew, err := Format(dir); err != nil || isNew || f != 1 {
		t.Fatalf("recorded: format %d new %v err %v", f, isNew, err)
	}
	rec, present, err := Read(dir)
	if err != nil || !present || rec != (Record{Format: 1, WrittenBy: "rond test", NodeID: "ab"}) {
		t.Fatalf("read back %+v %v %v", rec, present, err)
	}
}

func TestCheckRefusesNewerInOneLineNamingBoth(t *testing.T) {
	dir := storeDir(t)
	if err := Write(dir, Record{Format: FormatCurrent + 1, WrittenBy: "rond v9.9.9"}, nil); err != nil {
		t.Fatal(err)
	}
	_, _, err := Check(dir, "rond v1.0.0")
	if !errors.Is(err, ErrNewer) {
		t.Fatalf("newer format: %v", err)
	}
	msg := err.Error()
	for _, want := range []string{fmt.Sprintf("format %d", FormatCurrent+1), "rond v9.9.9", "rond v1.0.0",
		fmt.Sprintf("format %d at most", FormatCurrent), fmt.Sprintf("rond migrate --data-dir %s --to %d", dir, FormatCurrent)} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q: %s", want, msg)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("message is not one line: %q", msg)
	}
	if _, err := Migrate(dir, 0, MigrateOptions{Binary: "rond v1.0.0"}); !errors.Is(err, ErrNewer) {
		t.Fatalf("migrating a newer dir with an older build: %v", err)
	}
}

func TestReadRefusesMalformedRecords(t *testing.T) {
	for name, content := range map[string]string{
		"not json":    "format=1",
		"format zero": `{"format":0}`,
		"oversize":    `{"format":1,"written_by":"` + strings.Repeat("x", RecordBytesMax) + `"}`,
	} {
		dir := storeDir(t)
		if err := os.WriteFile(filepath.Join(dir, RecordName), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := Check(dir, "rond test"); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	dir := storeDir(t)
	// A newer build may add fields: the format alone decides.
	if err := os.WriteFile(filepath.Join(dir, RecordName), []byte(`{"format":1,"later":true}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if f, _, err := Check(dir, "rond test"); err != nil || f != 1 {
		t.Fatalf("extra field: %d %v", f, err)
	}
}

func TestStampWritesNewDirsOnlyAndChecksTheNode(t *testing.T) {
	fresh := t.TempDir()
	if err := Stamp(fresh, true, "aa", "rond test"); err != nil {
		t.Fatal(err)
	}
	if rec, present, _ := Read(fresh); !present || rec.Format != FormatCurrent || rec.NodeID != "aa" {
		t.Fatalf("new dir record %+v %v", rec, present)
	}
	if err := Stamp(fresh, false, "bb", "rond test"); !errors.Is(err, ErrNodeMismatch) {
		t.Fatalf("other node: %v", err)
	}
	old := storeDir(t)
	if err := Stamp(old, false, "aa", "rond test"); err != nil {
		t.Fatal(err)
	}
	if _, present, _ := Read(old); present {
		t.Fatal("a format 0 dir got a record without rond migrate")
	}
}

func TestLeftoverTempIsIgnoredAndReplaced(t *testing.T) {
	dir := storeDir(t)
	if err := os.WriteFile(filepath.Join(dir, recordTempName), []byte(`{"form`), 0o600); err != nil {
		t.Fatal(err)
	}
	if f, _, err := Check(dir, "rond test"); err != nil || f != 0 {
		t.Fatalf("leftover temp: %d %v", f, err)
	}
	if _, err := Migrate(dir, 1, MigrateOptions{Binary: "rond test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, recordTempName)); !os.IsNotExist(err) {
		t.Fatalf("temp file still there: %v", err)
	}
}

func TestMigrateUpDownAndDryPlan(t *testing.T) {
	dir := storeDir(t)
	plan, err := Plan(0, 1)
	if err != nil || len(plan) != 1 || !strings.HasPrefix(plan[0].String(), "up 0 -> 1") {
		t.Fatalf("plan up: %v %v", plan, err)
	}
	if _, err := Plan(0, FormatCurrent+1); !errors.Is(err, ErrNewer) {
		t.Fatalf("plan beyond current: %v", err)
	}
	ran, err := Migrate(dir, 1, MigrateOptions{Binary: "rond test", NodeID: "cc"})
	if err != nil || len(ran) != 1 {
		t.Fatalf("up: %v %v", ran, err)
	}
	if rec, _, _ := Read(dir); rec.Format != 1 || rec.NodeID != "cc" || rec.WrittenBy != "rond test" {
		t.Fatalf("record after up: %+v", rec)
	}
	if ran, err := Migrate(dir, 1, MigrateOptions{Binary: "rond test"}); err != nil || len(ran) != 0 {
		t.Fatalf("up again is a no-op: %v %v", ran, err)
	}
	ran, err = Migrate(dir, 0, MigrateOptions{Binary: "rond test"})
	if err != nil || len(ran) != 1 || !strings.HasPrefix(ran[0].String(), "down 1 -> 0") {
		t.Fatalf("down: %v %v", ran, err)
	}
	if f, _, _ := Format(dir); f != 0 {
		t.Fatalf("format after down: %d", f)
	}
	if _, err := Migrate(t.TempDir(), 1, MigrateOptions{}); err == nil {
		t.Fatal("migrating an empty dir succeeded")
	}
}

// TestMigrationStopsAtEveryStep aborts the migration before each step (the
// hook panics, as a crash would, without any cleanup) and checks that the
// directory is exactly the old format or the new one, and that running
// the migration again finishes it. The kill -9 version of this test runs
// the real binary (cmd/rond TestMigrateKilledAtEveryStep).
func TestMigrationStopsAtEveryStep(t *testing.T) {
	for _, dirn := range []struct{ from, to uint32 }{{0, 1}, {1, 0}} {
		steps := stepsOf(t, dirn.from, dirn.to)
		if len(steps) < 2 {
			t.Fatalf("%d -> %d: steps %v", dirn.from, dirn.to, steps)
		}
		for _, stop := range steps {
			dir := storeDir(t)
			if dirn.from == 1 {
				if _, err := Migrate(dir, 1, MigrateOptions{Binary: "rond test"}); err != nil {
					t.Fatal(err)
				}
			}
			func() {
				defer func() { _ = recover() }()
				_, _ = Migrate(dir, dirn.to, MigrateOptions{Binary: "rond test", Step: func(name string) {
					if name == stop {
						panic("crash at " + name)
					}
				}})
				t.Fatalf("step %s never ran", stop)
			}()
			f, _, err := Check(dir, "rond test")
			if err != nil || (f != dirn.from && f != dirn.to) {
				t.Fatalf("stopped at %s: format %d err %v", stop, f, err)
			}
			if _, err := Migrate(dir, dirn.to, MigrateOptions{Binary: "rond test"}); err != nil {
				t.Fatalf("rerun after %s: %v", stop, err)
			}
			if f, _, _ := Format(dir); f != dirn.to {
				t.Fatalf("rerun after %s: format %d", stop, f)
			}
		}
	}
}

// stepsOf runs a migration once and lists the steps it announced.
func stepsOf(t *testing.T, from, to uint32) []string {
	dir := storeDir(t)
	if from == 1 {
		if _, err := Migrate(dir, 1, MigrateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var steps []string
	if _, err := Migrate(dir, to, MigrateOptions{Step: func(name string) { steps = append(steps, name) }}); err != nil {
		t.Fatal(err)
	}
	return steps
}

// TestMigrateRefusesAStoreInUse: while the store's lock is held (as a
// running rond holds it) a migration is refused and changes nothing.
func TestMigrateRefusesAStoreInUse(t *testing.T) {
	dir := storeDir(t)
	lock, err := vfs.Default.Lock(filepath.Join(dir, StoreName, "LOCK"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Migrate(dir, 1, MigrateOptions{}); !errors.Is(err, ErrInUse) {
		t.Fatalf("migrate under a held lock: %v", err)
	}
	if f, _, _ := Format(dir); f != 0 {
		t.Fatalf("format %d after a refused migration", f)
	}
	_ = lock.Close()
	if _, err := Migrate(dir, 1, MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
}

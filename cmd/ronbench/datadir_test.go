package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ron-network/ron/io/datadir"
)

// TestRefusesANodeDataDir: a --data-dir that holds a rond format record
// is a node's data dir; ronbench refuses it, in process and with --rond,
// naming the dir, the node and the record, and creates no store there.
// The old build opened DIR/pebble and wrote its benchmark objects into
// the node's store under a new node id.
func TestRefusesANodeDataDir(t *testing.T) {
	dir := t.TempDir()
	rec := `{"format": 3, "written_by": "rond test", "node_id": "abcd", "store_created": true}` + "\n"
	if err := os.WriteFile(filepath.Join(dir, datadir.RecordName), []byte(rec), 0o600); err != nil {
		t.Fatal(err)
	}
	wants := []string{"--data-dir " + dir + " is a rond data dir of node abcd", filepath.Join(dir, datadir.RecordName), "nothing was changed"}
	node, err := startInProcess(t.TempDir(), dir)
	if err == nil {
		_ = node.stop()
		t.Fatal("ronbench started on a rond data dir")
	}
	for _, want := range wants {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("in process: %q lacks %q", err, want)
		}
	}
	if _, err := startRond("/nonexistent/rond", t.TempDir(), dir); err == nil || !strings.Contains(err.Error(), wants[0]) {
		t.Errorf("with --rond: %v; want %q", err, wants[0])
	}
	if _, err := os.Stat(filepath.Join(dir, datadir.StoreName)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the refused dir got a store: %v", err)
	}
}

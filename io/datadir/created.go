package datadir

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// ErrStoreMissing: a recorded dir whose record says its store was created
// (Record.StoreCreated) has no DIR/pebble, or one that holds no store (a
// volume that did not mount, an operator's rm). Opening it would start
// the node empty under its old node id: a registry replica that forgot
// its votes and the entries it acknowledged, a storage node that dropped
// every replica it held. It is refused untouched; the error says how to
// restore the store or, on purpose, start over.
var ErrStoreMissing = errors.New("datadir: store missing")

// MarkStoreCreated records in dir's record that its store exists
// (Record.StoreCreated), atomically as Write does; rond calls it after
// the store's first successful Open, before the node runs. A dir without
// a record (none is written for a micronode) and a record that has the
// mark already are left as they are. binary names the build that writes
// the record.
func MarkStoreCreated(dir, binary string) error {
	rec, present, err := Read(dir)
	if err != nil || !present || rec.StoreCreated {
		return err
	}
	rec.StoreCreated = true
	rec.WrittenBy = binary
	return writeSteps(dir, rec, "created", nil)
}

// storeMissing is the ErrStoreMissing refusal of dir, whose store was
// created but is not in DIR/pebble (fsys: what is there instead).
func storeMissing(fsys vfs.FS, dir string, rec Record) error {
	store := filepath.Join(dir, StoreName)
	found := "there is no " + store
	emptyDir := ""
	if names, err := fsys.List(store); err == nil {
		found = store + " holds no store"
		if len(names) == 0 {
			found = store + " is an empty directory"
		} else {
			if len(names) > foundNamesMax {
				names = append(names[:foundNamesMax], fmt.Sprintf("and %d more", len(names)-foundNamesMax))
			}
			found += " (found " + strings.Join(names, ", ") + ")"
		}
		emptyDir = " and " + store
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("datadir: cannot read store %s: %w (nothing was changed)", store, err)
	}
	node := "this node"
	if rec.NodeID != "" {
		node = "node " + rec.NodeID
	}
	return fmt.Errorf("%w: data dir %s records that its store was created (%s: store_created), but %s. "+
		"Starting would run %s empty under its old id (a registry replica would forget its votes and acknowledged entries, a storage node every replica it held). "+
		"Restore %s (mount its volume, or restore it from backup) and start again. "+
		"To start over on purpose: a new --data-dir (a new node), or remove %s%s to start this node empty under the same id (not on a replica of a registry group of more than one replica, which would forget votes and entries the others count on; a single node without peers is its own registry and may) (nothing was changed)",
		ErrStoreMissing, dir, filepath.Join(dir, RecordName), found, node, store, filepath.Join(dir, RecordName), emptyDir)
}

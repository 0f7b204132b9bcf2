package registry

import (
	"bytes"
	"fmt"
	"math"
	"testing"
)

// Entry keys are the disk layout raft/e/<index as 16 lowercase hex digits>:
// fixed width, so that a scan returns the log in index order.
func TestEntryKeyLayout(t *testing.T) {
	indexes := []uint64{0, 1, 9, 10, 255, 256, 1 << 32, math.MaxUint64 - 1, math.MaxUint64}
	for k, index := range indexes {
		key := entryKey(index)
		if want := fmt.Sprintf("raft/e/%016x", index); string(key) != want {
			t.Fatalf("entryKey(%d) = %q, want %q", index, key, want)
		}
		if k > 0 && bytes.Compare(entryKey(indexes[k-1]), key) >= 0 {
			t.Fatalf("entryKey(%d) does not sort after entryKey(%d)", index, indexes[k-1])
		}
	}
}

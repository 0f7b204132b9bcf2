package env

import (
	"cmp"
	"slices"
)

// SortedKeys returns the keys of m in ascending order. Use it whenever a
// map's contents can reach an output (a message, a disk write, a metric, a
// reply): Go's map iteration order is random and would break determinism.
func SortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	// map order ok: the keys are sorted before they are returned
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// SortedKeysFunc is SortedKeys for key types ordered by a compare function
// (for example proto.NodeID.Compare).
func SortedKeysFunc[K comparable, V any](m map[K]V, compare func(a, b K) int) []K {
	keys := make([]K, 0, len(m))
	// map order ok: the keys are sorted before they are returned
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compare)
	return keys
}

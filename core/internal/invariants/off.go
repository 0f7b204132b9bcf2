//go:build !invariants

package invariants

// Enabled turns on the expensive invariant checks; build with -tags
// invariants.
const Enabled = false

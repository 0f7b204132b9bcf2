//go:build invariants

package invariants

// Enabled turns on the expensive invariant checks.
const Enabled = true

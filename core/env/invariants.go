package env

import "github.com/ron-network/ron/core/internal/invariants"

// InvariantsDeep reports whether expensive invariant checks are on (builds
// with the invariants tag): core/internal/invariants's switch, for the
// packages outside core/ that cannot import it (the simulator's disk).
const InvariantsDeep = invariants.Enabled

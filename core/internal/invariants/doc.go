// Package invariants is the one switch for expensive invariant checks
// (STYLE 7, after pebble's internal/invariants). Cheap checks run always;
// checks that walk a whole table, index or store after every step run only
// when Enabled, that is in builds with the invariants tag:
//
//	go test -tags invariants ./core/... ./sim/...
//
// (make test-invariants). Enabled is a constant, so a disabled check
// compiles away. Packages outside core/ read it as env.InvariantsDeep.
package invariants

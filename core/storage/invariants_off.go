//go:build !invariants

package storage

// invariantsDeep enables the O(index) checks; build with -tags invariants.
const invariantsDeep = false

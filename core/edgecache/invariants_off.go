//go:build !invariants

package edgecache

// invariantsDeep enables the O(entries) checks; build with -tags invariants.
const invariantsDeep = false

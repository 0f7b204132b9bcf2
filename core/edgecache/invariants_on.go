//go:build invariants

package edgecache

// invariantsDeep enables the O(entries) checks after every mutation.
const invariantsDeep = true

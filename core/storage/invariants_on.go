//go:build invariants

package storage

// invariantsDeep enables the O(index) checks in every step.
const invariantsDeep = true

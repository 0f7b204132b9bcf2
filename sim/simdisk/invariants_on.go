//go:build invariants

package simdisk

// invariantsDeep turns on the O(n) checks after every step.
const invariantsDeep = true

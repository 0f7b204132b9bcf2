//go:build !invariants

package simdisk

// invariantsDeep turns on the O(n) checks after every step; build with
// -tags invariants to enable them.
const invariantsDeep = false

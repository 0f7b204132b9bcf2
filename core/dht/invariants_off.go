//go:build !invariants

package dht

// invariantsDeep enables the O(table) checks after every step; build with
// -tags invariants to turn them on.
const invariantsDeep = false

//go:build invariants

package dht

// invariantsDeep enables the O(table) checks after every step.
const invariantsDeep = true

//go:build !race && !invariants

package pebbledisk

// fsScribbles: see scribble_on.go.
const fsScribbles = false

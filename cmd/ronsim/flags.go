package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// newFlagSet returns a flag set that reports errors as bad input instead of
// exiting, with the command's usage line.
func newFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	_ = synopsis
	return fs
}

// parseInterspersed parses flags that may appear before or after the
// positional arguments (ronsim run FILE --seed 7) and returns the
// positionals.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return nil, badInput("%s: %v (see 'ronsim help')", fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			positional = append(positional, args[1:]...)
			break
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
	return positional, nil
}

// parseShard parses K/N with 1 <= K <= N.
func parseShard(s string) (k, n uint64, err error) {
	if s == "" {
		return 1, 1, nil
	}
	parts := strings.Split(s, "/")
	if len(parts) != 2 {
		return 0, 0, badInput("--shard %q: want K/N, e.g. 3/16", s)
	}
	if _, err := fmt.Sscanf(parts[0]+" "+parts[1], "%d %d", &k, &n); err != nil || n == 0 || k == 0 || k > n {
		return 0, 0, badInput("--shard %q: want K/N with 1 <= K <= N", s)
	}
	return k, n, nil
}

package main

import (
	"bytes"
	"strings"
	"testing"
)

// --oap needs an explicit choice between pinning the node and trusting
// any; the pin flags make no sense without --oap. All are usage errors
// (exit 2) caught before anything is dialed.
func TestOAPFlagsAreChecked(t *testing.T) {
	id := strings.Repeat("ab", 32)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--oap", "127.0.0.1:1", "status"}, "--node-id"},
		{[]string{"--oap", "127.0.0.1:1", "--node-id", id, "--oap-insecure", "status"}, "exactly one"},
		{[]string{"--oap", "127.0.0.1:1", "--node-id", "zz", "status"}, "--node-id"},
		{[]string{"--node-id", id, "status"}, "go with --oap"},
		{[]string{"--oap-insecure", "status"}, "go with --oap"},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		if code := run(c.args, nil, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 naming %q", c.args, code, stderr.String(), c.want)
		}
	}
}

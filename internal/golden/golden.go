// Package golden keeps the golden vectors of on-disk records and peer
// messages (testdata/golden/NAME.hex) for the packages' tests: a golden
// must decode and re-encode byte for byte, so a format cannot drift
// silently (issue 12, "Formats and APIs that cannot drift silently").
//
// It is test support only: core/ tests import it, which the layout lint
// allows because it lints non-test packages; core/ code itself never may
// (it reads files).
package golden

import (
	"encoding/hex"
	"flag"
	"os"
	"strings"
	"testing"
)

var rewrite = flag.Bool("golden-rewrite", false, "rewrite testdata/golden from the encoder")

// Rewriting reports whether the test run rewrites its goldens
// (-golden-rewrite): a test whose golden comes from a fresh random key makes
// one only then.
func Rewriting() bool { return *rewrite }

// Bytes returns the golden record testdata/golden/name.hex of the calling
// test's package, first writing encoded there under -golden-rewrite. The
// file is hex, 32 bytes a line, so a diff shows which bytes moved.
func Bytes(t testing.TB, name string, encoded []byte) []byte {
	t.Helper()
	path := "testdata/golden/" + name + ".hex"
	if *rewrite {
		var b strings.Builder
		for s := hex.EncodeToString(encoded); len(s) > 0; s = s[min(64, len(s)):] {
			b.WriteString(s[:min(64, len(s))] + "\n")
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (create it with -golden-rewrite)", err)
	}
	want, err := hex.DecodeString(strings.ReplaceAll(string(text), "\n", ""))
	if err != nil {
		t.Fatal(err)
	}
	return want
}

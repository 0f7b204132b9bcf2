package main

import (
	"os"
	"strings"
	"testing"
)

// TestCanaryIsFound: every rule that has a planted secret in
// testdata/canary.txt reports it. A scanner that finds nothing here is
// broken, and its silence on the tree means nothing.
func TestCanaryIsFound(t *testing.T) {
	found, err := scanFile("testdata/canary.txt")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, f := range found {
		got[f.rule] = true
	}
	for _, want := range []string{"private-key", "aws-access-key", "github-token", "high-entropy-assignment"} {
		if !got[want] {
			t.Errorf("canary: rule %s found nothing (findings %v)", want, found)
		}
	}
}

// TestQuietOnLookalikes: digests, words and short values assigned to
// secret-like names are not findings.
func TestQuietOnLookalikes(t *testing.T) {
	text := strings.Join([]string{
		`secret := "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"`, // hex digest: 4 bits/char
		`password = "correct-horse-battery-staple"`,
		`apiKey: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"`,
		`// BEGIN PUBLIC KEY is fine`,
		`AKIA is short`,
	}, "\n")
	found, err := scan("inline", strings.NewReader(text))
	if err != nil || len(found) != 0 {
		t.Fatalf("lookalikes flagged: %v %v", found, err)
	}
}

// TestAllowNeedsReason: an allowed finding without a reason is refused.
func TestAllowNeedsReason(t *testing.T) {
	dir := t.TempDir()
	name := dir + "/allow"
	if err := os.WriteFile(name, []byte("a.txt:private-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readAllow(name); err == nil {
		t.Fatal("allow entry without a reason accepted")
	}
	if err := os.WriteFile(name, []byte("a.txt:private-key # a test key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if allowed, err := readAllow(name); err != nil || !allowed["a.txt:private-key"] {
		t.Fatalf("allow entry with a reason: %v %v", allowed, err)
	}
}

package main

import (
	"strings"
	"testing"
)

func TestAllowedSBOMPasses(t *testing.T) {
	allowed, err := readAllowed("allowed.txt")
	if err != nil {
		t.Fatal(err)
	}
	problems, count, err := checkFile("testdata/allowed.cdx.json", allowed)
	if err != nil || count != 2 || len(problems) != 0 {
		t.Fatalf("allowed SBOM: %d components, problems %v, err %v", count, problems, err)
	}
}

// TestDisallowedLicenseFails: a GPL component and a component without a
// detected license are both reported; the MIT one is not.
func TestDisallowedLicenseFails(t *testing.T) {
	allowed, err := readAllowed("allowed.txt")
	if err != nil {
		t.Fatal(err)
	}
	problems, _, err := checkFile("testdata/disallowed.cdx.json", allowed)
	if err != nil || len(problems) != 2 {
		t.Fatalf("problems %v, err %v", problems, err)
	}
	joined := strings.Join(problems, "\n")
	for _, want := range []string{`example/gpl@v2.0.0: license "GPL-3.0-only" is not allowed`, "example/unknown@v0.1.0: no license detected"} {
		if !strings.Contains(joined, want) {
			t.Errorf("missing %q in\n%s", want, joined)
		}
	}
	if strings.Contains(joined, "example/mit") {
		t.Errorf("MIT component reported:\n%s", joined)
	}
}

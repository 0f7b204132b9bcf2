// Command licensecheck checks CycloneDX SBOMs (written by `make sbom`)
// against the license allow-list: every component must carry a license
// and every license must be allowed. The main module (the SBOM's subject)
// is ours and is not checked.
//
// Usage: go run ./scripts/licensecheck -allow scripts/licensecheck/allowed.txt out/sbom/*.cdx.json
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
)

type sbom struct {
	Metadata struct {
		Component component `json:"component"`
	} `json:"metadata"`
	Components []component `json:"components"`
}

type component struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Licenses []struct {
		License struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"license"`
		Expression string `json:"expression"`
	} `json:"licenses"`
}

func main() {
	allowFile := flag.String("allow", "scripts/licensecheck/allowed.txt", "the license allow-list")
	flag.Parse()
	allowed, err := readAllowed(*allowFile)
	if err == nil && flag.NArg() == 0 {
		err = fmt.Errorf("no SBOM given")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "licensecheck:", err)
		os.Exit(2)
	}
	bad := 0
	for _, name := range flag.Args() {
		problems, count, err := checkFile(name, allowed)
		if err != nil {
			fmt.Fprintln(os.Stderr, "licensecheck:", err)
			os.Exit(2)
		}
		for _, p := range problems {
			fmt.Printf("%s: %s\n", name, p)
		}
		bad += len(problems)
		fmt.Fprintf(os.Stderr, "licensecheck: %s: %d components, %d problems\n", name, count, len(problems))
	}
	if bad > 0 {
		os.Exit(1)
	}
}

func readAllowed(name string) (map[string]bool, error) {
	data, err := os.ReadFile(name) // #nosec G304 -- the allow-list named on the command line
	if err != nil {
		return nil, err
	}
	allowed := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		line, _, _ = strings.Cut(line, "#")
		if id := strings.TrimSpace(line); id != "" {
			allowed[id] = true
		}
	}
	return allowed, nil
}

// checkFile returns one problem per component without a license or with a
// license outside the allow-list, in a stable order.
func checkFile(name string, allowed map[string]bool) ([]string, int, error) {
	data, err := os.ReadFile(name) // #nosec G304 -- an SBOM named on the command line
	if err != nil {
		return nil, 0, err
	}
	var doc sbom
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, 0, fmt.Errorf("%s: %w", name, err)
	}
	var problems []string
	for _, c := range doc.Components {
		problems = append(problems, checkComponent(c, allowed)...)
	}
	sort.Strings(problems)
	return problems, len(doc.Components), nil
}

func checkComponent(c component, allowed map[string]bool) []string {
	if len(c.Licenses) == 0 {
		return []string{fmt.Sprintf("%s@%s: no license detected", c.Name, c.Version)}
	}
	var problems []string
	for _, l := range c.Licenses {
		id := l.License.ID
		if id == "" {
			id = l.License.Name
		}
		if id == "" {
			id = l.Expression // an expression must be listed verbatim
		}
		if !allowed[id] {
			problems = append(problems, fmt.Sprintf("%s@%s: license %q is not allowed", c.Name, c.Version, id))
		}
	}
	return problems
}

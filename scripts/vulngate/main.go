// Command vulngate reads `govulncheck -format json` from stdin and fails
// (exit 1) when a vulnerability is reachable from our code, naming its ID,
// unless the ID is in the accepted list with a reason. "Reachable" is
// govulncheck's symbol level: a finding whose innermost trace frame names
// a function. Vulnerabilities only in imported packages or required
// modules are counted but do not fail the gate.
//
// Usage: govulncheck -db file://... -format json ./... | go run ./scripts/vulngate -accepted scripts/vulngate/accepted.txt
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

type message struct {
	Finding *struct {
		OSV          string `json:"osv"`
		FixedVersion string `json:"fixed_version"`
		Trace        []struct {
			Module   string `json:"module"`
			Version  string `json:"version"`
			Package  string `json:"package"`
			Function string `json:"function"`
		} `json:"trace"`
	} `json:"finding"`
}

// vuln is one reachable vulnerability.
type vuln struct {
	id, module, version, fixed string
}

func main() {
	acceptedFile := flag.String("accepted", "", "accepted vulnerability IDs, one per line, each with a # reason")
	flag.Parse()
	accepted, err := readAccepted(*acceptedFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vulngate:", err)
		os.Exit(2)
	}
	reachable, others, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vulngate:", err)
		os.Exit(2)
	}
	failed := 0
	for _, v := range reachable {
		verdict := "FAIL"
		if accepted[v.id] {
			verdict = "accepted"
		} else {
			failed++
		}
		fmt.Printf("vulngate: %s reachable: %s %s@%s, fixed in %s\n", verdict, v.id, v.module, v.version, v.fixed)
	}
	fmt.Printf("vulngate: %d reachable (%d not accepted), %d more in imported packages or required modules only\n",
		len(reachable), failed, others)
	if failed > 0 {
		os.Exit(1)
	}
}

func readAccepted(name string) (map[string]bool, error) {
	accepted := map[string]bool{}
	if name == "" {
		return accepted, nil
	}
	data, err := os.ReadFile(name) // #nosec G304 -- the list named on the command line
	if err != nil {
		return nil, err
	}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, reason, ok := strings.Cut(line, "#")
		if !ok || strings.TrimSpace(reason) == "" {
			return nil, fmt.Errorf("%s:%d: an accepted vulnerability needs a reason after #", name, i+1)
		}
		accepted[strings.TrimSpace(id)] = true
	}
	return accepted, nil
}

// parse returns the symbol-reachable vulnerabilities, sorted by ID, and
// the number of other vulnerability IDs seen.
func parse(r io.Reader) ([]vuln, int, error) {
	dec := json.NewDecoder(r)
	reachable := map[string]vuln{}
	seen := map[string]bool{}
	for {
		var m message
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, 0, err
		}
		f := m.Finding
		if f == nil || len(f.Trace) == 0 {
			continue
		}
		seen[f.OSV] = true
		if f.Trace[0].Function != "" {
			reachable[f.OSV] = vuln{id: f.OSV, module: f.Trace[0].Module, version: f.Trace[0].Version, fixed: f.FixedVersion}
		}
	}
	list := make([]vuln, 0, len(reachable))
	for _, v := range reachable {
		list = append(list, v)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].id < list[j].id })
	return list, len(seen) - len(list), nil
}

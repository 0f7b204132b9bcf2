// Command vulndb converts the OSV entries of the golang.org/x/vulndb module
// (data/osv/GO-*.json, fetched through the Go module proxy) into the
// directory layout govulncheck reads with -db file://DIR:
//
//	DIR/index/db.json       {"modified": T}
//	DIR/index/modules.json  [{"path": P, "vulns": [{"id": ID, "modified": T}]}]
//	DIR/ID/GO-YYYY-NNNN.json the OSV entry, unchanged
//
// The per-module "fixed" hint is left out on purpose: govulncheck then reads
// every entry of a module it finds and applies the entry's full version
// ranges, which is slower but cannot skip a vulnerability because of a
// wrongly summarised range.
//
// Usage: go run ./scripts/vulndb -osv MODDIR/data/osv -out bin/vulndb -modified 2026-11-05T23:49:57Z
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

type entry struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Affected []struct {
		Package struct {
			Name      string `json:"name"`
			Ecosystem string `json:"ecosystem"`
		} `json:"package"`
	} `json:"affected"`
}

type moduleVuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
}

type moduleMeta struct {
	Path  string       `json:"path"`
	Vulns []moduleVuln `json:"vulns"`
}

func main() {
	osvDir := flag.String("osv", "", "the data/osv folder of golang.org/x/vulndb")
	outDir := flag.String("out", "", "the database folder to write")
	modified := flag.String("modified", "", "RFC 3339 time of the vulndb module version (the entries carry none)")
	flag.Parse()
	if err := run(*osvDir, *outDir, *modified); err != nil {
		fmt.Fprintln(os.Stderr, "vulndb:", err)
		os.Exit(1)
	}
}

func run(osvDir, outDir, modified string) error {
	if osvDir == "" || outDir == "" {
		return fmt.Errorf("-osv and -out are required")
	}
	dbTime, err := time.Parse(time.RFC3339, modified)
	if err != nil {
		return fmt.Errorf("-modified: %w", err)
	}
	names, err := filepath.Glob(filepath.Join(osvDir, "GO-*.json"))
	if err != nil || len(names) == 0 {
		return fmt.Errorf("no GO-*.json entries in %s", osvDir)
	}
	if err := os.MkdirAll(filepath.Join(outDir, "ID"), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(outDir, "index"), 0o755); err != nil {
		return err
	}
	modules := map[string]*moduleMeta{}
	for _, name := range names {
		if err := convertEntry(name, outDir, dbTime, modules); err != nil {
			return err
		}
	}
	return writeIndex(outDir, dbTime, modules, len(names))
}

// convertEntry copies one OSV entry into ID/ and records it under every Go
// module it affects.
func convertEntry(name, outDir string, dbTime time.Time, modules map[string]*moduleMeta) error {
	data, err := os.ReadFile(name) // #nosec G304 -- the path comes from our own glob of the vulndb module
	if err != nil {
		return err
	}
	var e entry
	if err := json.Unmarshal(data, &e); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if e.ID == "" || !strings.HasPrefix(filepath.Base(name), e.ID) {
		return fmt.Errorf("%s: id %q does not match the file name", name, e.ID)
	}
	if e.Modified.IsZero() || e.Modified.Year() < 2 {
		e.Modified = dbTime
	}
	if err := os.WriteFile(filepath.Join(outDir, "ID", e.ID+".json"), data, 0o600); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, a := range e.Affected {
		path := a.Package.Name
		if a.Package.Ecosystem != "Go" || path == "" || seen[path] {
			continue
		}
		seen[path] = true
		m := modules[path]
		if m == nil {
			m = &moduleMeta{Path: path}
			modules[path] = m
		}
		m.Vulns = append(m.Vulns, moduleVuln{ID: e.ID, Modified: e.Modified})
	}
	return nil
}

func writeIndex(outDir string, dbTime time.Time, modules map[string]*moduleMeta, entries int) error {
	list := make([]*moduleMeta, 0, len(modules))
	for _, m := range modules {
		sort.Slice(m.Vulns, func(i, j int) bool { return m.Vulns[i].ID < m.Vulns[j].ID })
		list = append(list, m)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Path < list[j].Path })
	mod, err := json.Marshal(list)
	if err != nil {
		return err
	}
	db, err := json.Marshal(struct {
		Modified time.Time `json:"modified"`
	}{dbTime})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(outDir, "index", "modules.json"), mod, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(outDir, "index", "db.json"), db, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "vulndb: %d entries, %d modules -> %s\n", entries, len(list), outDir)
	return nil
}

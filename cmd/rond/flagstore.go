package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/ron-network/ron/io/datadir"
)

// Persisted flag overrides. A flip through POST /admin/flags on a
// macronode is written to flagOverridesName in the data dir (atomically:
// datadir.WriteFileAtomic) before it is answered, so a restart keeps the
// operator's kill switch. Precedence, lowest first:
//
//	default          every flag on
//	config           the config file's flags map (read at start and on reload)
//	override         the last POST /admin/flags for that flag (persisted)
//
// An override wins over the config file until it is removed: a reload
// that names an overridden flag logs that the file's value waits, and
// ronctl status shows each flag's source. To hand a flag back to the
// config file, stop the node and delete the file (or the flag's entry in
// it). A micronode has no data dir: its flips last until it stops.
const (
	flagOverridesName    = "flag-overrides.json"
	flagOverridesVersion = 1
)

// Flag value sources, as GET /status reports them.
const (
	sourceDefault  = "default"
	sourceConfig   = "config"
	sourceOverride = "override"
)

// flagOverridesFile is the file's JSON shape.
type flagOverridesFile struct {
	Version int             `json:"version"`
	Flags   map[string]bool `json:"flags"`
}

// loadFlagOverrides reads dir's overrides; a missing file is none. Any
// other problem (unreadable, not the JSON above, a newer version, an
// unknown flag) is an error naming the file and what to do, and stops
// the start: running with the kill switch silently lost is worse.
func loadFlagOverrides(dir string) (map[string]bool, error) {
	path := filepath.Join(dir, flagOverridesName)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rond: reading the flag overrides %s: %w", path, err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("rond: flag overrides %s: %s (fix it, or delete it to use the config file's flags)", path, fmt.Sprintf(format, args...))
	}
	var file flagOverridesFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&file); err != nil {
		return nil, bad("not valid JSON of the form {\"version\":1,\"flags\":{...}}: %v", err)
	}
	if file.Version != flagOverridesVersion {
		return nil, bad("version %d, this build reads %d", file.Version, flagOverridesVersion)
	}
	for _, name := range slices.Sorted(maps.Keys(file.Flags)) {
		if !slices.Contains(flagNames, name) {
			return nil, bad("%v", unknownFlag(name))
		}
	}
	if file.Flags == nil {
		file.Flags = map[string]bool{}
	}
	return file.Flags, nil
}

// saveFlagOverrides replaces dir's overrides with flags.
func saveFlagOverrides(dir string, flags map[string]bool) error {
	data, err := json.MarshalIndent(flagOverridesFile{Version: flagOverridesVersion, Flags: flags}, "", "  ")
	if err != nil {
		return err
	}
	return datadir.WriteFileAtomic(dir, flagOverridesName, append(data, '\n'))
}

package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ron-network/ron/core/audit"
	"github.com/ron-network/ron/core/dht"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/storage"
	"github.com/ron-network/ron/io/gateway"
	"github.com/ron-network/ron/io/regfile"
	"github.com/ron-network/ron/io/runtime"
)

// Feature flags: named switches over the node's risky paths, all on by
// default. The config file's flags map sets them at start and on every
// reload of the file (SIGHUP, or a change on disk); POST /admin/flags
// flips them on a live node, and on a macronode the flip is persisted in
// the data dir and wins over the config file across reloads and restarts
// (flagstore.go has the precedence). Each is a kill switch that leaves
// the node correct when off:
//
//	repair           the storage repair loop (storage.SetRepair): puts and
//	                 verified gets go on, only restoring R after a loss waits
//	republish        provider republishing (dht.SetRepublish): records
//	                 expire after their TTL instead of being renewed
//	oap              the OAP/1 client endpoint: every request answers 503
//	anonymous_reads  reads without a valid token: 401
//
// repair and republish live in core machines: they reach them as config
// when the node is built (runtime.NodeSpec, restarts included) and as a
// request when flipped.
const (
	flagRepair         = "repair"
	flagRepublish      = "republish"
	flagOAP            = "oap"
	flagAnonymousReads = gateway.FlagAnonymousReads
)

// flagNames lists every flag, sorted.
var flagNames = []string{flagAnonymousReads, flagOAP, flagRepair, flagRepublish}

// metricFeatureFlag is 1 for a flag that is on, 0 for one that is off.
const metricFeatureFlag = "feature_flag_enabled"

var _ = env.Declare(env.MetricDef{Name: metricFeatureFlag, Kind: env.Gauge,
	Help: "1 when the feature flag is on, 0 when it is switched off.", Label: "flag", LabelValues: flagNames})

// flagApplyTimeout bounds applying one flag to the machines.
const flagApplyTimeout = 5 * time.Second

// unknownFlag is the error for a name that is not a flag, naming the
// nearest one.
func unknownFlag(name string) error {
	hint := "flags: " + strings.Join(flagNames, ", ")
	if near := nearestKey(name, flagNames); near != "" {
		hint = fmt.Sprintf("did you mean %q?", near)
	}
	return fmt.Errorf("%w %q (%s)", gateway.ErrUnknownFlag, name, hint)
}

// checkFlags validates the config file's flags map.
func checkFlags(flags map[string]bool) error {
	for _, name := range slices.Sorted(maps.Keys(flags)) {
		if !slices.Contains(flagNames, name) {
			return badSetting("flags", "%v", unknownFlag(name))
		}
	}
	return nil
}

// featureFlags is the node's flag set; it implements gateway.FlagSwitch.
// Sets are serialised by setMu; on guards the map, which HTTP goroutines
// and the node loop (NewNode at a restart) read.
type featureFlags struct {
	setMu sync.Mutex
	mu    sync.Mutex
	on    map[string]bool
	// config holds the config file's values (as last read), overrides the
	// persisted POST /admin/flags values (flagstore.go); both under mu.
	config    map[string]bool
	overrides map[string]bool
	// persist writes the overrides durably (nil: a micronode, which keeps
	// its flips in memory).
	persist func(map[string]bool) error
	apply   func(ctx context.Context, name string, on bool) error // nil: nothing to apply
	metrics env.Metrics                                           // nil: not exported
	log     *slog.Logger
}

var _ gateway.FlagSwitch = (*featureFlags)(nil)

// newFeatureFlags starts with every flag on, then the config's values.
func newFeatureFlags(config map[string]bool, log *slog.Logger) *featureFlags {
	f := &featureFlags{on: map[string]bool{}, config: maps.Clone(config), overrides: map[string]bool{}, log: log}
	if f.config == nil {
		f.config = map[string]bool{}
	}
	for _, name := range flagNames {
		f.on[name] = true
	}
	maps.Copy(f.on, config)
	return f
}

// persistIn loads the overrides persisted in the data dir dir over the
// config's values and persists every later POST /admin/flags flip there.
// A bad overrides file is an error naming it.
func (f *featureFlags) persistIn(dir string) error {
	overrides, err := loadFlagOverrides(dir)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, name := range slices.Sorted(maps.Keys(overrides)) {
		if c, ok := f.config[name]; ok && c != overrides[name] && f.log != nil {
			f.log.Warn("rond: a flag override from POST /admin/flags wins over the config file",
				"flag", name, "on", overrides[name], "config", c, "file", filepath.Join(dir, flagOverridesName))
		}
	}
	maps.Copy(f.on, overrides)
	f.overrides = overrides
	f.persist = func(o map[string]bool) error { return saveFlagOverrides(dir, o) }
	return nil
}

// Sources says where each flag's value comes from: "default", "config"
// or "override" (flagstore.go).
func (f *featureFlags) Sources() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for _, name := range flagNames {
		switch _, c := f.config[name]; {
		case f.hasOverride(name):
			out[name] = sourceOverride
		case c:
			out[name] = sourceConfig
		default:
			out[name] = sourceDefault
		}
	}
	return out
}

func (f *featureFlags) hasOverride(name string) bool {
	_, ok := f.overrides[name]
	return ok
}

// export starts exporting the gauge to m.
func (f *featureFlags) export(m env.Metrics) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.metrics = m
	for name, on := range f.on {
		f.gauge(name, on)
	}
}

func (f *featureFlags) gauge(name string, on bool) {
	if f.metrics == nil {
		return
	}
	v := 0.0
	if on {
		v = 1
	}
	f.metrics.Set(metricFeatureFlag, name, v)
}

func (f *featureFlags) Enabled(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	on, known := f.on[name]
	return on || !known
}

func (f *featureFlags) Flags() map[string]bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.on)
}

// Set is an operator's flip (POST /admin/flags): it becomes the flag's
// override, persisted before it takes effect when the node has a data
// dir, and is applied to the machines; when either fails the flag and
// its override are put back and the error returned.
func (f *featureFlags) Set(ctx context.Context, name string, on bool) error {
	if !slices.Contains(flagNames, name) {
		return unknownFlag(name)
	}
	f.setMu.Lock()
	defer f.setMu.Unlock()
	f.mu.Lock()
	oldOverrides := maps.Clone(f.overrides)
	f.overrides[name] = on
	newOverrides, persist := maps.Clone(f.overrides), f.persist
	f.mu.Unlock()
	undo := func() {
		f.mu.Lock()
		f.overrides = oldOverrides
		f.mu.Unlock()
	}
	if persist != nil {
		if err := persist(newOverrides); err != nil {
			undo()
			return fmt.Errorf("persisting the flag: %w", err)
		}
	}
	if err := f.set(ctx, name, on); err != nil {
		undo()
		if persist != nil {
			if perr := persist(oldOverrides); perr != nil && f.log != nil {
				f.log.Error("rond: restoring the flag overrides", "err", perr)
			}
		}
		return err
	}
	return nil
}

// setFromConfig applies the config file's value of name unless an
// override holds it, in which case the value waits (logged).
func (f *featureFlags) setFromConfig(ctx context.Context, name string, on bool) (applied bool, err error) {
	f.setMu.Lock()
	defer f.setMu.Unlock()
	f.mu.Lock()
	f.config[name] = on
	overridden, current := f.hasOverride(name), f.on[name]
	f.mu.Unlock()
	if overridden {
		if current != on && f.log != nil {
			f.log.Warn("rond: the config file's flag waits: a POST /admin/flags override holds it", "flag", name, "config", on, "override", current)
		}
		return false, nil
	}
	return true, f.set(ctx, name, on)
}

// set switches name and applies it to the machines; when that fails the
// flag is put back and the error returned. setMu is held.
func (f *featureFlags) set(ctx context.Context, name string, on bool) error {
	old := f.store(name, on)
	if f.apply != nil {
		ctx, cancel := context.WithTimeout(ctx, flagApplyTimeout)
		defer cancel()
		if err := f.apply(ctx, name, on); err != nil {
			f.store(name, old)
			return err
		}
	}
	if old != on && f.log != nil {
		f.log.Warn("rond: feature flag switched", "flag", name, "on", on)
	}
	return nil
}

// store sets the flag and its gauge and returns the state before.
func (f *featureFlags) store(name string, on bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.on[name]
	f.on[name] = on
	f.gauge(name, on)
	return old
}

// spec returns spec with the machine flags' current state: rond's NewNode,
// so a node rebuilt after a panic keeps them.
func (f *featureFlags) spec(spec runtime.NodeSpec) runtime.NodeSpec {
	spec.RepairOff = !f.Enabled(flagRepair)
	spec.RepublishOff = !f.Enabled(flagRepublish)
	return spec
}

// applyToNode is featureFlags.apply for a running node: the machine flags
// become requests to their machines; the others need nothing.
func applyToNode(rt *runtime.Runtime) func(ctx context.Context, name string, on bool) error {
	return func(ctx context.Context, name string, on bool) error {
		var err error
		switch name {
		case flagRepair:
			_, err = runtime.Call(ctx, rt, storage.SetRepair{Enabled: on})
		case flagRepublish:
			_, err = runtime.Call(ctx, rt, dht.SetRepublish{Enabled: on})
		}
		return err
	}
}

// flagPollInterval is how often watchFlags looks at the config file;
// a change applies within it (the policy's bound is the same).
const flagPollInterval = time.Second

// watchFlags reloads the flags of the config file at path when its bytes
// change and on SIGHUP, until the returned stop is called. An invalid
// file is logged and changes nothing; each flip is logged and audited. A
// file that stops being readable (removed, replaced by a FIFO or device,
// grown past configFileBytesMax) is logged once, and once again when it
// can be read again.
// path "" watches nothing. Each reload then runs the hooks' reload (the
// members setting's: members.go), and each poll that finds the file
// unchanged (or unreadable) runs their retry.
func watchFlags(ctx context.Context, path string, f *featureFlags, record func(audit.Event), log *slog.Logger, hooks ...reloadHook) func() {
	if path == "" {
		return func() {}
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	last, err := regfile.ReadFile(path, configFileBytesMax) // never blocks on a FIFO
	// refused: the file could not be read at the last look (gone, not a
	// regular file, too big). Its changes are logged, once each way, so
	// that a config file the watcher no longer sees is not a silent
	// surprise at the next edit.
	refused := err != nil
	go func() {
		tick := time.NewTicker(flagPollInterval)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				data, err := regfile.ReadFile(path, configFileBytesMax)
				if err != nil {
					if !refused {
						log.Warn("rond: config file cannot be read; its changes are not applied until it can", "file", path, "err", err)
						refused = true
					}
					retry(ctx, hooks)
					continue
				}
				if refused {
					log.Info("rond: config file can be read again; its changes apply", "file", path)
					refused = false
				}
				if bytes.Equal(data, last) {
					retry(ctx, hooks)
					continue
				}
				last = data
			case <-hup:
				if data, err := regfile.ReadFile(path, configFileBytesMax); err == nil {
					last = data // reloaded now: the next poll need not again
				}
			}
			reloadFlags(ctx, path, f, record, log)
			for _, h := range hooks {
				if h.reload != nil {
					h.reload(ctx)
				}
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
	}
}

// reloadHook is a setting other than the flags that watchFlags reloads:
// reload reads and applies it, retry applies again what a reload did not
// finish (either may be nil).
type reloadHook struct {
	reload, retry func(context.Context)
}

func retry(ctx context.Context, hooks []reloadHook) {
	for _, h := range hooks {
		if h.retry != nil {
			h.retry(ctx)
		}
	}
}

// reloadFlags applies the flags the config file names, in name order;
// flags it does not name keep their state. Each flip is recorded with
// record (rond's audit queue, reloadaudit.go, so that a flip made while
// the node restarts is appended once it serves; nil records nothing).
func reloadFlags(ctx context.Context, path string, f *featureFlags, record func(audit.Event), log *slog.Logger) {
	cfg := defaults()
	err := readConfigFile(path, &cfg)
	if err == nil {
		err = checkFlags(cfg.Flags)
	}
	if err != nil {
		log.Error("rond: config file not reloaded; the flags stay as they are", "file", path, "err", err)
		return
	}
	before := f.Flags()
	for _, name := range slices.Sorted(maps.Keys(cfg.Flags)) {
		on := cfg.Flags[name]
		applied, err := f.setFromConfig(ctx, name, on)
		if err != nil {
			log.Error("rond: flag not applied from the config file", "flag", name, "on", on, "err", err)
			continue
		}
		if applied && before[name] != on && record != nil {
			record(audit.Event{Kind: audit.KindPolicyChange, Actor: auditActor, Subject: "flag:" + name,
				Detail: fmt.Sprintf("%s: %t -> %t (reloaded from %s)", name, before[name], on, path)})
		}
	}
}

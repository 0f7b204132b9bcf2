package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ron-network/ron/core/audit"
	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/policy"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/io/gateway"
	"github.com/ron-network/ron/io/keyfile"
	"github.com/ron-network/ron/io/runtime"
)

// auditReadyPoll paces the wait for the node before rond's own audit
// records (auditQueue).
const auditReadyPoll = 50 * time.Millisecond

// loadPolicy builds the policy in force: the --policy file, validated at
// start (an invalid file stops the start with exit 2, naming the rule and
// field), else gateway.DefaultPolicy. Path is "" when no file is watched.
// It runs before the HTTP server starts, so it also creates the series of
// the cap key reloads at zero: the first scrape has them, and increase()
// sees the first rotation.
func loadPolicy(cfg Config, metrics *runtime.PromMetrics, log *slog.Logger) (*gateway.PolicyFile, error) {
	metrics.Add(auth.MetricKMSRotations, keyfile.CapKeyID, 0)
	p, err := gateway.NewPolicy(nil)
	if err != nil {
		return nil, err
	}
	pf := &gateway.PolicyFile{Path: cfg.Policy, Policy: p, Metrics: metrics, Logger: log}
	if cfg.Policy == "" {
		return pf, nil
	}
	if err := pf.Open(); err != nil {
		return nil, badSetting("policy", "%v", err)
	}
	return pf, nil
}

// watchReloads reloads the policy file and the cap key file when they
// change and on SIGHUP (each watcher has its own SIGHUP channel, so one
// signal reloads both), and audits every policy bundle that takes effect
// and every refused one (reloadaudit.go).
// With neither file nor a config file (watchFlags reloads that, members
// included) SIGHUP is logged and ignored (rather than killing the
// process, Go's default). The returned function stops the watchers.
func watchReloads(q *auditQueue, pf *gateway.PolicyFile, keys *capKeys, configFile string, log *slog.Logger) func() {
	var hups []chan os.Signal
	hup := func() chan os.Signal {
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGHUP)
		hups = append(hups, c)
		return c
	}
	done := make(chan struct{})
	pf.Applied = func(old, b *policy.Bundle) { q.record(policyChange(pf.Path, old, b)) }
	pf.Refused = func(err error) { q.record(policyRefused(pf.Path, err, pf.Policy.Bundle())) }
	if pf.Path != "" {
		go pf.Run(done, hup())
	}
	if keys.path != "" {
		go keys.run(done, hup())
	}
	if len(hups) == 0 && configFile == "" { // watchFlags reloads a config file
		go func(hup <-chan os.Signal) {
			for {
				select {
				case <-done:
					return
				case <-hup:
					log.Warn("rond: SIGHUP: no --policy file, no cap key file and no config file to reload; nothing changes")
				}
			}
		}(hup())
	}
	return func() {
		for _, c := range hups {
			signal.Stop(c)
		}
		close(done)
	}
}

// reissueRootToken runs after a reload made key the cap key's current
// version: it mints a new root token with it, writes it to
// --root-token-file (atomically, mode 0600) and audits its issue. The
// root token of before keeps working until its version is retired.
// Without --root-token-file the new token could only go to the log, where
// tokens never go; ronctl token issue --key mints instead.
func reissueRootToken(cfg Config, q *auditQueue, key auth.MACKey, log *slog.Logger) {
	if cfg.RootTokenFile == "" {
		log.Info("rond: new tokens use this cap key version; the root token of before stays valid until its version is retired (mint more with ronctl token issue --key)",
			"version", key.Version)
		return
	}
	tok, err := mintRoot(key)
	if err == nil {
		err = keyfile.WriteAtomic(cfg.RootTokenFile, []byte(tok.Encode()+"\n"))
	}
	if err != nil {
		log.Error("rond: writing the root token of the new cap key version failed", "version", key.Version, "err", err)
		return
	}
	log.Info("rond: a root token of the new cap key version was written", "version", key.Version, "file", cfg.RootTokenFile)
	q.record(audit.Event{Kind: audit.KindTokenIssue, Actor: auditActor, Tenant: rootTenant,
		Subject: tok.ID().String(), Detail: fmt.Sprintf("root token minted with cap key version %d after a reload (every op)", key.Version)})
}

// auditStart queues the records of what the node starts with: the root
// token's issue, the cap keys, the policy and the membership. serve calls
// it before any watcher starts, so they come first in the chain; the
// queue appends them once the node serves (the audit service recovers
// its chain first).
func auditStart(q *auditQueue, token capabilities, pf *gateway.PolicyFile, membership []proto.NodeID) {
	q.record(audit.Event{Kind: audit.KindTokenIssue, Actor: auditActor, Tenant: rootTenant,
		Subject: token.id.String(), Detail: "root token minted at start (every op)"})
	q.record(capKeysStart(token.keys.path, token.keys.file))
	q.record(policyStart(pf.Path, pf.Policy.Bundle()))
	q.record(membersStart(membership))
}

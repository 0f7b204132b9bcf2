package main

import (
	"context"
	"encoding/hex"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ron-network/ron/core/audit"
	"github.com/ron-network/ron/core/policy"
	"github.com/ron-network/ron/io/gateway"
	"github.com/ron-network/ron/io/runtime"
)

// auditReadyPoll paces the wait for the node before the start-up audit
// records (the root token's issue, the policy loaded at start).
const auditReadyPoll = 50 * time.Millisecond

// loadPolicy builds the policy in force: the --policy file, validated at
// start (an invalid file stops the start with exit 2, naming the rule and
// field), else gateway.DefaultPolicy. Path is "" when no file is watched.
func loadPolicy(cfg Config, metrics *runtime.PromMetrics, log *slog.Logger) (*gateway.PolicyFile, error) {
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

// watchPolicy reloads the policy file when it changes and on SIGHUP, and
// audits every bundle that takes effect. Without a policy file SIGHUP is
// logged and ignored (rather than killing the process, Go's default). The
// returned function stops the watcher.
func watchPolicy(ctx context.Context, gw *gateway.Gateway, pf *gateway.PolicyFile, log *slog.Logger) func() {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	pf.Applied = func(b *policy.Bundle) { auditPolicy(ctx, gw, b, "reloaded from "+pf.Path) }
	if pf.Path != "" {
		go pf.Run(done, hup)
	} else {
		go func() {
			for {
				select {
				case <-done:
					return
				case <-hup:
					log.Warn("rond: SIGHUP: no --policy file to reload; the default policy stays")
				}
			}
		}()
	}
	return func() { signal.Stop(hup); close(done) }
}

func auditPolicy(ctx context.Context, gw *gateway.Gateway, b *policy.Bundle, how string) {
	_ = gw.Audit(ctx, audit.Event{Kind: audit.KindPolicyChange, Actor: "rond", Subject: b.Name,
		Detail: how + " digest=" + hex.EncodeToString(b.Digest[:])})
}

// auditStart records the root token's issue and the policy in force once
// the node serves (the audit service recovers its chain first).
func auditStart(ctx context.Context, rt *runtime.Runtime, gw *gateway.Gateway, token capabilities, pf *gateway.PolicyFile) {
	for !rt.Ready() {
		select {
		case <-ctx.Done():
			return
		case <-time.After(auditReadyPoll):
		}
	}
	_ = gw.Audit(ctx, audit.Event{Kind: audit.KindTokenIssue, Actor: "rond", Tenant: "root",
		Subject: token.id.String(), Detail: "root token minted at start (every op)"})
	how := "default at start"
	if pf.Path != "" {
		how = "loaded at start from " + pf.Path
	}
	auditPolicy(ctx, gw, pf.Policy.Bundle(), how)
}

package registry

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/ron-network/ron/core/env"
)

// Metric names (ARCHITECTURE section 8).
const (
	MetricResolveLatency = "index_resolve_latency_seconds"
	MetricCommitLatency  = "registry_commit_latency_seconds"
	MetricSnapshotAge    = "registry_snapshot_age_seconds"
	MetricRejects        = "registry_rejects_total"
	MetricCorruption     = "registry_corruption_total"
	MetricLeaderChanges  = "registry_leader_changes_total"
	MetricIsLeader       = "registry_is_leader"
	// MetricHasLeader is 1 while a replica knows a raft leader (itself
	// included), else 0: what an alert on a leaderless replica reads
	// (registry_is_leader is 0 on every follower).
	MetricHasLeader = "registry_has_leader"
	MetricOps       = "registry_ops_total"
	MetricNames     = "registry_names"
	// MetricClusterVersion is the cluster version the replica applied
	// (clusterversion.go).
	MetricClusterVersion = "registry_cluster_version"
	// MetricUnconfirmed is 1 while the replica started with no raft state
	// and does not vote yet (amnesia.go).
	MetricUnconfirmed = "registry_unconfirmed"
	// MetricClaimsUntenanted counts the Claims a replica applied at
	// cluster version VersionQuota or above that created a name without
	// a tenant: exempt tokens, and any claim that went past the tenant
	// quota (doc.go, "Tenant quota").
	MetricClaimsUntenanted = "registry_claims_untenanted_total"
	// MetricTimeouts counts the client ops this node ended at their
	// OpTimeout deadline, by outcome (timeoutUnknown: sent at least
	// once; timeoutUnavailable: never proposed, read or forwarded). Their
	// time is OpTimeout by construction, so registry_commit_latency_seconds
	// and index_resolve_latency_seconds leave them out.
	MetricTimeouts = "registry_timeouts_total"
)

// MetricTimeouts labels.
const (
	timeoutUnknown     = "unknown_outcome"
	timeoutUnavailable = "unavailable"
)

var _ = env.Declare(
	env.MetricDef{Name: MetricResolveLatency, Kind: env.Histogram, Help: "Linearizable resolve latency at the node that accepted it.", Buckets: env.LatencyBuckets},
	env.MetricDef{Name: MetricCommitLatency, Kind: env.Histogram, Help: "Registry write latency (accept to an answer from the registry; ops ended by their deadline are in registry_timeouts_total).", Buckets: env.LatencyBuckets},
	env.MetricDef{Name: MetricSnapshotAge, Kind: env.Gauge, Help: "Seconds since the replica's latest snapshot stopped covering its applied state."},
	env.MetricDef{Name: MetricRejects, Kind: env.Counter, Help: "Registry operations or entries rejected, by reason.", Label: "reason"},
	env.MetricDef{Name: MetricCorruption, Kind: env.Counter, Help: "Corrupt registry state detected (disk or snapshot)."},
	env.MetricDef{Name: MetricLeaderChanges, Kind: env.Counter, Help: "Raft leader changes seen by this replica."},
	env.MetricDef{Name: MetricIsLeader, Kind: env.Gauge, Help: "1 while this replica is the raft leader, else 0."},
	env.MetricDef{Name: MetricHasLeader, Kind: env.Gauge, Help: "1 while this registry replica knows a raft leader (itself included), else 0 (always 0 on a non-replica)."},
	env.MetricDef{Name: MetricOps, Kind: env.Counter, Help: "Registry client operations accepted, by op.", Label: "op"},
	env.MetricDef{Name: MetricNames, Kind: env.Gauge, Help: "Names in the replica's applied state (ronctl status shows it)."},
	env.MetricDef{Name: MetricUnconfirmed, Kind: env.Gauge, Help: "1 while this replica started with no raft state and does not vote yet (it waits for the others' state)."},
	env.MetricDef{Name: MetricClaimsUntenanted, Kind: env.Counter, Help: "Names created at registry cluster version 3 or above by a Claim without a tenant (exempt tokens, or claims that bypassed the tenant quota: older gateways, a restarted gateway's first claims)."},
	env.MetricDef{Name: MetricTimeouts, Kind: env.Counter, Help: "Registry client ops ended by their deadline instead of an answer, by outcome (unknown_outcome: sent; unavailable: never proposed or forwarded).", Label: "outcome"},
	env.MetricDef{Name: MetricClusterVersion, Kind: env.Gauge, Help: "The registry cluster version (log entry format) this replica applied."},
)

// raftLogger routes raft's logging to the env's logger. Info is demoted to
// debug (raft is chatty about elections); Panic and Fatal panic, since raft
// only uses them for broken invariants, and a machine never exits. A level
// the logger drops is not formatted: raft logs at debug on every vote and
// rejected append, and the simulator discards everything.
type raftLogger struct{ l *slog.Logger }

func (r raftLogger) Debug(v ...any)                   { r.log(slog.LevelDebug, v...) }
func (r raftLogger) Debugf(format string, v ...any)   { r.logf(slog.LevelDebug, format, v...) }
func (r raftLogger) Info(v ...any)                    { r.log(slog.LevelDebug, v...) }
func (r raftLogger) Infof(format string, v ...any)    { r.logf(slog.LevelDebug, format, v...) }
func (r raftLogger) Warning(v ...any)                 { r.log(slog.LevelWarn, v...) }
func (r raftLogger) Warningf(format string, v ...any) { r.logf(slog.LevelWarn, format, v...) }
func (r raftLogger) Error(v ...any)                   { r.log(slog.LevelError, v...) }
func (r raftLogger) Errorf(format string, v ...any)   { r.logf(slog.LevelError, format, v...) }
func (r raftLogger) Fatal(v ...any)                   { panic("registry: raft: " + fmt.Sprint(v...)) }
func (r raftLogger) Fatalf(format string, v ...any) {
	panic("registry: raft: " + fmt.Sprintf(format, v...))
}
func (r raftLogger) Panic(v ...any) { panic("registry: raft: " + fmt.Sprint(v...)) }
func (r raftLogger) Panicf(format string, v ...any) {
	panic("registry: raft: " + fmt.Sprintf(format, v...))
}

func (r raftLogger) log(level slog.Level, v ...any) {
	if r.l.Enabled(context.Background(), level) {
		r.l.Log(context.Background(), level, fmt.Sprint(v...))
	}
}

func (r raftLogger) logf(level slog.Level, format string, v ...any) {
	if r.l.Enabled(context.Background(), level) {
		r.l.Log(context.Background(), level, fmt.Sprintf(format, v...))
	}
}

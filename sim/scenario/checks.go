package scenario

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

var (
	checkNames = []string{CheckLinearizable, CheckLiveness, CheckDurability, CheckIntegrity,
		CheckConvergence, CheckSessions, CheckSLO, CheckLookups, CheckRevocation,
		CheckFairness, CheckReadAvailability, CheckReadiness, CheckRefusals, CheckRegistryLatency,
		CheckAuditRetention}
	lookupKeys    = []string{"success", "exact", "hops_mean", "hops_p99"}
	sloStats      = []string{"mean", "p50", "p95", "p99", "max"}
	metricPattern = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
)

// checksSection decodes `checks:`: each item is a bare name or a one-key
// mapping from the name to its options.
func (d *decoder) checksSection(n *yaml.Node) []Check {
	if n.Kind != yaml.SequenceNode {
		d.fail(n, "checks", "want a list of checks, got "+describe(n))
		return nil
	}
	checks := make([]Check, 0, len(n.Content))
	seen := map[string]int{}
	for i, item := range n.Content {
		path := index("checks", i)
		c, ok := d.check(item, path)
		if !ok {
			continue
		}
		if first, dup := seen[c.Name]; dup {
			d.fail(item, path, fmt.Sprintf("%s is already checks[%d]; list each check once", c.Name, first))
			continue
		}
		seen[c.Name] = i
		checks = append(checks, c)
	}
	return checks
}

func (d *decoder) check(n *yaml.Node, path string) (Check, bool) {
	c := Check{Line: n.Line}
	var options *yaml.Node
	switch {
	case n.Kind == yaml.ScalarNode:
		name, ok := d.str(n, path)
		if !ok {
			return c, false
		}
		c.Name = name
	case n.Kind == yaml.MappingNode && len(n.Content) == 2 && n.Content[0].Kind == yaml.ScalarNode:
		c.Name, options = n.Content[0].Value, n.Content[1]
	default:
		d.fail(n, path, "want a check name or a one-key mapping {name: {options}}, got "+describe(n))
		return c, false
	}
	if !slices.Contains(checkNames, c.Name) {
		d.fail(n, path, "unknown check "+fmt.Sprintf("%q", c.Name)+"; known checks: "+strings.Join(checkNames, ", "))
		return c, false
	}
	if c.Name == CheckLinearizable && d.registry == 0 && !d.registryBad {
		d.fail(n, path, "linearizable checks registry names and nodes.registry_replicas is 0")
		return c, false
	}
	if c.Name == CheckAuditRetention && !d.audit && !d.auditBad {
		d.fail(n, path, "audit_retention checks the audit section's appends and audit.rate is absent")
		return c, false
	}
	if c.Name == CheckRevocation && !d.tokens {
		d.fail(n, path, "revocation checks the token workload and workload.tokens is absent")
		return c, false
	}
	if isEdgeCheck(c.Name) && !d.edge {
		d.fail(n, path, c.Name+" checks the edge clients and workload.edge is absent")
		return c, false
	}
	if c.Name == CheckRegistryLatency && d.registry == 0 && !d.registryBad {
		d.fail(n, path, "registry_latency checks the registry and nodes.registry_replicas is 0")
		return c, false
	}
	if c.Name == CheckLookups && !d.lookups {
		d.fail(n, path, "lookups checks the DHT lookup workload and workload.mix.lookup is 0")
		return c, false
	}
	optPath := join(path, c.Name)
	if options != nil && options.ShortTag() == "!!null" {
		options = nil
	}
	switch c.Name {
	case CheckLookups:
		return c, d.lookupBudgets(&c, options, optPath)
	case CheckRegistryLatency:
		return c, d.registryLatency(&c, options, optPath)
	case CheckLiveness, CheckConvergence, CheckRevocation:
		return c, d.checkWithin(&c, options, optPath)
	case CheckSLO:
		if options == nil {
			return c, true
		}
		var ok bool
		c.SLO, ok = d.sloBudgets(options, optPath)
		return c, ok
	}
	if options == nil {
		return c, true
	}
	if options.Kind != yaml.MappingNode {
		d.fail(options, optPath, c.Name+" takes no options, got "+describe(options))
		return c, false
	}
	before := len(d.errs)
	d.mapping(options, optPath, nil)
	return c, len(d.errs) == before
}

func (d *decoder) checkWithin(c *Check, options *yaml.Node, path string) bool {
	c.Within = LivenessWithinDefault
	switch c.Name {
	case CheckConvergence:
		c.Within = ConvergenceWithinDefault
	case CheckRevocation:
		c.Within = RevocationWithinDefault
	}
	if options == nil {
		return true
	}
	f, ok := d.mapping(options, path, []string{"within"})
	if !ok {
		return false
	}
	if v, ok := f.get("within"); ok {
		c.Within, ok = d.positiveDuration(v, join(path, "within"))
		return ok
	}
	return true
}

// lookupBudgets decodes {success, exact, hops_mean, hops_p99}; an omitted
// bound keeps its default.
func (d *decoder) lookupBudgets(c *Check, options *yaml.Node, path string) bool {
	c.Lookups = LookupBudgets{Success: LookupSuccessDefault, HopsMean: LookupHopsMeanDefault, HopsP99: LookupHopsP99Default}
	if options == nil {
		return true
	}
	f, ok := d.mapping(options, path, lookupKeys)
	if !ok {
		return false
	}
	before := len(d.errs)
	targets := []*float64{&c.Lookups.Success, &c.Lookups.Exact, &c.Lookups.HopsMean, &c.Lookups.HopsP99}
	for i, key := range lookupKeys {
		v, ok := f.get(key)
		if !ok {
			continue
		}
		hi := 1.0
		if i >= 2 {
			hi = LookupHopsMax
		}
		if x, good := d.number(v, join(path, key), 0, hi); good {
			*targets[i] = x
		}
	}
	return len(d.errs) == before
}

// registryLatency decodes {commit_p99, election, unanswered}; an omitted bound keeps
// its default.
func (d *decoder) registryLatency(c *Check, options *yaml.Node, path string) bool {
	c.Registry = RegistryLatency{CommitP99: RegistryCommitP99Default, Election: RegistryElectionDefault, Unanswered: RegistryUnansweredDefault}
	if options == nil {
		return true
	}
	f, ok := d.mapping(options, path, []string{"commit_p99", "election", "unanswered"})
	if !ok {
		return false
	}
	good := true
	if v, ok := f.get("commit_p99"); ok {
		c.Registry.CommitP99, ok = d.positiveDuration(v, join(path, "commit_p99"))
		good = good && ok
	}
	if v, ok := f.get("election"); ok {
		c.Registry.Election, ok = d.positiveDuration(v, join(path, "election"))
		good = good && ok
	}
	if v, ok := f.get("unanswered"); ok {
		c.Registry.Unanswered, ok = d.number(v, join(path, "unanswered"), 0, 1)
		good = good && ok
	}
	return good
}

// sloBudgets decodes {metric: {stat: max}} into budgets sorted by metric
// then stat.
func (d *decoder) sloBudgets(n *yaml.Node, path string) ([]SLOBudget, bool) {
	if n.Kind != yaml.MappingNode || len(n.Content) == 0 {
		d.fail(n, path, "want {metric: {"+strings.Join(sloStats, "|")+": number}}, got "+describe(n)+"; write a bare slo for the budgets in specs/")
		return nil, false
	}
	if len(n.Content)/2 > SLOBudgetsMax {
		d.fail(n, path, fmt.Sprintf("at most %d metrics", SLOBudgetsMax))
		return nil, false
	}
	var budgets []SLOBudget
	before := len(d.errs)
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, value := n.Content[i], n.Content[i+1]
		metric := key.Value
		if key.Kind != yaml.ScalarNode || !metricPattern.MatchString(metric) {
			d.fail(key, path, "bad metric name "+describe(key)+"; want a Prometheus name like overlay_rpc_latency_seconds")
			continue
		}
		if seen[metric] {
			d.fail(key, join(path, metric), "duplicate key")
			continue
		}
		seen[metric] = true
		budgets = append(budgets, d.sloStats(value, join(path, metric), metric)...)
	}
	slices.SortFunc(budgets, func(a, b SLOBudget) int {
		return strings.Compare(a.Metric+" "+a.Stat, b.Metric+" "+b.Stat)
	})
	if len(budgets) > SLOBudgetsMax {
		d.fail(n, path, fmt.Sprintf("at most %d budgets", SLOBudgetsMax))
	}
	return budgets, len(d.errs) == before
}

func (d *decoder) sloStats(n *yaml.Node, path, metric string) []SLOBudget {
	f, ok := d.mapping(n, path, sloStats)
	if !ok {
		return nil
	}
	var out []SLOBudget
	for _, stat := range sloStats {
		if v, ok := f.get(stat); ok {
			if max, good := d.number(v, join(path, stat), 0, finite); good {
				out = append(out, SLOBudget{Metric: metric, Stat: stat, Max: max})
			}
		}
	}
	if len(n.Content) == 0 {
		d.fail(n, path, "no budget; give at least one of "+strings.Join(sloStats, ", "))
	}
	return out
}

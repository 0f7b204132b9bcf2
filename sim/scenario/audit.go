package scenario

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ron-network/ron/core/audit"
	"github.com/ron-network/ron/core/stack"
)

// AuditRateMax bounds audit.rate (appends per second to each node).
const AuditRateMax = 10_000

// AuditRateMin is the least audit.rate: one append per DurationMax, the
// longest scenario (a lower rate appends nothing, and its interval
// overflows a time.Duration).
var AuditRateMin = 1 / DurationMax.Seconds()

// Audit is the `audit:` section (nil = absent): the nodes' audit log
// retention (core/audit Config, rond's audit_retain_bytes and
// audit_retain_age; zero: core/audit's defaults) and appends to every
// node's log at RatePerSecond each (audit.Append, as rond's gateway
// appends an event), so that a run can reach the bounds. RetainBytes is
// at least audit.RetainBytesMin and RetainAge at least audit.RetainAgeMin,
// as in rond: a run reaches retention by age in a few simulated hours.
// RatePerSecond is in [AuditRateMin, AuditRateMax].
type Audit struct {
	RetainBytes   int64
	RetainAge     time.Duration
	RatePerSecond float64
}

// Config is the nodes' core/audit configuration.
func (a *Audit) Config() audit.Config {
	if a == nil {
		return audit.Config{}
	}
	return audit.Config{RetainBytes: a.RetainBytes, RetainAge: a.RetainAge}
}

func (d *decoder) auditSection(n *yaml.Node, nodes Nodes) *Audit {
	f, ok := d.mapping(n, "audit", []string{"retain_bytes", "retain_age", "rate"})
	if !ok {
		return nil
	}
	if nodes.Off.Has(stack.Audit) {
		d.fail(n, "audit", "nodes.off lists audit: no node keeps an audit log to configure")
	}
	a := &Audit{}
	if v, ok := f.get("retain_bytes"); ok {
		if b, good := unitValue(d, v, "audit.retain_bytes", "a size", parseSizeText); good {
			if b < audit.RetainBytesMin {
				d.fail(v, "audit.retain_bytes", fmt.Sprintf("want at least %s (core/audit's RetainBytesMin, as rond's audit_retain_bytes), got %s", formatSize(audit.RetainBytesMin), v.Value))
			} else {
				a.RetainBytes = b
			}
		}
	}
	if v, ok := f.get("retain_age"); ok {
		a.RetainAge, _ = d.duration(v, "audit.retain_age", audit.RetainAgeMin, DurationMax)
	}
	if v, ok := d.require(f, "rate"); ok {
		if r, good := unitValue(d, v, "audit.rate", "a rate", parseRateText); good {
			if r < AuditRateMin || r > AuditRateMax {
				d.fail(v, "audit.rate", fmt.Sprintf("want a rate of at least one append per %v (%s) and at most %s, got %s", DurationMax, formatRate(AuditRateMin), formatRate(AuditRateMax), v.Value))
			} else {
				a.RatePerSecond = r
			}
		}
	}
	return a
}

func (a *Audit) node() *yaml.Node {
	m := newMap(true)
	m.addIf(a.RetainBytes != 0, "retain_bytes", func() *yaml.Node { return strNode(formatSize(a.RetainBytes)) })
	m.addIf(a.RetainAge != 0, "retain_age", func() *yaml.Node { return durNode(a.RetainAge) })
	m.add("rate", strNode(formatRate(a.RatePerSecond)))
	return m.n
}

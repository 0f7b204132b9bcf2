package scenario

import (
	"fmt"
	"math"
	"time"

	"go.yaml.in/yaml/v3"
)

// Object size defaults for a content workload.
const (
	ObjectSizeMinDefault = 1 << 10
	ObjectSizeMaxDefault = 1 << 20
	// MixWeightMax bounds one operation weight (weights are relative).
	MixWeightMax = 1e9
)

var (
	networkKeys = []string{"latency", "loss", "duplicate", "reorder", "bandwidth"}
	diskKeys    = []string{"latency", "latency_jitter", "read_error", "write_error",
		"corrupt_read", "corrupt_write", "torn_write", "unsynced_survive"}
	workloadKeys = []string{"clients", "rate", "timeout", "start", "stop", "names", "mix", "objects", "tokens", "edge", "adversarial", "pins", "unpins"}
	mixKeys      = []string{"claim", "set", "resolve", "stale_resolve", "put", "get", "range_get", "lookup", "session_put"}
)

// diskProbabilities maps the disk section's probability keys (all but
// latency) to DiskFault fields, in diskKeys order.
func diskProbabilities(f *DiskFault) []**float64 {
	return []**float64{&f.LatencyJitter, &f.ReadError, &f.WriteError, &f.CorruptRead,
		&f.CorruptWrite, &f.TornWrite, &f.UnsyncedSurvive}
}

// mixWeights maps mixKeys to Mix fields, in order.
func mixWeights(m *Mix) []*float64 {
	return []*float64{&m.Claim, &m.Set, &m.Resolve, &m.StaleResolve, &m.Put, &m.Get, &m.RangeGet, &m.Lookup, &m.SessionPut}
}

// networkSection decodes `network:`, filling defaults for what is absent.
func (d *decoder) networkSection(top *fields) Network {
	network := Network{Latency: Latency{P50: LatencyP50Default, P99: LatencyP99Default}}
	v, ok := top.get("network")
	if !ok {
		return network
	}
	f, ok := d.mapping(v, "network", networkKeys)
	if !ok {
		return network
	}
	override := d.networkFields(f, network.Latency)
	return override.Apply(network)
}

// networkFields decodes network keys into overrides; a latency map's
// missing quantile is taken from base.
func (d *decoder) networkFields(f *fields, base Latency) NetworkFault {
	var out NetworkFault
	if v, ok := f.get("latency"); ok {
		out.Latency = d.latency(v, join(f.path, "latency"), base)
	}
	for i, ref := range []**float64{&out.Loss, &out.Duplicate, &out.Reorder} {
		key := networkKeys[1+i]
		if v, ok := f.get(key); ok {
			if p, good := d.probability(v, join(f.path, key)); good {
				*ref = &p
			}
		}
	}
	if v, ok := f.get("bandwidth"); ok {
		path := join(f.path, "bandwidth")
		if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!int" && v.Value == "0" {
			zero := int64(0)
			out.BandwidthBytesPerSecond = &zero
		} else if bw, good := unitValue(d, v, path, "a bandwidth", parseBandwidthText); good {
			out.BandwidthBytesPerSecond = &bw
		}
	}
	return out
}

func (d *decoder) latency(n *yaml.Node, path string, base Latency) *Latency {
	f, ok := d.mapping(n, path, []string{"p50", "p99"})
	if !ok {
		return nil
	}
	out := base
	good := true
	for _, q := range []struct {
		key string
		ref *time.Duration
	}{{"p50", &out.P50}, {"p99", &out.P99}} {
		if v, ok := f.get(q.key); ok {
			var fine bool
			*q.ref, fine = d.duration(v, join(path, q.key), 0, DurationMax)
			good = good && fine
		}
	}
	if !good {
		return nil
	}
	if out.P50 > out.P99 {
		d.fail(n, path, fmt.Sprintf("p50 (%s) is above p99 (%s)", formatDuration(out.P50), formatDuration(out.P99)))
		return nil
	}
	return &out
}

// diskSection decodes the top-level `disk:` defaults.
func (d *decoder) diskSection(n *yaml.Node, path string) Disk {
	f, ok := d.mapping(n, path, diskKeys)
	if !ok {
		return Disk{}
	}
	override := d.diskFields(f)
	return override.Apply(Disk{})
}

// diskFields decodes the disk keys of f into overrides.
func (d *decoder) diskFields(f *fields) DiskFault {
	var out DiskFault
	if v, ok := f.get("latency"); ok {
		if lat, good := d.duration(v, join(f.path, "latency"), 0, DurationMax); good {
			out.Latency = &lat
		}
	}
	for i, ref := range diskProbabilities(&out) {
		key := diskKeys[1+i]
		if v, ok := f.get(key); ok {
			if p, good := d.probability(v, join(f.path, key)); good {
				*ref = &p
			}
		}
	}
	return out
}

func (d *decoder) workloadSection(n *yaml.Node) *Workload {
	f, ok := d.mapping(n, "workload", workloadKeys)
	if !ok {
		return nil
	}
	w := &Workload{Timeout: TimeoutDefault, Stop: d.runEnd, Names: NamesDefault}
	if v, ok := f.get("clients"); ok {
		clients, _ := d.integer(v, "workload.clients", 0, ClientsMax)
		w.Clients = int(clients)
	}
	rateGood := true
	if v, ok := f.get("rate"); ok {
		w.RatePerSecond, rateGood = unitValue(d, v, "workload.rate", "a rate", parseRateText)
	}
	if v, ok := f.get("timeout"); ok {
		w.Timeout, _ = d.positiveDuration(v, "workload.timeout")
	}
	if v, ok := f.get("names"); ok {
		names, _ := d.integer(v, "workload.names", 1, NamesMax)
		w.Names = int(names)
	}
	if v, ok := f.get("pins"); ok {
		w.Pins, _ = d.number(v, "workload.pins", 0, 1)
	}
	if v, ok := f.get("unpins"); ok {
		w.Unpins, _ = d.number(v, "workload.unpins", 0, 1)
		if w.Unpins > 0 && w.Pins == 0 {
			d.fail(v, "workload.unpins", "needs workload.pins above 0 (an unpin undoes a pinned put)")
		}
	}
	if v, ok := f.get("adversarial"); ok {
		w.Adversarial, _ = d.number(v, "workload.adversarial", 0, 1)
	}
	d.workloadWindow(f, w)
	if v, ok := f.get("mix"); ok {
		w.Mix = d.mix(v)
	}
	if v, ok := f.get("objects"); ok {
		w.Objects = d.objects(v)
	}
	if v, ok := f.get("tokens"); ok {
		w.Tokens = d.tokensSection(v)
	}
	if v, ok := f.get("edge"); ok {
		w.Edge = d.edgeSection(v)
		if w.Mix.SessionPut > 0 {
			d.fail(v, "workload.edge", "workload.mix.session_put streams an object in several storage calls and the edge models an upload as one call; drop session_put or workload.edge")
		}
	}
	d.workloadNeeds(f, w, rateGood)
	return w
}

// workloadWindow decodes start and stop: 0 <= start < stop <= duration.
// stop defaults to the duration; a default is not checked while the
// duration is unknown.
func (d *decoder) workloadWindow(f *fields, w *Workload) {
	startNode, hasStart := f.get("start")
	if hasStart {
		var good bool
		if w.Start, good = d.duration(startNode, "workload.start", 0, DurationMax); !good {
			return
		}
	}
	stopNode, hasStop := f.get("stop")
	if hasStop {
		var good bool
		if w.Stop, good = d.positiveDuration(stopNode, "workload.stop"); !good {
			return
		}
	}
	switch {
	case hasStop && d.runEnd > 0 && w.Stop > d.runEnd:
		d.fail(stopNode, "workload.stop", fmt.Sprintf("%s is after the end of the run (duration %s)", formatDuration(w.Stop), formatDuration(d.runEnd)))
	case hasStop && w.Start >= w.Stop:
		d.fail(stopNode, "workload.stop", fmt.Sprintf("stop (%s) must be after start (%s)", formatDuration(w.Stop), formatDuration(w.Start)))
	case hasStart && d.runEnd > 0 && w.Start >= w.Stop:
		d.fail(startNode, "workload.start", fmt.Sprintf("%s is not before stop (%s)", formatDuration(w.Start), formatDuration(w.Stop)))
	}
}

// workloadNeeds checks what active clients need: a rate and a mix.
func (d *decoder) workloadNeeds(f *fields, w *Workload, rateGood bool) {
	if w.Clients == 0 {
		return
	}
	if v, ok := f.get("rate"); !ok {
		d.fail(f.node, "workload.rate", "required when clients > 0")
	} else if w.RatePerSecond == 0 && rateGood {
		d.fail(v, "workload.rate", "want a rate > 0 when clients > 0")
	}
	if _, ok := f.get("mix"); !ok {
		d.fail(f.node, "workload.mix", "required when clients > 0")
	}
}

func (d *decoder) mix(n *yaml.Node) Mix {
	var m Mix
	f, ok := d.mapping(n, "workload.mix", mixKeys)
	if !ok {
		return m
	}
	weights := mixWeights(&m)
	for i, key := range mixKeys {
		v, ok := f.get(key)
		if !ok {
			continue
		}
		path := join("workload.mix", key)
		*weights[i], _ = d.number(v, path, 0, MixWeightMax)
		if i < 4 && *weights[i] > 0 && d.registry == 0 && !d.registryBad {
			d.fail(v, path, key+" is a registry operation and nodes.registry_replicas is 0")
		}
	}
	if m.Total() == 0 {
		d.fail(n, "workload.mix", "every weight is 0; give at least one operation a weight > 0")
	}
	return m
}

func (d *decoder) objects(n *yaml.Node) *Objects {
	f, ok := d.mapping(n, "workload.objects", []string{"count", "size_min", "size_max"})
	if !ok {
		return nil
	}
	o := &Objects{SizeMinBytes: ObjectSizeMinDefault, SizeMaxBytes: ObjectSizeMaxDefault}
	if v, ok := d.require(f, "count"); ok {
		count, _ := d.integer(v, "workload.objects.count", 1, ObjectsMax)
		o.Count = int(count)
	}
	good := true
	for _, s := range []struct {
		key string
		ref *int64
	}{{"size_min", &o.SizeMinBytes}, {"size_max", &o.SizeMaxBytes}} {
		if v, ok := f.get(s.key); ok {
			var fine bool
			*s.ref, fine = unitValue(d, v, join("workload.objects", s.key), "a size", parseSizeText)
			good = good && fine
		}
	}
	if good && o.SizeMinBytes > o.SizeMaxBytes {
		d.fail(n, "workload.objects", fmt.Sprintf("size_min (%s) is above size_max (%s)", formatSize(o.SizeMinBytes), formatSize(o.SizeMaxBytes)))
	}
	return o
}

func (d *decoder) randomFaultsSection(n *yaml.Node) *RandomFaults {
	f, ok := d.mapping(n, "random_faults", []string{"crash_rate", "restart_after", "partition_rate", "partition_for", "survivable"})
	if !ok {
		return nil
	}
	r := &RandomFaults{RestartAfter: RestartAfterDefault, PartitionFor: PartitionForDefault, Survivable: true}
	if v, ok := f.get("crash_rate"); ok {
		r.CrashesPerMinute, _ = d.number(v, "random_faults.crash_rate", 0, FaultsPerMinuteMax)
	}
	if v, ok := f.get("partition_rate"); ok {
		r.PartitionsPerMinute, _ = d.number(v, "random_faults.partition_rate", 0, FaultsPerMinuteMax)
	}
	if v, ok := f.get("restart_after"); ok {
		r.RestartAfter, _ = d.positiveDuration(v, "random_faults.restart_after")
	}
	if v, ok := f.get("partition_for"); ok {
		r.PartitionFor, _ = d.positiveDuration(v, "random_faults.partition_for")
	}
	if v, ok := f.get("survivable"); ok {
		r.Survivable, _ = d.boolean(v, "random_faults.survivable")
	}
	return r
}

// finite is the upper bound for numbers without a natural one.
var finite = math.MaxFloat64

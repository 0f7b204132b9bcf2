package scenario

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"
	"pgregory.net/rapid"

	"github.com/ron-network/ron/core/audit"
	"github.com/ron-network/ron/core/stack"
)

// The generators below build valid scenarios directly from the schema's
// rules (not through Parse), so the round-trip property checks the decoder
// and the encoder against an independent statement of what is valid.

var textRunes = rapid.RuneFrom([]rune{' ', ':', '#', '-', '"', '\'', '|', '>', '{', '}', '[', ']', ',', '&', '*', '!', '%', '@', '`'},
	unicode.L, unicode.N, unicode.P, unicode.S)

func genText(t *rapid.T, label string, maxLen int, multiline bool) string {
	runes := textRunes
	if multiline {
		runes = rapid.OneOf(textRunes, rapid.SampledFrom([]rune{'\n', '\t', ' '}))
	}
	return rapid.StringOfN(runes, 1, maxLen, -1).Draw(t, label)
}

func genDuration(t *rapid.T, label string, lo, hi time.Duration) time.Duration {
	// Round values half of the time: they exercise the "1m", "1h" forms.
	if rapid.Bool().Draw(t, label+"_round") {
		unit := rapid.SampledFrom([]time.Duration{time.Millisecond, time.Second, time.Minute, time.Hour}).Draw(t, label+"_unit")
		if n := int64(hi / unit); n >= 1 && int64(lo/unit) < n {
			return time.Duration(rapid.Int64Range(max(int64(lo/unit), 1), n).Draw(t, label)) * unit
		}
	}
	return time.Duration(rapid.Int64Range(int64(lo), int64(hi)).Draw(t, label))
}

func genProbability(t *rapid.T, label string) float64 {
	if rapid.Bool().Draw(t, label+"_zero") {
		return 0
	}
	return rapid.Float64Range(0, 1).Draw(t, label)
}

func genNodeName(t *rapid.T, label string, count int) string {
	return NodeName(rapid.IntRange(0, count-1).Draw(t, label))
}

func genTarget(t *rapid.T, label string, s *Scenario, extra ...string) string {
	choices := append([]string{TargetRandom}, extra...)
	if s.Nodes.RegistryReplicas > 0 {
		choices = append(choices, TargetLeader)
	}
	if rapid.Bool().Draw(t, label+"_dynamic") {
		return rapid.SampledFrom(choices).Draw(t, label)
	}
	return genNodeName(t, label, s.Nodes.Count)
}

// genDisjoint splits a random subset of the nodes into parts non-empty lists.
func genDisjoint(t *rapid.T, label string, count, parts int) [][]string {
	order := rapid.Permutation(rangeNames(count)).Draw(t, label+"_order")
	cuts := make([]int, 0, parts)
	used := rapid.IntRange(parts, count).Draw(t, label+"_used")
	for i := 1; i < parts; i++ {
		cuts = append(cuts, i)
	}
	// Pick parts-1 distinct cut points in 1..used-1 after the forced ones.
	for i := range cuts {
		cuts[i] = rapid.IntRange(cuts[max(i-1, 0)]*boolInt(i > 0)+1, used-(parts-1-i)).Draw(t, label+"_cut")
	}
	out := make([][]string, parts)
	start := 0
	for i := range parts {
		end := used
		if i < len(cuts) {
			end = cuts[i]
		}
		out[i] = slices.Clone(order[start:end])
		start = end
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func rangeNames(count int) []string {
	names := make([]string, count)
	for i := range names {
		names[i] = NodeName(i)
	}
	return names
}

func genPartition(t *rapid.T, s *Scenario) *Partition {
	n := s.Nodes.Count
	kinds := []string{"isolate"}
	if n >= 2 {
		kinds = append(kinds, "one_way", "groups")
	}
	if n >= 3 {
		kinds = append(kinds, "bridge")
	}
	switch rapid.SampledFrom(kinds).Draw(t, "cut") {
	case "one_way":
		sides := genDisjoint(t, "one_way", n, 2)
		return &Partition{OneWay: &OneWay{From: sides[0], To: sides[1]}}
	case "groups":
		parts := rapid.IntRange(1, min(n, 4)).Draw(t, "groups")
		groups := genDisjoint(t, "groups", n, parts)
		if parts == 1 && len(groups[0]) == n {
			groups[0] = groups[0][1:] // one group of everyone cuts nothing
		}
		return &Partition{Groups: groups}
	case "bridge":
		sides := genDisjoint(t, "bridge", n, 3)
		return &Partition{Bridge: &Bridge{Left: sides[0], Right: sides[1], Via: sides[2][0]}}
	}
	return &Partition{Isolate: genTarget(t, "isolate", s)}
}

func genDiskFault(t *rapid.T, s *Scenario) *DiskFault {
	f := &DiskFault{Node: genTarget(t, "disk_node", s, TargetAll), Full: rapid.Bool().Draw(t, "full")}
	if rapid.Bool().Draw(t, "disk_latency_set") {
		v := genDuration(t, "disk_latency", 0, DurationMax)
		f.Latency = &v
	}
	for i, ref := range diskProbabilities(f) {
		if rapid.Bool().Draw(t, diskKeys[i+1]+"_set") {
			v := genProbability(t, diskKeys[i+1])
			*ref = &v
		}
	}
	if !f.Full && f.Latency == nil && !anySet(diskProbabilities(f)) {
		f.Full = true
	}
	return f
}

func genNetworkFault(t *rapid.T) *NetworkFault {
	f := &NetworkFault{}
	if rapid.Bool().Draw(t, "net_latency_set") {
		l := genLatency(t)
		f.Latency = &l
	}
	for i, ref := range []**float64{&f.Loss, &f.Duplicate, &f.Reorder} {
		if rapid.Bool().Draw(t, networkKeys[1+i]+"_set") {
			v := genProbability(t, networkKeys[1+i])
			*ref = &v
		}
	}
	if rapid.Bool().Draw(t, "net_bw_set") || *f == (NetworkFault{}) {
		v := rapid.Int64Range(0, BandwidthBytesPerSecondMax).Draw(t, "net_bw")
		f.BandwidthBytesPerSecond = &v
	}
	return f
}

func genLatency(t *rapid.T) Latency {
	p99 := genDuration(t, "p99", 0, DurationMax)
	return Latency{P50: genDuration(t, "p50", 0, p99), P99: p99}
}

// genFault draws any fault that fits the run, ignoring the other faults.
func genFault(t *rapid.T, s *Scenario) Fault {
	f := Fault{At: genDuration(t, "at", 0, s.Duration-1)}
	f.Kind = rapid.SampledFrom(faultKinds).Draw(t, "kind")
	if f.Kind != KindCrash {
		f.For = genDuration(t, "for", 1, s.Duration-f.At)
	}
	switch f.Kind {
	case KindPartition:
		f.Partition = genPartition(t, s)
	case KindCrash:
		f.Crash = &Crash{Target: genTarget(t, "crash", s)}
		if rapid.Bool().Draw(t, "restarts") {
			f.Crash.RestartAfter = genDuration(t, "restart_after", 1, s.Duration-f.At)
			if rapid.Bool().Draw(t, "swap") { // a swap names a node and restarts
				f.Crash.Target = genNodeName(t, "swap_node", s.Nodes.Count)
				f.Crash.Swap = rapid.SampledFrom([]string{KindUpgrade, KindDowngrade}).Draw(t, "swap_kind")
			}
		}
	case KindPause:
		f.Pause = &Pause{Target: genTarget(t, "pause", s)}
	case KindClock:
		c := &Clock{Node: genTarget(t, "clock", s)}
		c.Offset = genDuration(t, "offset", -ClockOffsetMax, ClockOffsetMax)
		c.Drift = rapid.Float64Range(-ClockDriftMax, ClockDriftMax).Draw(t, "drift")
		if c.Offset == 0 && c.Drift == 0 {
			c.Drift = ClockDriftMax
		}
		f.Clock = c
	case KindDisk:
		f.Disk = genDiskFault(t, s)
	case KindNetwork:
		f.Network = genNetworkFault(t)
	}
	return f
}

// modelConflict restates the timeline rule: windows overlap and hold the
// same exclusive state (one cut, one network override, one process fault
// per node, one clock fault per node; leader/random may be any node).
func modelConflict(a, b Fault, runEnd time.Duration) bool {
	if !(a.At < b.End(runEnd) && b.At < a.End(runEnd)) {
		return false
	}
	group := func(f Fault) (string, string) {
		switch f.Kind {
		case KindCrash:
			return "process", f.Crash.Target
		case KindPause:
			return "process", f.Pause.Target
		case KindClock:
			return "clock", f.Clock.Node
		case KindDisk:
			return "", ""
		}
		return f.Kind, "*"
	}
	ga, na := group(a)
	gb, nb := group(b)
	if ga == "" || ga != gb {
		return false
	}
	dynamic := func(n string) bool { return n == "*" || n == TargetLeader || n == TargetRandom }
	return na == nb || dynamic(na) || dynamic(nb)
}

func genWorkload(t *rapid.T, s *Scenario) *Workload {
	w := &Workload{
		Clients: rapid.IntRange(0, ClientsMax).Draw(t, "clients"),
		Timeout: genDuration(t, "timeout", 1, DurationMax),
		Names:   rapid.IntRange(1, NamesMax).Draw(t, "names"),
	}
	if rapid.Bool().Draw(t, "pins_set") {
		w.Pins = rapid.Float64Range(0, 1).Draw(t, "pins")
		if w.Pins > 0 && rapid.Bool().Draw(t, "unpins_set") {
			w.Unpins = rapid.Float64Range(0, 1).Draw(t, "unpins")
		}
	}
	if rapid.Bool().Draw(t, "adversarial_set") {
		w.Adversarial = rapid.Float64Range(0, 1).Draw(t, "adversarial")
	}
	w.Stop = genDuration(t, "stop", 1, s.Duration)
	w.Start = genDuration(t, "start", 0, w.Stop-1)
	if w.Clients > 0 || rapid.Bool().Draw(t, "rate_set") {
		w.RatePerSecond = rapid.Float64Range(0, RatePerSecondMax).Draw(t, "rate")
		if w.RatePerSecond == 0 && w.Clients > 0 {
			w.RatePerSecond = 1
		}
	}
	if w.Clients > 0 || rapid.Bool().Draw(t, "mix_set") {
		weights := mixWeights(&w.Mix)
		for i := range weights {
			if (i >= 4 || s.Nodes.RegistryReplicas > 0) && rapid.Bool().Draw(t, mixKeys[i]+"_set") {
				*weights[i] = rapid.Float64Range(0, MixWeightMax).Draw(t, mixKeys[i])
			}
		}
		if w.Mix.Total() == 0 {
			w.Mix.Put = 1
		}
	}
	if rapid.Bool().Draw(t, "objects_set") {
		hi := rapid.Int64Range(0, ObjectBytesMax).Draw(t, "size_max")
		w.Objects = &Objects{Count: rapid.IntRange(1, ObjectsMax).Draw(t, "objects"),
			SizeMinBytes: rapid.Int64Range(0, hi).Draw(t, "size_min"), SizeMaxBytes: hi}
	}
	if rapid.Bool().Draw(t, "tokens_set") {
		w.Tokens = genTokens(t, s)
	}
	return w
}

// genTokens draws a valid tokens section: at least one token stays valid.
func genTokens(t *rapid.T, s *Scenario) *Tokens {
	tk := &Tokens{Count: rapid.IntRange(2, TokensMax).Draw(t, "tokens"),
		RatePerSecond: rapid.Float64Range(1, RatePerSecondMax).Draw(t, "tokens_rate")}
	if s.Duration > 1 && s.Nodes.RegistryReplicas > 0 && rapid.Bool().Draw(t, "revoke_set") {
		tk.RevokeAt = genDuration(t, "revoke_at", 1, s.Duration-1)
	}
	revoked := 0
	if tk.RevokeAt > 0 {
		revoked = 1
	}
	if s.Duration > 1 {
		tk.Expiring = rapid.IntRange(0, tk.Count-1-revoked).Draw(t, "expiring")
	}
	if tk.Expiring > 0 {
		tk.ExpireAt = genDuration(t, "expire_at", 1, s.Duration-1)
	}
	return tk
}

func genChecks(t *rapid.T, s *Scenario) []Check {
	names := rapid.Permutation(checkNames).Draw(t, "check_order")
	n := rapid.IntRange(0, len(names)).Draw(t, "checks")
	var checks []Check
	for _, name := range names[:n] {
		c := Check{Name: name}
		switch name {
		case CheckLinearizable:
			if s.Nodes.RegistryReplicas == 0 {
				continue
			}
		case CheckLiveness, CheckConvergence:
			c.Within = genDuration(t, "within", 1, DurationMax)
		case CheckRegistryLatency:
			if s.Nodes.RegistryReplicas == 0 {
				continue
			}
			c.Registry = RegistryLatency{CommitP99: genDuration(t, "commit_p99", 1, DurationMax), Election: genDuration(t, "election", 1, DurationMax),
				Unanswered: genProbability(t, "unanswered")}
		case CheckAuditRetention:
			if s.Audit == nil {
				continue
			}
		case CheckRevocation:
			if s.Workload == nil || s.Workload.Tokens == nil {
				continue
			}
			c.Within = genDuration(t, "within", 1, DurationMax)
		case CheckFairness, CheckReadAvailability, CheckReadiness, CheckRefusals:
			if s.Workload == nil || s.Workload.Edge == nil {
				continue
			}
		case CheckLookups:
			if s.Workload == nil || s.Workload.Mix.Lookup == 0 {
				continue
			}
			c.Lookups = LookupBudgets{
				Success: rapid.Float64Range(0, 1).Draw(t, "success"), Exact: rapid.Float64Range(0, 1).Draw(t, "exact"),
				HopsMean: rapid.Float64Range(0, LookupHopsMax).Draw(t, "hops_mean"), HopsP99: rapid.Float64Range(0, LookupHopsMax).Draw(t, "hops_p99")}
		case CheckSLO:
			metrics := rapid.SliceOfNDistinct(rapid.StringMatching(`[a-z_][a-z0-9_]{0,20}`), 0, 4, rapid.ID[string]).Draw(t, "metrics")
			slices.Sort(metrics)
			for _, m := range metrics {
				stats := rapid.SliceOfNDistinct(rapid.SampledFrom(sloStats), 1, len(sloStats), rapid.ID[string]).Draw(t, "stats")
				slices.Sort(stats)
				for _, st := range stats {
					c.SLO = append(c.SLO, SLOBudget{Metric: m, Stat: st, Max: rapid.Float64Range(0, 1e6).Draw(t, "budget")})
				}
			}
		}
		checks = append(checks, c)
	}
	return checks
}

func genSwarm(t *rapid.T) *Swarm {
	sw := &Swarm{}
	for _, f := range swarmFields {
		if rapid.Bool().Draw(t, f.key+"_set") {
			hi := rapid.Float64Range(0, f.max).Draw(t, f.key+"_max")
			*f.ranges(sw) = &Range{Min: rapid.Float64Range(0, hi).Draw(t, f.key+"_min"), Max: hi}
		}
	}
	return sw
}

func genScenario(t *rapid.T) *Scenario {
	s := &Scenario{Name: genText(t, "name", 40, false), Duration: genDuration(t, "duration", 1, DurationMax)}
	if rapid.Bool().Draw(t, "description_set") {
		s.Description = genText(t, "description", 200, true)
	}
	if rapid.Bool().Draw(t, "seed_set") {
		seed := rapid.Uint64().Draw(t, "seed")
		s.Seed = &seed
	}
	s.Nodes.Count = rapid.OneOf(rapid.IntRange(1, 12), rapid.IntRange(1, NodeCountMax)).Draw(t, "count")
	r := rapid.IntRange(0, (min(s.Nodes.Count, RegistryReplicasMax)+1)/2).Draw(t, "registry")
	s.Nodes.RegistryReplicas = max(2*r-1, 0)
	s.Network = Network{Latency: genLatency(t), Loss: genProbability(t, "loss"), Duplicate: genProbability(t, "duplicate"),
		Reorder: genProbability(t, "reorder"), BandwidthBytesPerSecond: rapid.Int64Range(0, BandwidthBytesPerSecondMax).Draw(t, "bandwidth")}
	s.Disk = genDiskFault(t, s).Apply(Disk{})
	if rapid.Bool().Draw(t, "workload_set") {
		s.Workload = genWorkload(t, s)
	}
	for range rapid.IntRange(0, 8).Draw(t, "faults") {
		f := genFault(t, s)
		if !slices.ContainsFunc(s.Faults, func(g Fault) bool { return modelConflict(f, g, s.Duration) }) {
			s.Faults = append(s.Faults, f)
		}
	}
	if rapid.Bool().Draw(t, "random_set") {
		s.RandomFaults = &RandomFaults{
			CrashesPerMinute: rapid.Float64Range(0, FaultsPerMinuteMax).Draw(t, "crash_rate"),
			RestartAfter:     genDuration(t, "random_restart", 1, DurationMax), Survivable: rapid.Bool().Draw(t, "survivable"),
			PartitionsPerMinute: rapid.Float64Range(0, FaultsPerMinuteMax).Draw(t, "partition_rate"),
			PartitionFor:        genDuration(t, "partition_for", 1, DurationMax)}
	}
	if s.Nodes.Count >= 2 && rapid.Bool().Draw(t, "adversary_set") {
		s.Adversary = genAdversary(t, s.Nodes.Count)
	}
	if !s.Nodes.Off.Has(stack.Audit) && rapid.Bool().Draw(t, "audit_set") {
		s.Audit = genAudit(t)
	}
	if rapid.Bool().Draw(t, "swarm_set") {
		s.Swarm = genSwarm(t)
	}
	s.Checks = genChecks(t, s)
	return s
}

// withoutLines clears what Marshal does not carry: Source and Line fields.
func withoutLines(s *Scenario) *Scenario {
	out := s.Clone()
	out.Source = ""
	for i := range out.Faults {
		out.Faults[i].Line = 0
	}
	for i := range out.Checks {
		out.Checks[i].Line = 0
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genScenario(t)
		data, err := s.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a valid scenario failed: %v", err)
		}
		back, err := Parse("roundtrip.yaml", data)
		if err != nil {
			t.Fatalf("Parse(Marshal(s)): %v\n%s", err, data)
		}
		if !reflect.DeepEqual(withoutLines(back), withoutLines(s)) {
			t.Fatalf("round trip changed the scenario at %s\nfile:\n%s",
				firstDiff("s", reflect.ValueOf(withoutLines(s)), reflect.ValueOf(withoutLines(back))), data)
		}
		again, err := back.Marshal()
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("Marshal is not stable: %v\n%s\n---\n%s", err, data, again)
		}
		if clone := s.Clone(); !reflect.DeepEqual(clone, s) {
			t.Fatalf("Clone differs from its source")
		}
	})
}

// TestTimelineMatchesModel draws faults without filtering and checks that
// Parse accepts the timeline exactly when the model finds no conflict.
func TestTimelineMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := &Scenario{Name: "timeline", Duration: genDuration(t, "duration", 1, time.Minute)}
		s.Nodes.Count = rapid.IntRange(1, 4).Draw(t, "count")
		s.Nodes.RegistryReplicas = 1
		s.Network.Latency = Latency{P50: LatencyP50Default, P99: LatencyP99Default}
		for range rapid.IntRange(2, 6).Draw(t, "faults") {
			s.Faults = append(s.Faults, genFault(t, s))
		}
		conflicts := 0
		for i := range s.Faults {
			for j := i + 1; j < len(s.Faults); j++ {
				if modelConflict(s.Faults[i], s.Faults[j], s.Duration) {
					conflicts++
				}
			}
		}
		var buf bytes.Buffer
		if err := yaml.NewEncoder(&buf).Encode(s.node()); err != nil {
			t.Fatal(err)
		}
		_, err := Parse("timeline.yaml", buf.Bytes())
		var list ErrorList
		if conflicts == 0 && err != nil {
			t.Fatalf("model finds no conflict but Parse refused:\n%v\n%s", err, buf.Bytes())
		}
		if conflicts > 0 && (err == nil || !asErrorList(err, &list) || len(list) != conflicts) {
			t.Fatalf("model finds %d conflicts, Parse reported: %v\n%s", conflicts, err, buf.Bytes())
		}
	})
}

func asErrorList(err error, list *ErrorList) bool {
	l, ok := err.(ErrorList)
	*list = l
	return ok
}

// firstDiff names the first path at which a and b differ ("" when equal),
// so a failed round trip says what changed instead of dumping two structs.
func firstDiff(path string, a, b reflect.Value) string {
	if a.Kind() != b.Kind() {
		return path + ": kinds differ"
	}
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				return path + ": one is nil"
			}
			return ""
		}
		return firstDiff(path, a.Elem(), b.Elem())
	case reflect.Struct:
		for i := range a.NumField() {
			if d := firstDiff(path+"."+a.Type().Field(i).Name, a.Field(i), b.Field(i)); d != "" {
				return d
			}
		}
		return ""
	case reflect.Slice:
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			return path + ": lengths or nil-ness differ"
		}
		for i := range a.Len() {
			if d := firstDiff(path+"["+strconv.Itoa(i)+"]", a.Index(i), b.Index(i)); d != "" {
				return d
			}
		}
		return ""
	}
	if !reflect.DeepEqual(a.Interface(), b.Interface()) {
		return path + ": " + fmt.Sprint(a.Interface()) + " != " + fmt.Sprint(b.Interface())
	}
	return ""
}

// genAdversary draws liars (distinct, at least one node honest) and
// distinct lies.
func genAdversary(t *rapid.T, nodes int) *Adversary {
	a := &Adversary{Rate: genProbability(t, "adversary_rate")}
	for _, i := range rapid.SliceOfNDistinct(rapid.IntRange(0, nodes-1), 1, min(nodes-1, 4), rapid.ID[int]).Draw(t, "liars") {
		a.StorageLiars = append(a.StorageLiars, NodeName(i))
	}
	a.Lies = rapid.SliceOfNDistinct(rapid.SampledFrom(LieNames), 1, len(LieNames), rapid.ID[string]).Draw(t, "lies")
	return a
}

// genAudit draws a valid audit section: each bound absent or in range.
func genAudit(t *rapid.T) *Audit {
	a := &Audit{RatePerSecond: rapid.Float64Range(1, AuditRateMax).Draw(t, "audit_rate")}
	if rapid.Bool().Draw(t, "retain_bytes_set") {
		a.RetainBytes = rapid.Int64Range(audit.RetainBytesMin, ObjectBytesMax).Draw(t, "retain_bytes")
	}
	if rapid.Bool().Draw(t, "retain_age_set") {
		a.RetainAge = genDuration(t, "retain_age", audit.RetainAgeMin, DurationMax)
	}
	return a
}

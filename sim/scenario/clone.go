package scenario

import "slices"

// Clone returns a deep copy of s: no pointer or slice is shared, so the copy
// can be changed (drawn into, shrunk) without touching s.
func (s *Scenario) Clone() *Scenario {
	out := *s
	out.Seed = clonePtr(s.Seed)
	if s.Workload != nil {
		w := *s.Workload
		w.Objects = clonePtr(s.Workload.Objects)
		w.Tokens = clonePtr(s.Workload.Tokens)
		if e := s.Workload.Edge; e != nil {
			w.Edge = &Edge{Limits: e.Limits, Tenants: slices.Clone(e.Tenants)}
		}
		out.Workload = &w
	}
	if s.Faults != nil {
		out.Faults = make([]Fault, len(s.Faults))
		for i := range s.Faults {
			out.Faults[i] = s.Faults[i].clone()
		}
	}
	out.RandomFaults = clonePtr(s.RandomFaults)
	out.Adversary = s.Adversary.clone()
	out.Audit = clonePtr(s.Audit)
	if s.Swarm != nil {
		sw := Swarm{}
		for _, f := range swarmFields {
			*f.ranges(&sw) = clonePtr(*f.ranges(s.Swarm))
		}
		out.Swarm = &sw
	}
	if s.Checks != nil {
		out.Checks = make([]Check, len(s.Checks))
		for i, c := range s.Checks {
			c.SLO = slices.Clone(c.SLO)
			out.Checks[i] = c
		}
	}
	return &out
}

func (f Fault) clone() Fault {
	if f.Partition != nil {
		p := *f.Partition
		if p.OneWay != nil {
			p.OneWay = &OneWay{From: slices.Clone(p.OneWay.From), To: slices.Clone(p.OneWay.To)}
		}
		if p.Groups != nil {
			p.Groups = make([][]string, len(f.Partition.Groups))
			for i, g := range f.Partition.Groups {
				p.Groups[i] = slices.Clone(g)
			}
		}
		if p.Bridge != nil {
			p.Bridge = &Bridge{Left: slices.Clone(p.Bridge.Left), Right: slices.Clone(p.Bridge.Right), Via: p.Bridge.Via}
		}
		f.Partition = &p
	}
	f.Crash = clonePtr(f.Crash)
	f.Pause = clonePtr(f.Pause)
	f.Clock = clonePtr(f.Clock)
	if f.Disk != nil {
		disk := *f.Disk
		disk.Latency = clonePtr(disk.Latency)
		for _, ref := range diskProbabilities(&disk) {
			*ref = clonePtr(*ref)
		}
		f.Disk = &disk
	}
	if f.Network != nil {
		n := *f.Network
		n.Latency = clonePtr(n.Latency)
		n.Loss, n.Duplicate, n.Reorder = clonePtr(n.Loss), clonePtr(n.Duplicate), clonePtr(n.Reorder)
		n.BandwidthBytesPerSecond = clonePtr(n.BandwidthBytesPerSecond)
		f.Network = &n
	}
	return f
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

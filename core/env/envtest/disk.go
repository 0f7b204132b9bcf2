package envtest

import (
	"bytes"
	"sort"
	"strings"

	"github.com/ron-network/ron/core/env"
)

// Disk is a crashable in-memory disk for cluster tests (STYLE 18): it keeps
// the synced state apart from the writes since the last sync, so that a
// crash keeps the synced bytes and, of the unsynced writes, a prefix (each
// write op survives with probability UnsyncedSurvive, the first lost one
// ending the prefix; 0 drops them all). It can fail the next operation
// and corrupt a stored value. It passes core/env/disktest's suite.
//
// It completes operations when asked (Execute), so the cluster decides
// when a completion arrives.
type Disk struct {
	// UnsyncedSurvive is the probability that one unsynced write op
	// survives a crash.
	UnsyncedSurvive float64
	// FailNext fails the next operation with env.ErrDiskIO.
	FailNext bool
	// Fault, when set, may fail an operation before it runs: a non-nil
	// error is its result.
	Fault func(op *env.DiskOp) error
	// Observe, when set, sees every operation and its result.
	Observe func(op *env.DiskOp, res env.DiskResult)
	// IgnoreChecks makes the disk ignore DiskOp.Check, as a disk that
	// does not implement it would (its results are never Checked), so
	// that tests cover the callers' own verification.
	IgnoreChecks bool

	durable  map[string][]byte
	current  map[string][]byte
	unsynced [][]env.DiskWrite // write ops since the last sync, in order
	rand     *env.Rand
}

// NewDisk returns an empty disk; rand decides which unsynced writes survive
// a crash.
func NewDisk(rand *env.Rand) *Disk {
	return &Disk{durable: map[string][]byte{}, current: map[string][]byte{}, rand: rand}
}

// Execute runs op now and returns its result.
func (d *Disk) Execute(op *env.DiskOp) env.DiskResult {
	res := d.execute(op)
	if !d.IgnoreChecks {
		res = env.RunCheck(op, res)
	}
	if d.Observe != nil {
		d.Observe(op, res)
	}
	return res
}

func (d *Disk) execute(op *env.DiskOp) env.DiskResult {
	if err := op.Validate(); err != nil {
		return env.DiskResult{Err: err}
	}
	if d.FailNext {
		d.FailNext = false
		return env.DiskResult{Err: env.ErrDiskIO}
	}
	if d.Fault != nil {
		if err := d.Fault(op); err != nil {
			return env.DiskResult{Err: err}
		}
	}
	switch op.Kind {
	case env.DiskGet:
		v, ok := d.current[string(op.Key)]
		if !ok {
			return env.DiskResult{}
		}
		part, err := op.Part(v)
		if err != nil {
			return env.DiskResult{Found: true, Err: err}
		}
		return env.DiskResult{Found: true, Value: bytes.Clone(part)}
	case env.DiskPut:
		d.write([]env.DiskWrite{{Key: op.Key, Value: op.Value}})
	case env.DiskDelete:
		d.write([]env.DiskWrite{{Key: op.Key, Delete: true}})
	case env.DiskBatch:
		d.write(op.Batch)
	case env.DiskSync:
		d.durable = cloneState(d.current)
		d.unsynced = nil
	case env.DiskScan:
		return d.scan(op)
	}
	return env.DiskResult{}
}

func (d *Disk) write(ws []env.DiskWrite) {
	op := make([]env.DiskWrite, len(ws))
	for i, w := range ws {
		op[i] = env.DiskWrite{Key: bytes.Clone(w.Key), Value: bytes.Clone(w.Value), Delete: w.Delete}
	}
	apply(d.current, op)
	d.unsynced = append(d.unsynced, op)
}

func apply(state map[string][]byte, op []env.DiskWrite) {
	for _, w := range op {
		if w.Delete {
			delete(state, string(w.Key))
		} else {
			state[string(w.Key)] = bytes.Clone(w.Value)
			if w.Value == nil {
				state[string(w.Key)] = []byte{}
			}
		}
	}
}

func cloneState(s map[string][]byte) map[string][]byte {
	out := make(map[string][]byte, len(s))
	// map order ok: copied into another map
	for k, v := range s {
		out[k] = bytes.Clone(v)
	}
	return out
}

func (d *Disk) scan(op *env.DiskOp) env.DiskResult {
	keys := d.Keys(string(op.Prefix))
	var res env.DiskResult
	for _, k := range keys {
		if k < string(op.Start) {
			continue
		}
		if len(res.Pairs) == op.Limit {
			res.More = true
			break
		}
		kv := env.KV{Key: []byte(k)}
		if !op.KeysOnly {
			kv.Value = bytes.Clone(d.current[k])
		}
		res.Pairs = append(res.Pairs, kv)
	}
	return res
}

// Crash loses the unsynced writes but a surviving prefix.
func (d *Disk) Crash() {
	state := cloneState(d.durable)
	for _, op := range d.unsynced {
		if d.UnsyncedSurvive == 0 || !d.rand.Bool(d.UnsyncedSurvive) {
			break
		}
		apply(state, op)
	}
	d.current, d.durable, d.unsynced = state, cloneState(state), nil
}

// Keys lists the current keys with prefix, ascending.
func (d *Disk) Keys(prefix string) []string {
	var out []string
	// map order ok: sorted below
	for k := range d.current {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// Get returns the current value of key.
func (d *Disk) Get(key string) ([]byte, bool) {
	v, ok := d.current[key]
	return v, ok
}

// Corrupt flips one bit in the middle of key's value, synced or not.
func (d *Disk) Corrupt(key string) {
	for _, state := range []map[string][]byte{d.current, d.durable} {
		if v := state[key]; len(v) > 0 {
			v[len(v)/2] ^= 0x10
		}
	}
}

// State is a copy of the current state (what reads see).
func (d *Disk) State() map[string][]byte { return cloneState(d.current) }

// Durable is a copy of the synced state (what a crash keeps at least).
func (d *Disk) Durable() map[string][]byte { return cloneState(d.durable) }

// Plant writes key=value durably behind the machine's back: what an
// earlier incarnation, or rot, could have left.
func (d *Disk) Plant(key string, value []byte) {
	d.current[key] = bytes.Clone(value)
	d.durable[key] = bytes.Clone(value)
}

// Wipe empties the disk: a replaced drive.
func (d *Disk) Wipe() {
	d.current, d.durable, d.unsynced = map[string][]byte{}, map[string][]byte{}, nil
}

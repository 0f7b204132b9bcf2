package simdisk

import "bytes"

// tornGarbleBytesMax bounds the run of bytes a torn write garbles: about one
// sector.
const tornGarbleBytesMax = 512

// Crash simulates power loss and reopening over the same storage. The
// survivors are a prefix of the unsynced ops: each next op survives with
// probability UnsyncedSurviveProb, stopping at the first that does not
// (like the tail of a write-ahead log). Every other unsynced op is rolled
// back, newest first, so a batch survives whole or not at all. With
// TornWriteProb the last survivor is then torn. Whatever remains is
// durable: a later crash keeps it.
func (d *Disk) Crash() CrashReport {
	report := CrashReport{Unsynced: len(d.opEnds)}
	for report.Survived < report.Unsynced && d.rand.Bool(d.faults.UnsyncedSurviveProb) {
		report.Survived++
	}
	keep := 0
	if report.Survived > 0 {
		keep = d.opEnds[report.Survived-1]
	}
	for i := len(d.undo) - 1; i >= keep; i-- {
		d.rollback(&d.undo[i])
	}
	if report.Survived > 0 && d.rand.Bool(d.faults.TornWriteProb) {
		first := 0
		if report.Survived > 1 {
			first = d.opEnds[report.Survived-2]
		}
		if d.tear(d.undo[first:keep]) {
			report.Torn = 1
		}
	}
	clear(d.undo)
	d.undo = d.undo[:0]
	d.opEnds = d.opEnds[:0]
	d.checkInvariants()
	return report
}

func (d *Disk) rollback(w *undoWrite) {
	if w.existed {
		d.store(w.key, w.prev)
	} else {
		d.remove(w.key)
	}
}

// tear truncates or garbles the value of the last put of one op whose key
// the op does not write again (its value is the one now stored). It
// reports false when there is nothing to tear: the op ends in deletes, or
// the value is empty.
func (d *Disk) tear(writes []undoWrite) bool {
	key, ok := lastEffectivePut(writes)
	if !ok {
		return false
	}
	value := d.values[key]
	if len(value) == 0 {
		return false
	}
	var torn []byte
	if d.rand.Bool(0.5) {
		torn = bytes.Clone(value[:d.rand.Intn(len(value))])
	} else {
		torn = bytes.Clone(value)
		start := d.rand.Intn(len(torn))
		end := start + 1 + d.rand.Intn(min(tornGarbleBytesMax, len(torn)-start))
		for i := start; i < end; i++ {
			torn[i] ^= byte(1 + d.rand.Intn(255)) // never zero: every byte changes
		}
	}
	d.store(key, torn)
	return true
}

// lastEffectivePut finds, scanning writes backwards, the first put whose
// key no later write of the op touches.
func lastEffectivePut(writes []undoWrite) (string, bool) {
	seen := map[string]bool{}
	for i := len(writes) - 1; i >= 0; i-- {
		w := &writes[i]
		if w.put && !seen[w.key] {
			return w.key, true
		}
		seen[w.key] = true
	}
	return "", false
}

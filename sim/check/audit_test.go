package check

import (
	"strconv"
	"strings"
	"testing"

	"github.com/ron-network/ron/core/audit"
)

// auditChain is a chain of n records, subjects "a<seq>", with a
// retention record at witnessAt naming the head at seq audit.SegmentRecords
// (witnessAt 0: none).
func auditChain(n, witnessAt uint64) []audit.Record {
	var out []audit.Record
	var prev [32]byte
	for seq := uint64(1); seq <= n; seq++ {
		r := audit.Record{Seq: seq, Time: 1, Kind: audit.KindNameWrite, Actor: "sim", Subject: "a" + strconv.FormatUint(seq, 10), Prev: prev}
		if seq == witnessAt {
			r.Kind, r.Actor, r.Subject = audit.KindRetention, "node", audit.FormatHead(audit.HeadOf(out[:audit.SegmentRecords]))
		}
		prev = r.Hash()
		out = append(out, r)
	}
	return out
}

// auditLogAfter is the log of chain with its first segment dropped, every
// name write acknowledged.
func auditLogAfter(chain []audit.Record) AuditLog {
	acked := map[uint64]string{}
	for _, r := range chain {
		if r.Kind == audit.KindNameWrite {
			acked[r.Seq] = r.Subject
		}
	}
	return AuditLog{Node: "n1", Read: true, Base: audit.HeadOf(chain[:audit.SegmentRecords]),
		Durable: audit.HeadOf(chain), Records: chain[audit.SegmentRecords:], Acked: acked}
}

func TestAuditRetention(t *testing.T) {
	const n, witness = 2*audit.SegmentRecords + 10, audit.SegmentRecords + 5
	for _, tc := range []struct {
		name  string
		edit  func(l *AuditLog)
		fails string // "" passes
	}{
		{"intact", func(*AuditLog) {}, ""},
		{"nothing dropped", func(l *AuditLog) {
			full := auditChain(n, 0)
			l.Base, l.Records = audit.Head{}, full
		}, "retention dropped nothing"},
		{"a record lost after the base", func(l *AuditLog) {
			l.Records = append(append([]audit.Record(nil), l.Records[:20]...), l.Records[21:]...)
		}, "does not verify"},
		{"the tail lost", func(l *AuditLog) { l.Records = l.Records[:len(l.Records)-3] }, "before the durable head"},
		{"an acknowledged append past the tail", func(l *AuditLog) { l.Acked[n+1] = "late" }, "past the last record held"},
		{"an acknowledged append replaced", func(l *AuditLog) { l.Acked[n-1] = "other" }, `acknowledged for "other"`},
		{"an acknowledged seq reused", func(l *AuditLog) {
			l.Replaced = []AuditAck{{Seq: n - 1, Subject: "lost", Then: l.Acked[n-1]}}
		}, `seq 4105 (lost) acknowledged again for "a4105"`},
		{"an acknowledged seq below the base reused", func(l *AuditLog) {
			l.Replaced = []AuditAck{{Seq: 3, Subject: "lost", Then: "a3"}}
		}, "1 acknowledged appends after the base lost: seq 3 (lost) acknowledged again"},
		{"a base no retention record names", func(l *AuditLog) {
			*l = auditLogAfter(auditChain(n, 0))
		}, "not witnessed"},
		{"a base inside a segment", func(l *AuditLog) {
			chain := auditChain(n, witness)
			l.Base, l.Records = audit.HeadOf(chain[:audit.SegmentRecords+1]), chain[audit.SegmentRecords+1:]
		}, "not a segment's end"},
		{"not read", func(l *AuditLog) { l.Read, l.Err = false, "down at the end" }, "log not read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := auditLogAfter(auditChain(n, witness))
			tc.edit(&l)
			res := AuditRetention([]AuditLog{l})
			switch {
			case tc.fails == "" && !res.OK:
				t.Fatalf("failed: %s", res.Detail)
			case tc.fails != "" && res.OK:
				t.Fatalf("passed (%s); want a failure saying %q", res.Detail, tc.fails)
			case tc.fails != "" && !strings.Contains(res.Detail, tc.fails):
				t.Fatalf("failed with %q; want %q", res.Detail, tc.fails)
			}
		})
	}
	if res := AuditRetention(nil); res.OK {
		t.Fatal("no log passed")
	}
}

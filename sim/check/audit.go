package check

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ron-network/ron/core/audit"
)

// AuditLog is one node's audit log as an auditor reads it after a run
// (audit.ReadRecords pages and audit.HeadQuery), with what the run's
// appends were told.
type AuditLog struct {
	Node string // "n1"
	// Read is false when the log could not be read (the node is down, or
	// a read was not answered); Err then says why.
	Read bool
	Err  string
	// Base, Durable: the HeadStatus read before the records.
	Base, Durable audit.Head
	Records       []audit.Record // every record held, from Base.Seq+1
	// Acked is the subject of each append acknowledged with its seq (the
	// latest, when a seq was acknowledged for more than one subject).
	Acked map[uint64]string
	// Replaced are the appends acknowledged with a seq that was later
	// acknowledged again for a different subject: a crash lost them (they
	// were chained but not durable) and the restarted node reused their
	// seq. Each is a lost acknowledged append, whatever the base.
	Replaced []AuditAck
}

// AuditAck is an append acknowledged with Seq, for Subject, whose seq was
// acknowledged again for Then.
type AuditAck struct {
	Seq           uint64
	Subject, Then string
}

// AuditRetention judges logs: on every node, retention fired (the base is
// above seq 0, at a segment's end), the records held chain to the base
// (audit.VerifyFrom) and the base is witnessed by a retention record held
// after it (audit.VerifyBaseWitnessed), the records held run without a gap
// from the base through the durable head, and every append acknowledged
// with a seq after the base is held with its subject: retention dropped
// whole segments below the base and nothing after it. An append a crash
// lost (chained and acknowledged, not yet durable) whose seq the
// restarted node reused is in AuditLog.Replaced and reported as lost,
// whatever the base.
func AuditRetention(logs []AuditLog) Result {
	const name = "audit_retention"
	var bad []string
	dropped := uint64(0)
	for _, l := range logs {
		if !l.Read {
			bad = append(bad, l.Node+": log not read: "+l.Err)
			continue
		}
		if why := auditLogFault(l); why != "" {
			bad = append(bad, l.Node+": "+why)
			continue
		}
		dropped += l.Base.Seq
	}
	if len(logs) == 0 {
		bad = append(bad, "no audit log read")
	}
	if len(bad) > 0 {
		return Result{Name: name, Detail: strings.Join(auditFirst(bad, 5), "; ")}
	}
	return Result{Name: name, OK: true, Detail: fmt.Sprintf("%d logs: %d records dropped by retention in all, each log verifies from its witnessed base with every acknowledged append after it held", len(logs), dropped)}
}

func auditLogFault(l AuditLog) string {
	b := l.Base
	switch {
	case b.Seq == 0:
		return fmt.Sprintf("retention dropped nothing (durable head seq %d)", l.Durable.Seq)
	case b.Seq%audit.SegmentRecords != 0:
		return fmt.Sprintf("base seq %d is not a segment's end (segments of %d)", b.Seq, audit.SegmentRecords)
	case len(l.Records) == 0:
		return fmt.Sprintf("no record held after the base seq %d", b.Seq)
	}
	if i, err := audit.VerifyFrom(b, l.Records); err != nil {
		return fmt.Sprintf("the chain does not verify from the base seq %d: record %d (seq %d): %v", b.Seq, i, l.Records[i].Seq, err)
	}
	if err := audit.VerifyBaseWitnessed(b, l.Records); err != nil {
		return fmt.Sprintf("base seq %d not witnessed: %v", b.Seq, err)
	}
	last := l.Records[len(l.Records)-1].Seq
	if want := b.Seq + uint64(len(l.Records)); last != want {
		return fmt.Sprintf("records held run from seq %d to %d, %d of them: a gap", b.Seq+1, last, len(l.Records))
	}
	if last < l.Durable.Seq {
		return fmt.Sprintf("records held end at seq %d, before the durable head %d", last, l.Durable.Seq)
	}
	var lost []string
	for _, a := range l.Replaced {
		lost = append(lost, fmt.Sprintf("seq %d (%s) acknowledged again for %q (its seq reused)", a.Seq, a.Subject, a.Then))
	}
	for seq, subject := range l.Acked {
		if seq <= b.Seq {
			continue
		}
		switch {
		case seq > last:
			lost = append(lost, fmt.Sprintf("seq %d (%s) past the last record held %d", seq, subject, last))
		case l.Records[seq-b.Seq-1].Subject != subject:
			lost = append(lost, fmt.Sprintf("seq %d holds %q, acknowledged for %q", seq, l.Records[seq-b.Seq-1].Subject, subject))
		}
	}
	if len(lost) > 0 {
		slices.Sort(lost)
		return fmt.Sprintf("%d acknowledged appends after the base lost: %s", len(lost), strings.Join(auditFirst(lost, 3), ", "))
	}
	return ""
}

// auditFirst is at most n of s.
func auditFirst(s []string, n int) []string { return s[:min(n, len(s))] }

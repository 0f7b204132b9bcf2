package runner

import (
	"fmt"
	"strconv"
	"time"

	"github.com/ron-network/ron/core/audit"
	"github.com/ron-network/ron/sim/check"
	"github.com/ron-network/ron/sim/scenario"
)

// auditAnswerWithin bounds the wait for one audit request's answer in the
// audit_retention check.
const auditAnswerWithin = 10 * time.Second

// auditAppends is the audit section's appends: every up node is sent an
// audit.Append every 1/rate until the scenario's duration (as rond's
// gateway appends an event), and acked[i] keeps the subject of each one
// node i acknowledged, by its seq.
type auditAppends struct {
	acked []map[uint64]string
	sent  uint64
}

// startAudit starts the audit section's appends (when it has a rate).
func (r *run) startAudit(a *scenario.Audit) {
	if a == nil || a.RatePerSecond <= 0 {
		return
	}
	n := r.w.Nodes()
	r.audit = &auditAppends{acked: make([]map[uint64]string, n)}
	for i := range n {
		r.audit.acked[i] = map[uint64]string{}
	}
	every := max(time.Duration(float64(time.Second)/a.RatePerSecond), time.Nanosecond)
	var tick func()
	tick = func() {
		if r.w.Now() >= r.scn.Duration {
			return
		}
		for i := range n {
			if !r.w.Up(i) {
				continue
			}
			r.audit.sent++
			subject := "sim-append-" + strconv.FormatUint(r.audit.sent, 10)
			ev := audit.Event{Kind: audit.KindNameWrite, Actor: "sim", Subject: subject}
			r.w.Request(i, audit.ServiceName, audit.Append{Event: ev}, func(resp any) {
				if res, ok := resp.(audit.AppendResult); ok && res.Err == nil && res.Seq > 0 {
					r.audit.acked[i][res.Seq] = subject
				}
			})
		}
		r.w.After(every, tick)
	}
	r.w.At(every, tick)
}

// ask sends body to node i's service and runs the world until it is
// answered (at most within).
func (r *run) ask(i int, service string, body any, within time.Duration) (any, bool) {
	var resp any
	answered := false
	r.w.Request(i, service, body, func(x any) { resp, answered = x, true })
	r.quiesce(within, func() bool { return answered })
	return resp, answered
}

// checkAuditRetention reads every up node's audit log as an auditor does
// (the head, then ReadRecords pages from the base) once its appends are
// durable, and judges it (check.AuditRetention).
func (r *run) checkAuditRetention() check.Result {
	if r.audit == nil {
		return check.Result{Name: scenario.CheckAuditRetention, Detail: "runner: no audit appends ran"}
	}
	var logs []check.AuditLog
	for i := range r.w.Nodes() {
		l := check.AuditLog{Node: fmt.Sprintf("n%d", i+1), Acked: r.audit.acked[i]}
		if !r.w.Up(i) {
			l.Err = "down at the end"
			logs = append(logs, l)
			continue
		}
		var st audit.HeadStatus
		r.quiesce(auditAnswerWithin, func() bool {
			resp, ok := r.ask(i, audit.ServiceName, audit.HeadQuery{}, auditAnswerWithin)
			st, _ = resp.(audit.HeadStatus)
			return ok && st.Ready && st.Durable == st.Appended
		})
		if !st.Ready || st.Durable != st.Appended {
			l.Err = fmt.Sprintf("not ready or not durable within %v (ready %v, appended seq %d, durable %d)", auditAnswerWithin, st.Ready, st.Appended.Seq, st.Durable.Seq)
			logs = append(logs, l)
			continue
		}
		l.Base, l.Durable = st.Base, st.Durable
		from := st.Base.Seq + 1
		for {
			resp, ok := r.ask(i, audit.ServiceName, audit.ReadRecords{From: from, Limit: audit.ReadPageRecordsMax}, auditAnswerWithin)
			page, isPage := resp.(audit.RecordsPage)
			if !ok || !isPage || page.Err != nil || page.Base != st.Base {
				l.Err = fmt.Sprintf("ReadRecords from seq %d: answered %v, %+v", from, ok, resp)
				break
			}
			l.Records = append(l.Records, page.Records...)
			if !page.More || len(page.Records) == 0 {
				l.Read = true
				break
			}
			from = page.Records[len(page.Records)-1].Seq + 1
		}
		logs = append(logs, l)
	}
	return check.AuditRetention(logs)
}

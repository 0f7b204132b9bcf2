package runner

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/ron-network/ron/core/audit"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/sim"
	"github.com/ron-network/ron/sim/check"
	"github.com/ron-network/ron/sim/scenario"
)

// auditAnswerWithin bounds the wait for one audit request's answer in the
// audit_retention check.
const auditAnswerWithin = 10 * time.Second

// auditPendingPerNode bounds the appends awaiting an answer from one node,
// and auditPendingMax those from all nodes (well below
// sim.RequestsPendingMax, which the other workloads share): an append
// due while a node is at its bound is skipped (counted), as a client
// whose requests time out would give up rather than queue without end.
const (
	auditPendingPerNode = 64
	auditPendingMax     = sim.RequestsPendingMax / 4
)

// auditAppends is the audit section's appends: every node that is up and
// not paused (rond's gateway appends nothing while its process is
// stopped) is sent an audit.Append every 1/rate until the scenario's
// duration, as rond's gateway appends an event, unless it already has
// auditPendingPerNode appends unanswered (or all nodes auditPendingMax).
// acked[i] keeps the subject of each append node i acknowledged, by its
// seq; an ack for a seq that already holds a different subject (a crash
// lost the earlier append and the restarted node reused its seq) moves
// the earlier one to replaced[i], which the check reports as lost.
type auditAppends struct {
	acked    []map[uint64]string
	replaced [][]check.AuditAck
	sent     uint64
	skipped  uint64
	// pending[i] counts node i's appends unanswered in its incarnation
	// inc[i] (a crash drops them unanswered: a new incarnation starts
	// from 0); pendingAll is their sum over the nodes.
	pending    []int
	inc        []*node.Node
	pendingAll int
}

// auditEvery is the interval between appends at rate per second,
// saturating at the largest time.Duration (the parser bounds rate to
// [scenario.AuditRateMin, scenario.AuditRateMax]).
func auditEvery(rate float64) time.Duration {
	ns := float64(time.Second) / rate
	if !(ns < math.MaxInt64) { // also NaN
		return math.MaxInt64
	}
	return time.Duration(ns)
}

// startAudit starts the audit section's appends (when it has a rate).
func (r *run) startAudit(a *scenario.Audit) {
	if a == nil || a.RatePerSecond <= 0 {
		return
	}
	n := r.w.Nodes()
	au := &auditAppends{acked: make([]map[uint64]string, n), replaced: make([][]check.AuditAck, n),
		pending: make([]int, n), inc: make([]*node.Node, n)}
	r.audit = au
	for i := range n {
		au.acked[i] = map[uint64]string{}
	}
	every := auditEvery(a.RatePerSecond)
	if every <= 0 || every >= r.scn.Duration {
		return // no append falls before the end
	}
	var tick func()
	tick = func() {
		if r.w.Now() >= r.scn.Duration {
			return
		}
		for i := range n {
			if !r.w.Up(i) || r.w.Paused(i) {
				continue
			}
			inc := r.w.Node(i)
			if au.inc[i] != inc {
				au.pendingAll -= au.pending[i]
				au.inc[i], au.pending[i] = inc, 0
			}
			if au.pending[i] >= auditPendingPerNode || au.pendingAll >= auditPendingMax {
				au.skipped++
				continue
			}
			au.pending[i]++
			au.pendingAll++
			au.sent++
			subject := "sim-append-" + strconv.FormatUint(au.sent, 10)
			ev := audit.Event{Kind: audit.KindNameWrite, Actor: "sim", Subject: subject}
			r.w.Request(i, audit.ServiceName, audit.Append{Event: ev}, func(resp any) {
				if au.inc[i] == inc {
					au.pending[i]--
					au.pendingAll--
				}
				res, ok := resp.(audit.AppendResult)
				if !ok || res.Err != nil || res.Seq == 0 {
					return
				}
				if prev, held := au.acked[i][res.Seq]; held && prev != subject {
					au.replaced[i] = append(au.replaced[i], check.AuditAck{Seq: res.Seq, Subject: prev, Then: subject})
				}
				au.acked[i][res.Seq] = subject
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
		l := check.AuditLog{Node: fmt.Sprintf("n%d", i+1), Acked: r.audit.acked[i], Replaced: r.audit.replaced[i]}
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
	res := check.AuditRetention(logs)
	if r.audit.skipped > 0 {
		res.Detail += fmt.Sprintf(" (%d appends sent, %d skipped: the node had %d unanswered, or all nodes %d)", r.audit.sent, r.audit.skipped, auditPendingPerNode, auditPendingMax)
	}
	return res
}

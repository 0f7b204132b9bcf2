package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ron-network/ron/core/audit"
	"github.com/ron-network/ron/io/runtime"
)

// The auditQueue tests run in a synctest bubble: the queue's polls and
// backoffs are fake time, and synctest.Wait returns once the queue's
// goroutine is blocked (waiting for the node, for a record or for its
// backoff), so no test sleeps on the wall clock.

// countingMetrics is an env.Metrics that keeps the sum of each
// (name, label) it was given.
type countingMetrics struct {
	mu   sync.Mutex
	sums map[string]float64
}

func (m *countingMetrics) Add(name, label string, delta float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sums == nil {
		m.sums = map[string]float64{}
	}
	m.sums[name+"{"+label+"}"] += delta
}
func (m *countingMetrics) Set(string, string, float64)     {}
func (m *countingMetrics) Observe(string, string, float64) {}

func (m *countingMetrics) get(name, label string) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sums[name+"{"+label+"}"]
}

// fakeLog is the node's audit log as the queue sees it: ready or not,
// failing the next appends with the errors in fail, and keeping what it
// took (and whether any append came while it was not ready).
type fakeLog struct {
	mu           sync.Mutex
	ready        bool
	fail         []error
	took         []audit.Event
	attempts     int
	whileUnready int
}

func (l *fakeLog) isReady() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ready
}

func (l *fakeLog) setReady(ready bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ready = ready
}

func (l *fakeLog) failNext(errs ...error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fail = append(l.fail, errs...)
}

func (l *fakeLog) append(_ context.Context, e audit.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.attempts++
	if !l.ready {
		l.whileUnready++
		return runtime.ErrNotReady
	}
	if len(l.fail) > 0 {
		err := l.fail[0]
		l.fail = l.fail[1:]
		return err
	}
	l.took = append(l.took, e)
	return nil
}

// subjects is the subjects of the events the log took, in order.
func (l *fakeLog) subjects() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, len(l.took))
	for i, e := range l.took {
		out[i] = e.Subject
	}
	return out
}

func (l *fakeLog) counts() (attempts, whileUnready int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.attempts, l.whileUnready
}

func queueEvent(i int) audit.Event {
	return audit.Event{Kind: audit.KindPolicyChange, Actor: auditActor, Subject: fmt.Sprintf("s%d", i), Detail: fmt.Sprintf("detail %d", i)}
}

func subjectsUpTo(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("s%d", i)
	}
	return out
}

// startQueue starts q.run in the bubble; the returned function cancels
// it and waits for run to return.
func startQueue(q *auditQueue, l *fakeLog) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.run(ctx, l.isReady, l.append)
	}()
	return func() {
		cancel()
		<-done
	}
}

func newTestQueue() (*auditQueue, *lockedBuffer, *countingMetrics) {
	var logs lockedBuffer
	metrics := &countingMetrics{}
	return newAuditQueue(slog.New(slog.NewTextHandler(&logs, nil)), metrics), &logs, metrics
}

// TestAuditQueueRetriesFailedAppend: a record whose append fails for a
// reason that passes (the node restarting, overloaded, a call timing
// out, the log refusing appends after a full disk) stays at the head of
// the queue and is appended once the failures stop; the records made
// meanwhile follow it, in order, and none is dropped. The old code took
// each record out and forgot it when its append failed.
func TestAuditQueueRetriesFailedAppend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, logs, metrics := newTestQueue()
		l := &fakeLog{ready: true}
		l.failNext(runtime.ErrRestarted, fmt.Errorf("%w: inbox full", runtime.ErrOverloaded),
			fmt.Errorf("runtime: call audit: %w", context.DeadlineExceeded), audit.ErrUnavailable)
		stop := startQueue(q, l)
		defer stop()
		q.record(queueEvent(0))
		synctest.Wait() // the first append failed; the queue backs off
		q.record(queueEvent(1))
		q.record(queueEvent(2))
		for range 4 { // each backoff is at most auditRetryBackoffMax
			time.Sleep(auditRetryBackoffMax)
			synctest.Wait()
		}
		if got, want := strings.Join(l.subjects(), ","), strings.Join(subjectsUpTo(3), ","); got != want {
			t.Fatalf("the log took %s, want %s in order", got, want)
		}
		if attempts, _ := l.counts(); attempts != 7 {
			t.Fatalf("%d appends, want 7 (4 failed, 3 taken)", attempts)
		}
		for _, reason := range []string{dropQueueFull, dropShutdown, dropRefused} {
			if n := metrics.get(metricAuditRecordsDropped, reason); n != 0 {
				t.Fatalf("%v records dropped (%s)", n, reason)
			}
		}
		if !strings.Contains(logs.String(), "kept to append again") {
			t.Fatalf("the failed append is not logged as kept: %s", logs.String())
		}
	})
}

// TestAuditQueueBacksOff: while the log keeps failing, the retries of
// one record come further and further apart, at most
// auditRetryBackoffMax apart: about 10 in the first 30 s, not one per
// poll (600).
func TestAuditQueueBacksOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, _, _ := newTestQueue()
		l := &fakeLog{ready: true}
		for range 1000 {
			l.failNext(audit.ErrUnavailable)
		}
		stop := startQueue(q, l)
		defer stop()
		q.record(queueEvent(0))
		time.Sleep(30 * time.Second)
		synctest.Wait()
		attempts, _ := l.counts()
		// 50 ms doubling: 0.05+0.1+...+6.4 = 12.75 s for 8 waits, then
		// 10 s each: 10 attempts by 30 s.
		if attempts < 5 || attempts > 15 {
			t.Fatalf("%d attempts in 30 s of failures, want about 10 (backing off up to %v)", attempts, auditRetryBackoffMax)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if more, _ := l.counts(); more-attempts > int(time.Minute/auditRetryBackoffMax)+1 {
			t.Fatalf("%d attempts in a minute at the backoff's bound, want at most %d", more-attempts, int(time.Minute/auditRetryBackoffMax)+1)
		}
	})
}

// TestAuditQueueWaitsForReadyBeforeEachAppend: a record made while the
// node is not ready (a restart after a panic) is not handed to the log
// until the node is ready again, and then is. The old code waited for
// the node once, before the first record, and then appended whatever
// came, ready or not (the append failed with ErrNotReady and the record
// was lost).
func TestAuditQueueWaitsForReadyBeforeEachAppend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, _, _ := newTestQueue()
		l := &fakeLog{}
		stop := startQueue(q, l)
		defer stop()
		q.record(queueEvent(0))
		time.Sleep(time.Second)
		synctest.Wait()
		if attempts, _ := l.counts(); attempts != 0 {
			t.Fatalf("%d appends before the node was ready", attempts)
		}
		l.setReady(true)
		time.Sleep(auditReadyPoll)
		synctest.Wait()
		if got := strings.Join(l.subjects(), ","); got != "s0" {
			t.Fatalf("the log took %q once ready, want s0", got)
		}

		l.setReady(false) // the node restarts after a panic
		q.record(queueEvent(1))
		time.Sleep(time.Second)
		synctest.Wait()
		if _, unready := l.counts(); unready != 0 {
			t.Fatalf("%d appends while the node was not ready", unready)
		}
		l.setReady(true)
		time.Sleep(auditReadyPoll)
		synctest.Wait()
		if got := strings.Join(l.subjects(), ","); got != "s0,s1" {
			t.Fatalf("the log took %q, want s0,s1", got)
		}
	})
}

// TestAuditQueueDropsBeyondDepth: at most auditQueueDepthMax records
// wait, the one being appended included; each record beyond is dropped,
// counted (queue_full) and logged with its kind, subject and detail, and
// the ones kept are appended in order. The old code took the record
// being appended out of the bound (one more waited) and forgot it when
// its append failed; it counted no drop.
func TestAuditQueueDropsBeyondDepth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, logs, metrics := newTestQueue()
		l := &fakeLog{ready: true}
		l.failNext(runtime.ErrOverloaded)
		stop := startQueue(q, l)
		defer stop()
		for i := range auditQueueDepthMax {
			q.record(queueEvent(i))
		}
		synctest.Wait() // s0's append failed; it waits at the head
		q.record(queueEvent(auditQueueDepthMax))
		q.record(queueEvent(auditQueueDepthMax + 1))
		if n := metrics.get(metricAuditRecordsDropped, dropQueueFull); n != 2 {
			t.Fatalf("%v records dropped as queue_full, want 2", n)
		}
		for _, i := range []int{auditQueueDepthMax, auditQueueDepthMax + 1} {
			if line := logLine(logs.String(), fmt.Sprintf("detail=\"detail %d\"", i)); !strings.Contains(line, "level=ERROR") ||
				!strings.Contains(line, "kind=policy_change") || !strings.Contains(line, fmt.Sprintf("subject=s%d", i)) ||
				!strings.Contains(line, "reason=queue_full") {
				t.Fatalf("the drop of s%d logged as %q", i, line)
			}
		}
		time.Sleep(auditRetryBackoffMax)
		synctest.Wait()
		if got, want := strings.Join(l.subjects(), ","), strings.Join(subjectsUpTo(auditQueueDepthMax), ","); got != want {
			t.Fatalf("the log took %s\nwant %s", got, want)
		}
	})
}

// TestAuditQueueDropsRefused: an append refused for a reason a retry
// cannot cure is dropped (counted as refused, logged whole) and the next
// record goes on.
func TestAuditQueueDropsRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, logs, metrics := newTestQueue()
		l := &fakeLog{ready: true}
		l.failNext(errors.New("audit: invalid kind 99"))
		stop := startQueue(q, l)
		defer stop()
		q.record(queueEvent(0))
		q.record(queueEvent(1))
		synctest.Wait()
		if got := strings.Join(l.subjects(), ","); got != "s1" || metrics.get(metricAuditRecordsDropped, dropRefused) != 1 {
			t.Fatalf("the log took %q, %v refused; want s1 and 1", got, metrics.get(metricAuditRecordsDropped, dropRefused))
		}
		if line := logLine(logs.String(), "subject=s0"); !strings.Contains(line, "refused") || !strings.Contains(line, "invalid kind 99") ||
			!strings.Contains(line, `detail="detail 0"`) {
			t.Fatalf("the refused record logged as %q", line)
		}
	})
}

// TestAuditQueueShutdown: when ctx ends, run returns at once whether it
// waits for the node, for a record or for a backoff; the records still
// waiting (the one being retried included) are dropped, each logged at
// WARN with its kind and subject and counted (shutdown), and so is a
// record made after run returned. The old code dropped them unsaid.
func TestAuditQueueShutdown(t *testing.T) {
	t.Run("unready", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			q, logs, metrics := newTestQueue()
			l := &fakeLog{}
			stop := startQueue(q, l)
			for i := range 3 {
				q.record(queueEvent(i))
			}
			synctest.Wait()
			stop() // returns: run returned
			q.record(queueEvent(3))
			if n := metrics.get(metricAuditRecordsDropped, dropShutdown); n != 4 {
				t.Fatalf("%v records dropped at shutdown, want 4", n)
			}
			for i := range 4 {
				if line := logLine(logs.String(), fmt.Sprintf("subject=s%d ", i)); !strings.Contains(line, "level=WARN") ||
					!strings.Contains(line, "kind=policy_change") || !strings.Contains(line, "still waiting when rond stopped") {
					t.Fatalf("the drop of s%d logged as %q", i, line)
				}
			}
			if attempts, _ := l.counts(); attempts != 0 {
				t.Fatalf("%d appends to an unready node", attempts)
			}
		})
	})
	t.Run("backoff", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			q, logs, metrics := newTestQueue()
			l := &fakeLog{ready: true}
			l.failNext(runtime.ErrNotReady)
			stop := startQueue(q, l)
			q.record(queueEvent(0))
			synctest.Wait()
			stop()
			if n := metrics.get(metricAuditRecordsDropped, dropShutdown); n != 1 || !strings.Contains(logLine(logs.String(), "subject=s0 "), "level=WARN") {
				t.Fatalf("%v dropped at shutdown, logs %s", n, logs.String())
			}
		})
	})
	t.Run("idle", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			q, _, metrics := newTestQueue()
			l := &fakeLog{ready: true}
			stop := startQueue(q, l)
			q.record(queueEvent(0))
			synctest.Wait()
			stop()
			if got := strings.Join(l.subjects(), ","); got != "s0" || metrics.get(metricAuditRecordsDropped, dropShutdown) != 0 {
				t.Fatalf("the log took %q; %v dropped", got, metrics.get(metricAuditRecordsDropped, dropShutdown))
			}
		})
	})
}

package gateway

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// synctestAdmission is an admission controller on the bubble's fake clock:
// two slots, a queue of four, a one-second queue wait, quota never binding.
func synctestAdmission() *edgeState {
	return newEdgeState(AdmissionConfig{TenantRate: 1e6, TenantBurst: 1e6, InflightMax: 2, ReadHeadroom: -1,
		QueueDepthMax: 4, QueueWaitMax: time.Second}, SessionsConfig{}, time.Now)
}

// TestSynctestAdmissionHandOff: queued requests are handed the slots that
// running ones release, at the instant of release, across tenants; a
// request beyond the queue depth is shed at once (it never blocks); when
// all is done nothing runs, nothing waits and no goroutine is left
// (synctest.Test fails on a leak or a deadlock).
func TestSynctestAdmissionHandOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := synctestAdmission()
		start := time.Now()
		var holders []func()
		for range 2 {
			release, err, _ := a.admit(context.Background(), "alice", false, false, 0)
			if err != nil {
				t.Fatalf("a free slot was refused: %v", err.message)
			}
			holders = append(holders, release.release)
		}
		tenants := []string{"alice", "bob", "carol", "bob"}
		admittedAfter := make([]time.Duration, len(tenants))
		var wg sync.WaitGroup
		for i, tenant := range tenants {
			wg.Go(func() {
				release, err, reason := a.admit(context.Background(), tenant, false, false, 0)
				if err != nil {
					t.Errorf("%s queued then shed: %s (%s)", tenant, err.message, reason)
					return
				}
				admittedAfter[i] = time.Since(start)
				time.Sleep(50 * time.Millisecond) // hold the slot a while
				release.release()
			})
		}
		synctest.Wait() // all four are queued
		if _, err, reason := a.admit(context.Background(), "dave", false, false, 0); err == nil || reason != ShedOverload {
			t.Fatalf("a fifth waiter beyond the queue depth: reason %q", reason)
		}
		time.Sleep(100 * time.Millisecond)
		for _, release := range holders {
			release()
		}
		wg.Wait()
		// Two waiters get the released slots at 100ms; the other two get
		// theirs when those finish, 50ms later.
		got := map[time.Duration]int{}
		for _, d := range admittedAfter {
			got[d]++
		}
		if got[100*time.Millisecond] != 2 || got[150*time.Millisecond] != 2 {
			t.Fatalf("admitted after %v, want two at 100ms and two at 150ms", admittedAfter)
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.gate.Running() != 0 || a.gate.Queued() != 0 || len(a.waiting) != 0 {
			t.Fatalf("after the run: %d running, %d queued, %d waiting", a.gate.Running(), a.gate.Queued(), len(a.waiting))
		}
	})
}

// TestSynctestAdmissionQueueTimeoutAndCancel: a queued request gives up at
// exactly the queue wait limit, a cancelled one at its cancellation; both
// leave the queue, and the slots stay with their holders.
func TestSynctestAdmissionQueueTimeoutAndCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := synctestAdmission()
		var holders []func()
		for range 2 {
			release, _, _ := a.admit(context.Background(), "alice", false, false, 0)
			holders = append(holders, release.release)
		}
		start := time.Now()
		timedOut := make(chan time.Duration, 1)
		go func() {
			_, err, reason := a.admit(context.Background(), "bob", false, false, 0)
			if err == nil || reason != ShedQueueTimeout {
				t.Errorf("queued past the wait limit: reason %q", reason)
			}
			timedOut <- time.Since(start)
		}()
		ctx, cancel := context.WithCancel(context.Background())
		cancelled := make(chan time.Duration, 1)
		go func() {
			_, err, _ := a.admit(ctx, "carol", false, false, 0)
			if err == nil {
				t.Error("a cancelled waiter was admitted")
			}
			cancelled <- time.Since(start)
		}()
		time.Sleep(300 * time.Millisecond)
		cancel()
		if d := <-cancelled; d != 300*time.Millisecond {
			t.Fatalf("cancelled waiter left after %v", d)
		}
		if d := <-timedOut; d != time.Second {
			t.Fatalf("queued waiter timed out after %v, want 1s", d)
		}
		for _, release := range holders {
			release()
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.gate.Running() != 0 || a.gate.Queued() != 0 || len(a.waiting) != 0 {
			t.Fatalf("after the run: %d running, %d queued, %d waiting", a.gate.Running(), a.gate.Queued(), len(a.waiting))
		}
	})
}

// TestSynctestSessionSweep: an upload session idle for SessionTTL is
// expired by the gateway's sweep within one period (SessionTTL/4, at
// most SessionSweepEveryMax) though no other upload opens and nobody
// asks /readyz: its upload's stop runs and its slot is free. The sweep's
// goroutine returns once the table is empty (synctest.Test fails on a
// goroutine left blocked), starts again with the next session, and close
// stops it with a session still open. Before, the session stayed open
// (and its upload ran) until another upload or /readyz came.
func TestSynctestSessionSweep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const ttl = 8 * time.Second
		a := newEdgeState(AdmissionConfig{}, SessionsConfig{SessionTTL: ttl}, time.Now)
		every := min(ttl/4, SessionSweepEveryMax)
		if a.sweepEvery != every {
			t.Fatalf("sweep period %v, want %v", a.sweepEvery, every)
		}
		start := time.Now()
		var stoppedAfter []time.Duration
		stop := func() { stoppedAfter = append(stoppedAfter, time.Since(start)) }
		if _, r := a.openSession("alice", stop); r.Refused() {
			t.Fatal(r)
		}
		keep, r := a.openSession("bob", stop)
		if r.Refused() {
			t.Fatal(r)
		}
		time.Sleep(ttl - time.Nanosecond)
		synctest.Wait()
		if len(stoppedAfter) != 0 {
			t.Fatalf("stopped before the TTL: %v", stoppedAfter)
		}
		if !a.touchSession(keep) { // bob's body makes progress
			t.Fatal("bob's session expired before its TTL")
		}
		time.Sleep(every)
		synctest.Wait()
		if len(stoppedAfter) != 1 || stoppedAfter[0] > ttl+every {
			t.Fatalf("alice's session stopped after %v, want once within %v", stoppedAfter, ttl+every)
		}
		a.mu.Lock()
		open, sweeping := a.sessions.Len(), a.sweeping
		a.mu.Unlock()
		if open != 1 || !sweeping {
			t.Fatalf("%d sessions open, sweeping %v; want bob's and the sweep", open, sweeping)
		}
		a.closeSession(keep)
		time.Sleep(every) // the sweep finds the table empty and returns
		synctest.Wait()
		a.mu.Lock()
		sweeping = a.sweeping
		a.mu.Unlock()
		if sweeping {
			t.Fatal("the sweep runs with no session open")
		}
		// Again, then close with the session open: the sweep stops.
		if _, r := a.openSession("carol", stop); r.Refused() {
			t.Fatal(r)
		}
		a.close()
		a.close()
		if _, r := a.openSession("dave", stop); r.Refused() { // no sweep starts after close
			t.Fatal(r)
		}
		a.mu.Lock()
		sweeping = a.sweeping
		a.mu.Unlock()
		if sweeping {
			t.Fatal("a sweep started after close")
		}
	})
}

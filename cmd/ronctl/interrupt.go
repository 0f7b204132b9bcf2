package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// get -o FILE writes through a temporary file next to FILE. A SIGINT or
// SIGTERM during the download would, with Go's default handling, kill
// ronctl before its deferred os.Remove ran and leave the temporary file
// behind. interruptible turns the first such signal into the cancellation
// of the download instead: the request's context is cancelled, the copy
// fails, the temporary file is removed, FILE is left as it was, and ronctl
// exits 128+signal with a line saying it was interrupted. A second signal
// gets the default handling (the user insisting), so a cleanup that hangs
// can still be cut short.

// interruptedError is the cause of a context cancelled by a signal.
type interruptedError struct{ sig os.Signal }

func (e *interruptedError) Error() string {
	return fmt.Sprintf("interrupted (%s)", signalName(e.sig))
}

// exitCode is the shell's convention for a command ended by a signal.
func (e *interruptedError) exitCode() int {
	if s, ok := e.sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 1
}

func signalName(s os.Signal) string {
	switch s {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return s.String()
}

// interruptible returns a child of parent cancelled, with an
// *interruptedError as its cause, by the first SIGINT or SIGTERM (of
// those the process did not start with ignored); stop
// restores the default handling.
func interruptible(parent context.Context) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	signals := make(chan os.Signal, 1)
	// A signal the process started with ignored (nohup, a shell's
	// background job, a supervisor's choice) stays ignored: Notify would
	// un-ignore it, and a SIGINT meant for the foreground job would stop
	// a download started to survive it.
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		if !signal.Ignored(sig) {
			signal.Notify(signals, sig)
		}
	}
	done := make(chan struct{})
	go func() {
		select {
		case s := <-signals:
			signal.Stop(signals) // a second signal kills as usual
			cancel(&interruptedError{sig: s})
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(signals)
		close(done)
		cancel(nil)
	}
}

// interrupted returns the *interruptedError that cancelled ctx, or nil.
func interrupted(ctx context.Context) *interruptedError {
	if ie, ok := context.Cause(ctx).(*interruptedError); ok {
		return ie
	}
	return nil
}

// context is the context of c's requests.
func (c *client) context() context.Context {
	if c.ctx == nil {
		return context.Background()
	}
	return c.ctx
}

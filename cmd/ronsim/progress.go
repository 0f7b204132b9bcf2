package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progress shows how far a long run is: a redrawn bar on a terminal, a
// plain line every few seconds otherwise, nothing in --json mode.
type progress struct {
	w        io.Writer
	total    int
	terminal bool
	quiet    bool
	start    time.Time
	last     time.Time
	done_    int
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func newProgress(w io.Writer, total int, quiet bool) *progress {
	now := time.Now()
	return &progress{w: w, total: total, terminal: isTerminal(w), quiet: quiet, start: now, last: now}
}

func (p *progress) update(done int) {
	p.done_ = done
	if p.quiet {
		return
	}
	now := time.Now()
	interval := 5 * time.Second
	if p.terminal {
		interval = 100 * time.Millisecond
	}
	if now.Sub(p.last) < interval && done != p.total {
		return
	}
	p.last = now
	elapsed := now.Sub(p.start).Seconds()
	rate := float64(done) / max(elapsed, 1e-9)
	eta := time.Duration(float64(p.total-done)/max(rate, 1e-9)) * time.Second
	if p.terminal {
		const width = 30
		filled := width * done / max(p.total, 1)
		fmt.Fprintf(p.w, "\r[%s%s] %d/%d seeds  %.1f seeds/s  eta %s ", strings.Repeat("#", filled),
			strings.Repeat(" ", width-filled), done, p.total, rate, eta.Round(time.Second))
		return
	}
	fmt.Fprintf(p.w, "progress: %d/%d seeds, %.1f seeds/s, eta %s\n", done, p.total, rate, eta.Round(time.Second))
}

func (p *progress) done() {
	if p.terminal && !p.quiet && p.done_ > 0 {
		fmt.Fprintln(p.w)
	}
}

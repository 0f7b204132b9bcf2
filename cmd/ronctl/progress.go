package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// Progress bar limits.
const (
	// progressBytesMin: transfers of at most this many bytes get no bar
	// (they finish before one would be worth reading).
	progressBytesMin = 1 << 20
	// progressRedrawInterval paces redraws, so that a fast transfer does
	// not spend its time writing to the terminal.
	progressRedrawInterval = 100 * time.Millisecond
	// progressBarWidth is the number of cells of the bar itself.
	progressBarWidth = 30
	// progressRateElapsedMin: before this much time the rate is shown as
	// "--" rather than a meaningless quotient.
	progressRateElapsedMin = 50 * time.Millisecond
)

// isTerminal reports whether w is a terminal: a character device other
// than the null device (which is one too, and must not get a bar), and
// not a "dumb" terminal. A real isatty needs golang.org/x/term, which the
// module does not depend on; a tty is the only other character device a
// user points stderr at in practice.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" {
		return false
	}
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(st, null)
}

// formatProgress renders one line of the bar: done of total bytes after
// elapsed, with the time left at the rate so far. total <= 0 means
// unknown: bytes and rate only.
//
//	[###############---------------]  50.0%  5.0 MiB / 10.0 MiB  2.5 MiB/s  ETA 2s
func formatProgress(done, total int64, elapsed time.Duration) string {
	rate, eta := "--", ""
	if elapsed >= progressRateElapsedMin {
		bytesPerSecond := float64(done) / elapsed.Seconds()
		rate = formatBytes(int64(bytesPerSecond)) + "/s"
		if left := time.Duration(float64(total-done) / bytesPerSecond * float64(time.Second)); total > done && left >= time.Second/2 {
			eta = "  ETA " + formatETA(left)
		}
	}
	if total <= 0 {
		return fmt.Sprintf("%s  %s", formatBytes(done), rate)
	}
	done = min(max(done, 0), total)
	filled := int(done * progressBarWidth / total)
	bar := strings.Repeat("#", filled) + strings.Repeat("-", progressBarWidth-filled)
	percent := float64(done) * 100 / float64(total)
	return fmt.Sprintf("[%s] %5.1f%%  %s / %s  %s%s", bar, percent, formatBytes(done), formatBytes(total), rate, eta)
}

// formatETA renders a time left, rounded to the second: "7s", "3m05s",
// "2h14m". (formatProgress shows none under half a second: a bar at
// 100.0% with "ETA 1s" would read as a contradiction.)
func formatETA(d time.Duration) string {
	seconds := int64((d + time.Second/2) / time.Second)
	switch {
	case seconds < 60:
		return fmt.Sprintf("%ds", seconds)
	case seconds < 3600:
		return fmt.Sprintf("%dm%02ds", seconds/60, seconds%60)
	}
	return fmt.Sprintf("%dh%02dm", seconds/3600, seconds%3600/60)
}

// formatBytes renders n with a binary unit and one decimal ("1.5 KiB");
// plain bytes below 1 KiB.
func formatBytes(n int64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	value, unit := float64(n)/1024, 0
	for value >= 1024 && unit < len(units)-1 {
		value /= 1024
		unit++
	}
	return fmt.Sprintf("%.1f %ciB", value, units[unit])
}

// progress redraws a bar on out as bytes pass through Read. The HTTP
// transport reads an upload body on its own goroutine while the command's
// goroutine may end the bar early, so a mutex guards the state.
type progress struct {
	out     io.Writer
	source  io.Reader
	total   int64
	now     func() time.Time
	started time.Time

	// afterLast, when set, is said once the last byte has passed instead
	// of ending the bar: "verifying" (get checks the hash), "waiting for
	// the node" (put's answer comes once the node stored the object). The
	// command then ends the bar with finishWith.
	afterLast string

	mu       sync.Mutex
	done     int64
	drawnAt  time.Time
	drawn    bool
	finished bool
	label    string // said after the figures: "verifying", "verified"
}

func newProgress(out io.Writer, source io.Reader, total int64, now func() time.Time) *progress {
	return &progress{out: out, source: source, total: total, now: now, started: now()}
}

func (p *progress) Read(b []byte) (int, error) {
	n, err := p.source.Read(b)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += int64(n)
	visible := p.total > progressBytesMin || p.done > progressBytesMin
	if t := p.now(); visible && !p.finished && (!p.drawn || t.Sub(p.drawnAt) >= progressRedrawInterval) {
		p.draw(t)
	}
	// The last byte may arrive without EOF: net/http stops reading an
	// upload at its Content-Length, and the node may answer before the
	// transport reads again, so a known total reached counts as the end.
	if err == io.EOF || (p.total > 0 && p.done >= p.total) {
		if p.afterLast != "" {
			p.labelLocked(p.afterLast)
		} else {
			p.finishLocked()
		}
	}
	return n, err
}

// labelLocked redraws the bar with a word after the figures, if a bar is
// shown.
func (p *progress) labelLocked(label string) {
	if p.finished || !p.drawn {
		return
	}
	p.label = label
	p.draw(p.now())
}

// finishWith ends the bar with a last word ("verified", "integrity check
// failed").
func (p *progress) finishWith(label string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn && !p.finished {
		p.label = label
	}
	p.finishLocked()
}

// draw overwrites the current line: carriage return, the bar, and an
// erase to the end of the line in case the previous text was longer.
func (p *progress) draw(t time.Time) {
	line := formatProgress(p.done, p.total, t.Sub(p.started))
	if p.label != "" {
		line += "  " + p.label
	}
	fmt.Fprintf(p.out, "\r%s\x1b[K", line)
	p.drawn, p.drawnAt = true, t
}

// finish draws the final state and ends the line, once, if a bar was
// shown; a transfer cut short leaves its last figures on screen.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finishLocked()
}

func (p *progress) finishLocked() {
	if p.finished || !p.drawn {
		return
	}
	p.finished = true
	p.draw(p.now())
	fmt.Fprintln(p.out)
}

// progressOut returns where put and get draw their bar: stderr when it is
// a terminal, and nil (no bar) with --json or --quiet.
func (c *client) progressOut(stderr io.Writer) io.Writer {
	if c.json || c.quiet || !isTerminal(stderr) {
		return nil
	}
	return stderr
}

// trackUpload wraps a large request body in a bar when the command shows
// one. ContentLength is left as http.NewRequest set it.
// An upload of unknown size (stdin) gets a bar of bytes and rate once it
// passes progressBytesMin.
func (c *client) trackUpload(req *http.Request, size int64) {
	if c.barOut == nil || !c.transfer || (size >= 0 && size <= progressBytesMin) || req.Body == nil || req.Body == http.NoBody {
		return
	}
	c.bar = newProgress(c.barOut, req.Body, size, time.Now)
	c.bar.afterLast = "waiting for the node"
	req.Body = io.NopCloser(c.bar)
}

// trackDownload wraps a large (or unsized) response body in a bar when the
// command shows one.
func (c *client) trackDownload(resp *http.Response) io.Reader {
	if c.barOut == nil || !c.transfer || resp.StatusCode/100 != 2 || (resp.ContentLength >= 0 && resp.ContentLength <= progressBytesMin) {
		return resp.Body
	}
	c.endProgress() // the upload, if any, is over
	c.bar = newProgress(c.barOut, resp.Body, resp.ContentLength, time.Now)
	return c.bar
}

// endProgress ends a bar left open by an exchange that stopped early.
func (c *client) endProgress() {
	if c.bar != nil {
		c.bar.finish()
		c.bar = nil
	}
}

package cli

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"
)

// meter reports the progress of a transfer on stderr: a bar with bytes/s
// and the time left when stderr is a terminal, else one plain line per
// step the hub acknowledged, which scripts and logs can read.
type meter struct {
	w     io.Writer
	bar   *progressbar.ProgressBar // nil when stderr is not a terminal
	verb  string                   // "pushed", "pulled", "sent"
	total int64
	done  int64
	start time.Time
	every int64 // without a terminal: bytes between progress lines
	next  int64 // without a terminal: done at which the next line is due
}

// minLineEvery is the fewest bytes between two plain progress lines; a
// big transfer gets about twenty lines.
const minLineEvery = 8 << 20

// newMeter starts a meter for total bytes.
func (a *app) newMeter(verb string, total int64) *meter {
	every := max(minLineEvery, total/20)
	m := &meter{w: a.stderr, verb: verb, total: total, start: time.Now(), every: every, next: every}
	if f, ok := a.stderr.(*os.File); ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())) {
		m.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(a.stderr),
			progressbar.OptionSetDescription(verb),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowTotalBytes(true),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionUseIECUnits(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(a.stderr) }),
		)
	}
	return m
}

// add counts n more bytes sent or received. Without a terminal it prints
// a line with the rate and the time left every so many bytes, so a long
// transfer shows in logs that it is moving.
func (m *meter) add(n int64) {
	m.done += n
	if m.bar != nil {
		m.bar.Add64(n)
		return
	}
	if m.done >= m.next && m.done < m.total {
		m.next = m.done + m.every
		rate := m.rate()
		left := time.Duration(float64(m.total-m.done) / max(rate, 1) * float64(time.Second)).Round(time.Second)
		fmt.Fprintf(m.w, "%s %s of %s (%s/s, about %s left)\n", m.verb, byteSize(m.done), byteSize(m.total), byteSize(int64(rate)), left)
	}
}

// rate is the mean rate so far, in bytes per second.
func (m *meter) rate() float64 {
	return float64(m.done) / max(time.Since(m.start).Seconds(), 1e-3)
}

// step reports, without a terminal, that the hub acknowledged what
// describes, with the bytes moved so far and the rate.
func (m *meter) step(what string) {
	if m.bar != nil {
		return
	}
	fmt.Fprintf(m.w, "%s %s (%s of %s, %s/s)\n", m.verb, what, byteSize(m.done), byteSize(m.total), byteSize(int64(m.rate())))
}

// finish ends the bar.
func (m *meter) finish() {
	if m.bar != nil {
		m.bar.Finish()
	}
}

// byteSize formats n bytes for people, in IEC units.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for v := n / unit; v >= unit && exp < 5; v /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// count formats n things for people: "1 file", "2 files".
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

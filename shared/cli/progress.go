package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hyper2kvm/controlplane/shared/client"
	"github.com/hyper2kvm/controlplane/shared/domain"
)

// disk is the per-disk part of an event's details: {disk, done_bytes, total_bytes}.
type disk struct {
	name        string
	done, total float64
	bytes       bool // done_bytes and total_bytes were both usable numbers
}

// parseDisk reads the per-disk details a worker may attach. Details are an open map from
// the worker, so every value is checked rather than trusted.
func parseDisk(details map[string]any) (disk, bool) {
	var d disk
	if v, ok := details["disk"]; ok {
		d.name = clean(fmt.Sprint(v))
	}
	done, okDone := number(details["done_bytes"])
	total, okTotal := number(details["total_bytes"])
	if okDone && okTotal {
		d.done, d.total, d.bytes = done, total, true
	}
	return d, d.name != "" || d.bytes
}

// number accepts the shapes a JSON number takes after decoding, and numeric strings; it
// refuses negatives and values that are not finite.
func number(v any) (float64, bool) {
	var f float64
	switch n := v.(type) {
	case float64:
		f = n
	case int64:
		f = float64(n)
	case int:
		f = float64(n)
	case json.Number:
		x, err := n.Float64()
		if err != nil {
			return 0, false
		}
		f = x
	case string:
		x, err := strconv.ParseFloat(n, 64)
		if err != nil {
			return 0, false
		}
		f = x
	default:
		return 0, false
	}
	return f, f >= 0 && !math.IsInf(f, 0) && !math.IsNaN(f)
}

type sample struct {
	at time.Time
	v  float64
}

// meterWindow is how many recent samples a rate is taken over: enough to smooth one odd
// event, few enough to follow a change of speed.
const meterWindow = 8

// meter estimates the rate of a rising counter from its recent samples.
type meter struct{ samples []sample }

func (m *meter) add(at time.Time, v float64) {
	if n := len(m.samples); n > 0 {
		last := m.samples[n-1]
		if v < last.v {
			m.samples = m.samples[:0] // the counter restarted, e.g. a new attempt
		} else if !at.After(last.at) {
			m.samples[n-1].v = v
			return
		}
	}
	m.samples = append(m.samples, sample{at: at, v: v})
	if len(m.samples) > meterWindow {
		m.samples = append(m.samples[:0], m.samples[1:]...)
	}
}

// minSpan is the shortest stretch of time a rate is taken over: events a few milliseconds
// apart give absurd rates, not estimates.
const minSpan = time.Second

// rate is the increase per second over the window, ok only when it is positive.
func (m *meter) rate() (float64, bool) {
	if len(m.samples) < 2 {
		return 0, false
	}
	first, last := m.samples[0], m.samples[len(m.samples)-1]
	span := last.at.Sub(first.at)
	if span < minSpan {
		return 0, false
	}
	r := (last.v - first.v) / span.Seconds()
	return r, r > 0 && !math.IsInf(r, 0)
}

// eta is how long the rest takes at the current rate.
func (m *meter) eta(target float64) (time.Duration, bool) {
	r, ok := m.rate()
	if !ok || len(m.samples) == 0 {
		return 0, false
	}
	left := max(target-m.samples[len(m.samples)-1].v, 0)
	return secondsToDuration(left / r), true
}

// progressView renders progress events: on a terminal one line redrawn in place, which
// starts anew when the phase or disk changes so each finished step stays visible; anywhere
// else one line per event, which reads well in a log file.
type progressView struct {
	w     io.Writer
	now   func() time.Time
	tty   bool
	width int
	pct   meter
	disks map[string]*meter
	key   string
	open  bool
}

func newView(env Env) *progressView {
	return &progressView{w: env.Stdout, now: env.Now, tty: env.TTY, width: env.Width,
		disks: map[string]*meter{}}
}

func (v *progressView) show(p client.Progress) {
	p.ProgressPercent = percentIn(p.ProgressPercent)
	d, hasDisk := parseDisk(p.Details)
	line := v.status(p, d, hasDisk)
	if !v.tty {
		fmt.Fprintf(v.w, "#%d %s\n", p.Seq, line)
		return
	}
	key := p.Phase + "\x00" + d.name
	if v.open && key != v.key {
		fmt.Fprintln(v.w)
	}
	fmt.Fprintf(v.w, "\r%s %s\x1b[K", bar(p.ProgressPercent), fit(line, v.width-24))
	v.key, v.open = key, true
}

// finish ends the line being redrawn, so what follows starts on its own line.
func (v *progressView) finish() {
	if v.open {
		fmt.Fprintln(v.w)
		v.open = false
	}
}

// status is the text of one event. Rates use the event's own timestamp when it has one:
// events replayed in a burst after a reconnect would otherwise look impossibly fast.
func (v *progressView) status(p client.Progress, d disk, hasDisk bool) string {
	at := p.Timestamp
	if at.IsZero() {
		at = v.now()
	}
	v.pct.add(at, p.ProgressPercent)
	parts := []string{fmt.Sprintf("%5.1f%%", p.ProgressPercent),
		fmt.Sprintf("%-13s", clean(p.Phase))}
	ending := isEnd(p.Phase)
	switch {
	case hasDisk && d.bytes:
		parts = append(parts, v.diskPart(at, p.Phase, d, ending))
	case hasDisk:
		parts = append(parts, d.name)
	}
	if !(hasDisk && d.bytes) && !ending {
		parts = append(parts, percentPart(&v.pct))
	}
	parts = append(parts, clean(p.Message))
	return strings.Join(nonEmpty(parts), "  ")
}

// diskPart measures each disk in each phase on its own: converting and verifying the same
// disk run at different speeds.
func (v *progressView) diskPart(at time.Time, phase string, d disk, ending bool) string {
	key := phase + "\x00" + d.name
	m := v.disks[key]
	if m == nil {
		m = &meter{}
		v.disks[key] = m
	}
	m.add(at, d.done)
	text := strings.TrimSpace(d.name + " " + byteSize(d.done) + "/" + byteSize(d.total))
	if r, ok := m.rate(); ok && !ending {
		text += ", " + byteSize(r) + "/s"
	}
	if eta, ok := m.eta(d.total); ok && !ending {
		text += ", ETA " + duration(eta)
	}
	return text
}

// percentPart estimates from the percentage alone, for events without byte counts.
func percentPart(m *meter) string {
	r, ok := m.rate()
	if !ok || r*60 > 1000 {
		return "" // a jump between phases, not a rate anyone can use
	}
	text := fmt.Sprintf("%.1f%%/min", r*60)
	if eta, ok := m.eta(100); ok {
		text += ", ETA " + duration(eta)
	}
	return text
}

func isEnd(phase string) bool {
	p := domain.Phase(phase)
	return p == domain.PhaseCompleted || p == domain.PhaseFailed || p == domain.PhaseCancelled
}

func nonEmpty(parts []string) []string {
	out := parts[:0]
	for _, p := range parts {
		if strings.TrimSpace(p) != "" {
			out = append(out, p)
		}
	}
	return out
}

// percentIn keeps a percentage from the wire within 0-100, the protocol's range, so a bad
// value cannot break the bar or the rate.
func percentIn(p float64) float64 {
	if math.IsNaN(p) {
		return 0
	}
	return min(max(p, 0), 100)
}

// barWidth is the number of cells of the percentage bar.
const barWidth = 20

func bar(pct float64) string {
	n := int(math.Round(percentIn(pct) / 100 * barWidth))
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", barWidth-n) + "]"
}

// fit cuts a line to the terminal width: a line that wraps cannot be redrawn with "\r".
func fit(s string, width int) string {
	width = max(width, 10)
	if utf8.RuneCountInString(s) <= width {
		return s
	}
	r := []rune(s)
	return string(r[:width-1]) + "…"
}

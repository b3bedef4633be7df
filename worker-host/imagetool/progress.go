package imagetool

import (
	"bytes"
	"math"
	"strconv"
	"time"
)

// maxRecord bounds the unfinished record a ProgressParser keeps between writes; a real one
// ("    (100.00/100%)") is under 20 bytes, so anything longer is not progress.
const maxRecord = 64

// ProgressParser turns the output of `qemu-img -p` into percentages. qemu-img rewrites one
// line using carriage returns, and a pipe read may end anywhere in it, so the parser keeps
// the unfinished record between writes. It passes on only values that rise, within 0..100.
// It is an io.Writer for the tool's stdout and is not safe for concurrent use.
type ProgressParser struct {
	emit     func(pct float64)
	partial  []byte
	skipping bool // inside an overlong record, until the next separator
	last     float64
}

// NewProgressParser returns a parser that calls emit with each new, higher percentage.
func NewProgressParser(emit func(pct float64)) *ProgressParser {
	return &ProgressParser{emit: emit, last: -1}
}

// Write consumes a chunk of output. It never fails: unreadable records are skipped.
func (p *ProgressParser) Write(b []byte) (int, error) {
	n := len(b)
	for {
		i := bytes.IndexAny(b, "\r\n")
		if i < 0 {
			break
		}
		if !p.skipping {
			p.record(append(p.partial, b[:i]...))
		}
		p.partial, p.skipping, b = p.partial[:0], false, b[i+1:]
	}
	if p.skipping || len(p.partial)+len(b) > maxRecord {
		p.partial, p.skipping = p.partial[:0], true // not progress; wait for a separator
		return n, nil
	}
	p.partial = append(p.partial, b...)
	return n, nil
}

// Flush reads a last record that had no separator after it.
func (p *ProgressParser) Flush() {
	if !p.skipping {
		p.record(p.partial)
	}
	p.partial, p.skipping = p.partial[:0], false
}

func (p *ProgressParser) record(r []byte) {
	if len(r) > maxRecord {
		return
	}
	pct, ok := parseRecord(r)
	if ok && pct > p.last {
		p.last = pct
		p.emit(pct)
	}
}

// parseRecord reads "(12.34/100%)" with any surrounding blanks.
func parseRecord(r []byte) (float64, bool) {
	r = bytes.TrimSpace(r)
	num, ok := bytes.CutPrefix(r, []byte("("))
	if !ok {
		return 0, false
	}
	num, ok = bytes.CutSuffix(num, []byte("/100%)"))
	if !ok {
		return 0, false
	}
	pct, err := strconv.ParseFloat(string(num), 64)
	if err != nil || math.IsNaN(pct) || pct < 0 || pct > 100 {
		return 0, false
	}
	return pct, true
}

// Throttle passes progress on no more often than the job's event stream can use: a value
// goes through only when both the interval has passed and the value has risen by step since
// the last one that went through. 100 always goes through, once. Not safe for concurrent use.
type Throttle struct {
	interval time.Duration
	step     float64
	now      func() time.Time
	emit     func(pct float64)
	lastPct  float64
	lastAt   time.Time
	sent     bool
}

// NewThrottle returns a Throttle that calls emit.
func NewThrottle(interval time.Duration, step float64, now func() time.Time,
	emit func(pct float64)) *Throttle {
	return &Throttle{interval: interval, step: step, now: now, emit: emit}
}

// Report offers a value; lower or equal values than the last passed on are dropped.
func (t *Throttle) Report(pct float64) {
	if math.IsNaN(pct) || pct < 0 || pct > 100 || (t.sent && pct <= t.lastPct) {
		return
	}
	now := t.now()
	if pct < 100 {
		if pct-t.lastPct < t.step || (t.sent && now.Sub(t.lastAt) < t.interval) {
			return
		}
	}
	t.lastPct, t.lastAt, t.sent = pct, now, true
	t.emit(pct)
}

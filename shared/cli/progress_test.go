package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/hyper2kvm/controlplane/shared/client"
)

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newClock() *clock {
	return &clock{t: time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)}
}

func mib(n float64) float64 { return n * (1 << 20) }

func diskOf(name string, done, total float64) map[string]any {
	return map[string]any{"disk": name, "done_bytes": done, "total_bytes": total}
}

// view builds a plain-text view on the clock; events below carry no timestamp, so every
// rate comes from the injected clock.
func view(c *clock, tty bool) (*progressView, *strings.Builder) {
	var out strings.Builder
	return &progressView{w: &out, now: c.now, tty: tty, width: 200,
		disks: map[string]*meter{}}, &out
}

func TestRateAndETAFromDiskBytes(t *testing.T) {
	t.Parallel()
	c := newClock()
	v, out := view(c, false)
	v.show(client.Progress{Seq: 1, Phase: "conversion", ProgressPercent: 10,
		Message: "converting", Details: diskOf("sda", 0, mib(1000))})
	c.advance(10 * time.Second)
	v.show(client.Progress{Seq: 2, Phase: "conversion", ProgressPercent: 20,
		Message: "converting", Details: diskOf("sda", mib(250), mib(1000))})
	want := "#1  10.0%  conversion     sda 0 B/1000.0 MiB  converting\n" +
		"#2  20.0%  conversion     sda 250.0 MiB/1000.0 MiB, 25.0 MiB/s, ETA 30s  converting\n"
	if out.String() != want {
		t.Errorf("got\n%q\nwant\n%q", out.String(), want)
	}
}

func TestRateAndETAPerDisk(t *testing.T) {
	t.Parallel()
	c := newClock()
	v, out := view(c, false)
	show := func(seq int64, d map[string]any) {
		v.show(client.Progress{Seq: seq, Phase: "conversion", ProgressPercent: float64(seq),
			Details: d})
	}
	show(1, diskOf("sda", 0, mib(600)))
	show(2, diskOf("sdb", 0, mib(60)))
	c.advance(time.Minute)
	show(3, diskOf("sda", mib(120), mib(600))) // 2 MiB/s, 4 minutes left
	show(4, diskOf("sdb", mib(6), mib(60)))    // 0.1 MiB/s, 9 minutes left
	lines := strings.Split(out.String(), "\n")
	wantContains(t, "sda", lines[2], "sda 120.0 MiB/600.0 MiB, 2.0 MiB/s, ETA 4m00s")
	wantContains(t, "sdb", lines[3], "sdb 6.0 MiB/60.0 MiB, 102.4 KiB/s, ETA 9m00s")
}

func TestETAFromPercentageOverTime(t *testing.T) {
	t.Parallel()
	c := newClock()
	v, out := view(c, false)
	for i, pct := range []float64{10, 20, 40} {
		v.show(client.Progress{Seq: int64(i + 1), Phase: "offline_fixes", ProgressPercent: pct,
			Message: "fixing"})
		c.advance(30 * time.Second)
	}
	// 10% to 40% in 60 s: 30%/min, so the remaining 60% take two minutes.
	wantContains(t, "percent", out.String(), "#3  40.0%  offline_fixes  30.0%/min, ETA 2m00s  fixing")
}

func TestEventTimestampsBeatArrivalTime(t *testing.T) {
	t.Parallel()
	c := newClock()
	v, out := view(c, false)
	at := time.Date(2026, 1, 2, 2, 0, 0, 0, time.UTC)
	// Replayed after a reconnect, both arrive at once; their timestamps are 100 s apart.
	v.show(client.Progress{Seq: 1, Phase: "conversion", Timestamp: at,
		Details: diskOf("sda", 0, mib(200))})
	v.show(client.Progress{Seq: 2, Phase: "conversion", Timestamp: at.Add(100 * time.Second),
		Details: diskOf("sda", mib(100), mib(200))})
	wantContains(t, "rate", out.String(), "1.0 MiB/s, ETA 1m40s")
}

func TestNoETAWhenStalledOrEnded(t *testing.T) {
	t.Parallel()
	c := newClock()
	v, out := view(c, false)
	v.show(client.Progress{Seq: 1, Phase: "conversion", ProgressPercent: 50})
	c.advance(time.Minute)
	v.show(client.Progress{Seq: 2, Phase: "conversion", ProgressPercent: 50})
	c.advance(time.Minute)
	v.show(client.Progress{Seq: 3, Phase: "failed", ProgressPercent: 60, Message: "boom"})
	if strings.Contains(out.String(), "ETA") {
		t.Errorf("got %q, want no ETA without progress or after the end", out.String())
	}
}

func TestRestartedCounterResetsTheRate(t *testing.T) {
	t.Parallel()
	var m meter
	t0 := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	m.add(t0, 50)
	m.add(t0.Add(time.Second), 60)
	m.add(t0.Add(2*time.Second), 0) // a new attempt starts from zero
	if r, ok := m.rate(); ok {
		t.Errorf("rate after a restart: got %v, want none until a second sample", r)
	}
	m.add(t0.Add(4*time.Second), 10)
	if r, ok := m.rate(); !ok || r != 5 {
		t.Errorf("rate: got %v %v, want 5/s", r, ok)
	}
}

func TestMeterKeepsARecentWindow(t *testing.T) {
	t.Parallel()
	var m meter
	t0 := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	for i := range 20 { // slow at first (1/s), then fast (10/s)
		v := float64(i)
		if i >= 10 {
			v = 10 + float64(i-10)*10
		}
		m.add(t0.Add(time.Duration(i)*time.Second), v)
	}
	if r, _ := m.rate(); r != 10 {
		t.Errorf("rate: got %v, want 10/s from the recent samples only", r)
	}
}

func TestTerminalRedrawsAndFits(t *testing.T) {
	t.Parallel()
	c := newClock()
	v, out := view(c, true)
	v.width = 60
	v.show(client.Progress{Phase: "conversion", ProgressPercent: 50,
		Message: strings.Repeat("long ", 20), Details: diskOf("sda", 1, 2)})
	v.show(client.Progress{Phase: "conversion", ProgressPercent: 75,
		Details: diskOf("sdb", 1, 2)})
	v.finish()
	lines := strings.Split(out.String(), "\n")
	if len(lines) != 3 || lines[2] != "" {
		t.Fatalf("got %q, want a line per disk, each ended", out.String())
	}
	first := strings.TrimSuffix(strings.TrimPrefix(lines[0], "\r"), "\x1b[K")
	if n := len([]rune(first)); n >= 60 || !strings.HasSuffix(first, "…") {
		t.Errorf("first line: got %d runes %q, want it cut below the width of 60", n, first)
	}
	wantContains(t, "bar", lines[1], "[###############.....]  75.0%")
}

func TestControlCharactersNeverReachTheTerminal(t *testing.T) {
	t.Parallel()
	c := newClock()
	v, out := view(c, true)
	v.show(client.Progress{Phase: "conv\x1b[2Jersion", Message: "a\rb\x1b]0;title\x07c\nd",
		Details: map[string]any{"disk": "s\x1bda"}})
	text := strings.TrimSuffix(strings.TrimPrefix(out.String(), "\r"), "\x1b[K")
	if strings.ContainsAny(text, "\x1b\r\n\x07") {
		t.Errorf("got %q, want no control characters from the event", text)
	}
}

func TestFormats(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		got, want string
	}{
		{byteSize(0), "0 B"}, {byteSize(1023), "1023 B"}, {byteSize(1536), "1.5 KiB"},
		{byteSize(mib(1) * 1024 * 1024 * 3), "3.0 TiB"},
		{duration(0), "0s"}, {duration(59 * time.Second), "59s"},
		{duration(61 * time.Second), "1m01s"}, {duration(2*time.Hour + time.Minute), "2h01m"},
		{duration(200 * time.Hour), ">99h"}, {bar(-5), "[....................]"},
		{bar(100), "[####################]"}, {bar(150), "[####################]"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestNoRateOverLessThanASecond(t *testing.T) {
	t.Parallel()
	c := newClock()
	v, out := view(c, false)
	v.show(client.Progress{Seq: 1, Phase: "conversion", Details: diskOf("sda", 0, mib(8))})
	c.advance(5 * time.Millisecond)
	v.show(client.Progress{Seq: 2, Phase: "conversion", Details: diskOf("sda", mib(4), mib(8))})
	if strings.Contains(out.String(), "/s") {
		t.Errorf("got %q, want no rate from events 5 ms apart", out.String())
	}
}

func TestEachPhaseOfADiskHasItsOwnRate(t *testing.T) {
	t.Parallel()
	c := newClock()
	v, out := view(c, false)
	v.show(client.Progress{Seq: 1, Phase: "conversion", Details: diskOf("sda", 0, mib(10))})
	c.advance(time.Second)
	v.show(client.Progress{Seq: 2, Phase: "conversion", Details: diskOf("sda", mib(10), mib(10))})
	c.advance(time.Second)
	// Verification starts over on the same disk; the conversion's speed says nothing of it.
	v.show(client.Progress{Seq: 3, Phase: "verification",
		Details: diskOf("sda", mib(10), mib(10))})
	lines := strings.Split(out.String(), "\n")
	wantContains(t, "conversion", lines[1], "10.0 MiB/s")
	if strings.Contains(lines[2], "/s") {
		t.Errorf("verification: got %q, want no rate before its second sample", lines[2])
	}
}

package cli

import (
	"encoding/json"
	"flag"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/hyper2kvm/controlplane/shared/client"
)

func FuzzParseSince(f *testing.F) {
	for _, s := range []string{"", "15m", "2h30m", "2026-01-02T15:04:05Z",
		"2026-01-02T15:04:05.123+02:00", "-5m", "0s", "yesterday", "9999999h", " 1s "} {
		f.Add(s)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseSince(s, now)
		if err != nil {
			return
		}
		if got.IsZero() != (strings.TrimSpace(s) == "") {
			t.Errorf("parseSince(%q) = %v: zero exactly when empty", s, got)
		}
		if got.Location() != time.UTC {
			t.Errorf("parseSince(%q) = %v: want UTC", s, got)
		}
	})
}

func FuzzParseDisk(f *testing.F) {
	for _, s := range []string{`{"disk": "sda", "done_bytes": 1, "total_bytes": 2}`,
		`{"disk": 0}`, `{"done_bytes": "12", "total_bytes": 1e400}`, `{"done_bytes": -1}`,
		`{"disk": {"x": [1]}, "done_bytes": null}`, `{"disk": "a\u001b[2Jb"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var details map[string]any
		if json.Unmarshal(data, &details) != nil {
			return
		}
		d, ok := parseDisk(details)
		if !ok {
			return
		}
		for _, v := range []float64{d.done, d.total} {
			if d.bytes && (v < 0 || math.IsNaN(v) || math.IsInf(v, 0)) {
				t.Errorf("parseDisk(%s): byte count %v", data, v)
			}
		}
		if strings.IndexFunc(d.name, unicode.IsControl) >= 0 {
			t.Errorf("parseDisk(%s): name %q has control characters", data, d.name)
		}
		_ = diskText(details)
	})
}

// FuzzStatus feeds arbitrary event data to the renderer: whatever a server sends, the line
// must not panic, must not carry control characters, and must fit the terminal.
func FuzzStatus(f *testing.F) {
	f.Add("conversion", "msg", 50.0, []byte(`{"disk": "sda", "done_bytes": 5, "total_bytes": 9}`),
		int64(3))
	f.Add("x\x1b", "\r\n", math.Inf(1), []byte(`{"done_bytes": 1e308, "total_bytes": 1}`),
		int64(-1))
	f.Fuzz(func(t *testing.T, phase, msg string, pct float64, details []byte, step int64) {
		var d map[string]any
		_ = json.Unmarshal(details, &d)
		c := newClock()
		v, out := view(c, true)
		v.width = 40
		for i := range 3 {
			v.show(client.Progress{Seq: int64(i), Phase: phase, Message: msg,
				ProgressPercent: pct + float64(i), Details: d})
			c.advance(time.Duration(step))
		}
		text := strings.ReplaceAll(out.String(), "\x1b[K", "")
		for _, line := range strings.FieldsFunc(text, func(r rune) bool {
			return r == '\n' || r == '\r'
		}) {
			if strings.IndexFunc(line, unicode.IsControl) >= 0 {
				t.Fatalf("line %q has control characters", line)
			}
			if n := len([]rune(line)); n > 22+1+40 {
				t.Fatalf("line %q: %d runes, want it fitted", line, n)
			}
		}
	})
}

func FuzzParseArgs(f *testing.F) {
	for _, s := range []string{"job.json\x00--monitor", "--queue=false\x00-", "--\x00-x\x00y",
		"--state\x00", "-h", "--limit=3\x00a\x00--all\x00b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, joined string) {
		args := strings.Split(joined, "\x00")
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.Bool("all", false, "")
		fs.String("state", "", "")
		limit := 1
		fs.Var(rangeInt{&limit, 1, 1000}, "limit", "")
		pos, err := parseArgs(fs, args)
		if err != nil {
			return
		}
		for _, p := range pos {
			if !slices.Contains(args, p) {
				t.Errorf("parseArgs(%q): positional %q is not an argument", args, p)
			}
		}
		if limit < 1 || limit > 1000 {
			t.Errorf("parseArgs(%q): limit %d out of range", args, limit)
		}
	})
}

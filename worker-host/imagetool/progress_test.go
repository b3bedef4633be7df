package imagetool

import (
	"os"
	"slices"
	"testing"
	"time"
)

func parseAll(chunks ...[]byte) []float64 {
	var got []float64
	p := NewProgressParser(func(v float64) { got = append(got, v) })
	for _, c := range chunks {
		p.Write(c)
	}
	p.Flush()
	return got
}

func TestProgressParserRealOutput(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/progress-convert.txt")
	if err != nil {
		t.Fatal(err)
	}
	whole := parseAll(data)
	if len(whole) < 10 || whole[0] != 0 || whole[len(whole)-1] != 100 {
		t.Fatalf("got %v, want a run from 0 to 100", whole)
	}
	// Fed one byte at a time, the parser must see exactly the same values.
	var bytewise [][]byte
	for i := range data {
		bytewise = append(bytewise, data[i:i+1])
	}
	if got := parseAll(bytewise...); !slices.Equal(got, whole) {
		t.Errorf("byte by byte: got %v, want %v", got, whole)
	}
}

func TestProgressParserCases(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		chunks []string
		want   []float64
	}{
		{"split inside number", []string{"    (12.", "34/100%)\r"}, []float64{12.34}},
		{"no trailing separator", []string{"(7.00/100%)"}, []float64{7}},
		{"backwards dropped", []string{"(50/100%)\r(40/100%)\r(60/100%)\r"}, []float64{50, 60}},
		{"repeat dropped", []string{"(5/100%)\r(5/100%)\r"}, []float64{5}},
		{"out of range", []string{"(101/100%)\r(-1/100%)\r(NaN/100%)\r(1/100%)"},
			[]float64{1}},
		{"noise between", []string{"warning: x\n(3/100%)\rgarbage\r(4/100%)\n"},
			[]float64{3, 4}},
		{"overlong record ignored", []string{"(", "000000000000000000000000000000000",
			"0000000000000000000000000000000001/100%)\r(2/100%)"}, []float64{2}},
		{"mismatch line after", []string{"(100.00/100%)\rContent mismatch at offset 9!\n"},
			[]float64{100}},
	}
	for _, c := range cases {
		var chunks [][]byte
		for _, s := range c.chunks {
			chunks = append(chunks, []byte(s))
		}
		if got := parseAll(chunks...); !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

func TestProgressParserBoundsMemory(t *testing.T) {
	t.Parallel()
	p := NewProgressParser(func(float64) {})
	junk := make([]byte, 1<<20)
	p.Write(junk)
	if len(p.partial) > maxRecord {
		t.Errorf("kept %d bytes of a record-less stream, want <= %d", len(p.partial), maxRecord)
	}
}

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time          { return c.now }
func (c *fakeClock) Advance(d time.Duration) { c.now = c.now.Add(d) }

func TestThrottleNeedsBothTimeAndStep(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Unix(1000, 0)}
	var got []float64
	th := NewThrottle(500*time.Millisecond, 1, clock.Now, func(p float64) { got = append(got, p) })
	th.Report(0.5)                        // below the first step
	th.Report(1)                          // first: step reached
	th.Report(5)                          // too soon
	clock.Advance(600 * time.Millisecond) //
	th.Report(5.5)                        // time passed, step passed
	th.Report(6)                          // too soon again
	clock.Advance(time.Second)            //
	th.Report(6.2)                        // time passed, step not
	th.Report(100)                        // 100 always goes through
	th.Report(100)                        // once
	if want := []float64{1, 5.5, 100}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func FuzzProgressParser(f *testing.F) {
	if data, err := os.ReadFile("testdata/progress-convert.txt"); err == nil {
		f.Add(data, uint8(7))
	}
	f.Add([]byte("    (12.34/100%)\r    (100.00/100%)\r"), uint8(3))
	f.Add([]byte("(1e2/100%)\r(0x1p-2/100%)\r(Inf/100%)\n"), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		whole := parseAll(data)
		for i, v := range whole {
			if v < 0 || v > 100 || v != v || (i > 0 && v <= whole[i-1]) {
				t.Fatalf("value %v at %d of %v: want rising values in 0..100", v, i, whole)
			}
		}
		step := int(split)%17 + 1
		var chunks [][]byte
		for i := 0; i < len(data); i += step {
			chunks = append(chunks, data[i:min(i+step, len(data))])
		}
		if got := parseAll(chunks...); !slices.Equal(got, whole) {
			t.Fatalf("split every %d bytes: got %v, want %v", step, got, whole)
		}
	})
}

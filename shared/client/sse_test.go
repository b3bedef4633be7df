package client

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestSSEReaderSplitsEvents(t *testing.T) {
	t.Parallel()
	in := "retry: 2000\n\n: keep-alive\n\nid: 1\nevent: progress\ndata: {\"a\":1}\n\n" +
		"id: 2\r\nevent: complete\r\ndata: x\r\ndata: y\r\n\r\nid: 3\ndata: cut"
	rd := NewSSEReader(strings.NewReader(in))
	var got []SSEEvent
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev)
	}
	want := []SSEEvent{{Retry: 2000}, {ID: "1", Event: "progress", Data: `{"a":1}`},
		{ID: "2", Event: "complete", Data: "x\ny"}}
	if len(got) != len(want) {
		t.Fatalf("events: got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("event %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func FuzzSSEReader(f *testing.F) {
	f.Add("id: 1\nevent: progress\ndata: {}\n\n")
	f.Add("retry: 99999999999\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		rd := NewSSEReader(strings.NewReader(in))
		for i := 0; i < 10000; i++ {
			ev, err := rd.Next()
			if err != nil {
				return
			}
			if ev.Retry < 0 {
				t.Fatalf("negative retry %d", ev.Retry)
			}
		}
		t.Fatal("reader did not end")
	})
}

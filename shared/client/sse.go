package client

import (
	"bufio"
	"io"
	"strings"
)

// SSEEvent is one Server-Sent Event as received.
type SSEEvent struct {
	ID    string
	Event string
	Data  string
	// Retry is the reconnect delay in milliseconds the server asked for (0: none).
	Retry int
}

// SSEReader splits a text/event-stream into events: fields up to a blank line, "data"
// lines joined by newlines, comment lines (": keep-alive") ignored.
type SSEReader struct {
	sc *bufio.Scanner
}

// NewSSEReader reads events from r.
func NewSSEReader(r io.Reader) *SSEReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	return &SSEReader{sc: sc}
}

// Next returns the next complete event, or io.EOF (or the read error) when the stream ends.
// A partial event cut off by the end of the stream is dropped, as browsers do.
func (s *SSEReader) Next() (SSEEvent, error) {
	var ev SSEEvent
	var data []string
	seen := false
	for s.sc.Scan() {
		line := strings.TrimSuffix(s.sc.Text(), "\r")
		if line == "" {
			if seen {
				ev.Data = strings.Join(data, "\n")
				return ev, nil
			}
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		name, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		seen = applyField(&ev, &data, name, value) || seen
	}
	if err := s.sc.Err(); err != nil {
		return SSEEvent{}, err
	}
	return SSEEvent{}, io.EOF
}

func applyField(ev *SSEEvent, data *[]string, name, value string) bool {
	switch name {
	case "id":
		ev.ID = value
	case "event":
		ev.Event = value
	case "data":
		*data = append(*data, value)
	case "retry":
		n := 0
		for _, c := range value {
			if c < '0' || c > '9' || n > 1e8 {
				return false
			}
			n = n*10 + int(c-'0')
		}
		ev.Retry = n
	default:
		return false
	}
	return true
}

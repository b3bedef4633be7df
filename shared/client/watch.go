package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Progress is the data of a "progress" event.
type Progress struct {
	JobID           string         `json:"job_id"`
	Seq             int64          `json:"seq"`
	Timestamp       time.Time      `json:"timestamp"`
	Phase           string         `json:"phase"`
	ProgressPercent float64        `json:"progress_percent"`
	Message         string         `json:"message"`
	Details         map[string]any `json:"details"`
}

// Summary is the data of the closing "complete" event.
type Summary struct {
	JobID  string          `json:"job_id"`
	State  string          `json:"state"`
	Result json.RawMessage `json:"result"`
}

// Watch follows a job's event stream until its "complete" event, calling onProgress for each
// progress event. A dropped connection is resumed after the last event seen (Last-Event-ID),
// so nothing is lost or repeated; it gives up after maxFailures reconnects in a row.
func (c *Client) Watch(ctx context.Context, jobID string, onProgress func(Progress),
	maxFailures int) (Summary, error) {
	last, failures := "", 0
	retry := time.Second
	for {
		before := last
		sum, done, err := c.watchOnce(ctx, jobID, &last, &retry, onProgress)
		if done {
			return sum, err
		}
		if last != before {
			failures = 0 // that connection delivered; only failures in a row count
		}
		if ctx.Err() != nil {
			return Summary{}, ctx.Err()
		}
		var apiErr *APIError
		if errors.As(err, &apiErr) && apiErr.Status < 500 {
			return Summary{}, err
		}
		if failures++; failures > maxFailures {
			return Summary{}, fmt.Errorf("stream of job %s: %w", jobID, err)
		}
		sleep(ctx, retry)
	}
}

func (c *Client) watchOnce(ctx context.Context, jobID string, last *string,
	retry *time.Duration, onProgress func(Progress)) (Summary, bool, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := c.request(ctx, http.MethodGet, "/jobs/"+PathEscape(jobID)+"/events/stream", nil)
	if err != nil {
		return Summary{}, true, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if *last != "" {
		req.Header.Set("Last-Event-ID", *last)
	}
	stream := &http.Client{Transport: c.HTTP.Transport} // no overall timeout on a stream
	resp, err := stream.Do(req)
	if err != nil {
		return Summary{}, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return Summary{}, false, decodeError(resp.StatusCode, data)
	}
	idle := &idleReader{r: resp.Body, timer: time.AfterFunc(IdleTimeout, cancel)}
	defer idle.timer.Stop()
	return readEvents(NewSSEReader(idle), last, retry, onProgress)
}

// IdleTimeout ends a stream that sent nothing, not even a keep-alive comment (every 15 s),
// for this long: a half-open connection would otherwise hang forever.
var IdleTimeout = 45 * time.Second

// idleReader restarts its timer on every read that returns data.
type idleReader struct {
	r     io.Reader
	timer *time.Timer
}

func (i *idleReader) Read(p []byte) (int, error) {
	n, err := i.r.Read(p)
	if n > 0 {
		i.timer.Reset(IdleTimeout)
	}
	return n, err
}

func readEvents(rd *SSEReader, last *string, retry *time.Duration,
	onProgress func(Progress)) (Summary, bool, error) {
	for {
		ev, err := rd.Next()
		if err != nil {
			return Summary{}, false, fmt.Errorf("stream ended: %w", err)
		}
		if ev.Retry > 0 {
			*retry = time.Duration(ev.Retry) * time.Millisecond
		}
		switch ev.Event {
		case "progress":
			var p Progress
			if err := json.Unmarshal([]byte(ev.Data), &p); err != nil {
				// Resume before this event rather than skip it silently.
				return Summary{}, false, fmt.Errorf("event %s is not a progress record: %w",
					ev.ID, err)
			}
			onProgress(p)
		case "complete":
			var s Summary
			err := json.Unmarshal([]byte(ev.Data), &s)
			return s, true, err
		case "error":
			return Summary{}, false, fmt.Errorf("server reported: %s", ev.Data)
		}
		if ev.ID != "" {
			*last = ev.ID
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

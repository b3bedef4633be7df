package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
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
		sum, done, err := c.watchOnce(ctx, jobID, &last, &retry, onProgress)
		if done {
			return sum, err
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
	return readEvents(NewSSEReader(resp.Body), last, retry, onProgress)
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
		if ev.ID != "" {
			*last = ev.ID
		}
		switch ev.Event {
		case "progress":
			var p Progress
			if json.Unmarshal([]byte(ev.Data), &p) == nil {
				onProgress(p)
			}
		case "complete":
			var s Summary
			err := json.Unmarshal([]byte(ev.Data), &s)
			return s, true, err
		case "error":
			return Summary{}, false, fmt.Errorf("server reported: %s", ev.Data)
		}
	}
}

// LastSeq parses an event id as the job's seq.
func LastSeq(id string) int64 {
	n, _ := strconv.ParseInt(id, 10, 64)
	return n
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// Submitted is the answer to POST /jobs.
type Submitted struct {
	JobID         string       `json:"job_id"`
	State         domain.State `json:"state"`
	Message       string       `json:"message"`
	QueuePosition int          `json:"queue_position"`
	StreamURL     string       `json:"stream_url,omitempty"`
	Job           domain.Job   `json:"job"`
	// Created is false when the API answered 200 for an identical resubmit.
	Created bool `json:"-"`
}

// Submit posts a job spec exactly as given, so the API, not the caller, judges it; queue asks
// for the job to be queued at once instead of staying VALIDATED.
func (c *Client) Submit(ctx context.Context, spec []byte, queue bool) (Submitted, error) {
	path := "/jobs"
	if queue {
		path += "?queue=true"
	}
	var ans Submitted
	status, err := c.Do(ctx, http.MethodPost, path, spec, &ans)
	ans.Created = status == http.StatusCreated
	return ans, err
}

// Job fetches one job.
func (c *Client) Job(ctx context.Context, id string) (domain.Job, error) {
	var j domain.Job
	_, err := c.Do(ctx, http.MethodGet, jobPath(id), nil, &j)
	return j, err
}

// JobQuery filters GET /jobs; zero values leave a filter out.
type JobQuery struct {
	State string
	Limit int
	// Next is the opaque cursor from the previous page.
	Next string
}

// JobPage is one page of GET /jobs; an empty Next means it is the last page.
type JobPage struct {
	Jobs  []domain.Job `json:"jobs"`
	Count int          `json:"count"`
	Next  string       `json:"next,omitempty"`
}

// Jobs lists one page of jobs.
func (c *Client) Jobs(ctx context.Context, q JobQuery) (JobPage, error) {
	v := url.Values{}
	setIf(v, "state", q.State)
	setIf(v, "next", q.Next)
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var page JobPage
	_, err := c.Do(ctx, http.MethodGet, withQuery("/jobs", v), nil, &page)
	return page, err
}

// Cancelled is the answer to DELETE /jobs/{id}.
type Cancelled struct {
	JobID           string       `json:"job_id"`
	State           domain.State `json:"state"`
	CancelRequested bool         `json:"cancel_requested"`
	Message         string       `json:"message"`
}

// Cancel cancels a job: at once when no worker holds it, otherwise by asking the worker.
func (c *Client) Cancel(ctx context.Context, id string) (Cancelled, error) {
	var ans Cancelled
	_, err := c.Do(ctx, http.MethodDelete, jobPath(id), nil, &ans)
	return ans, err
}

// QueueJob queues a job that was submitted without queueing.
func (c *Client) QueueJob(ctx context.Context, id string) (domain.Job, error) {
	var j domain.Job
	_, err := c.Do(ctx, http.MethodPost, jobPath(id)+"/queue", nil, &j)
	return j, err
}

// EventQuery filters GET /jobs/{id}/events; zero values leave a filter out.
type EventQuery struct {
	After int64
	Since time.Time
	Limit int
}

// EventPage is one page of a job's events; NextAfter is the cursor for the next page.
type EventPage struct {
	JobID     string         `json:"job_id"`
	Events    []domain.Event `json:"events"`
	Count     int            `json:"count"`
	NextAfter int64          `json:"next_after"`
}

// Events lists one page of a job's events.
func (c *Client) Events(ctx context.Context, id string, q EventQuery) (EventPage, error) {
	v := url.Values{}
	if q.After > 0 {
		v.Set("after", strconv.FormatInt(q.After, 10))
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339Nano))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var page EventPage
	_, err := c.Do(ctx, http.MethodGet, withQuery(jobPath(id)+"/events", v), nil, &page)
	return page, err
}

func jobPath(id string) string { return "/jobs/" + PathEscape(id) }

func setIf(v url.Values, key, value string) {
	if value != "" {
		v.Set(key, value)
	}
}

func withQuery(path string, v url.Values) string {
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

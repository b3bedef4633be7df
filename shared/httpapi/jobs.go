package httpapi

import (
	"net/http"
	"strings"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

type submitAnswer struct {
	JobID         string       `json:"job_id"`
	State         domain.State `json:"state"`
	Message       string       `json:"message"`
	QueuePosition int          `json:"queue_position"`
	StreamURL     string       `json:"stream_url,omitempty"`
	Job           domain.Job   `json:"job"`
}

func (a *API) submitJob(w http.ResponseWriter, r *http.Request) error {
	p := queryParams(r)
	queue := p.bool("queue")
	if err := p.err(); err != nil {
		return err
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	spec, err := domain.ParseJobSpec(body, callerOf(r.Context()))
	if err != nil {
		return err
	}
	res, err := a.svc.Submit(r.Context(), spec, queue)
	if err != nil {
		return err
	}
	status, msg := http.StatusCreated, "job created"
	if !res.Created {
		status, msg = http.StatusOK, "job already exists with the same spec"
	} else if queue {
		msg = "job created and queued"
	}
	a.decorate(r, &res.Job)
	return writeJSON(w, status, submitAnswer{JobID: res.Job.JobID, State: res.Job.State,
		Message: msg, QueuePosition: res.QueuePosition, StreamURL: res.Job.StreamURL, Job: res.Job})
}

// decorate adds what is computed per request: the signed stream URL.
func (a *API) decorate(r *http.Request, j *domain.Job) {
	path := "/jobs/" + j.JobID + "/events/stream"
	if a.opts.StreamTokens != nil {
		path += "?access_token=" + a.opts.StreamTokens.Sign(j.JobID)
	}
	j.StreamURL = a.baseURL(r) + path
}

func (a *API) baseURL(r *http.Request) string {
	if a.opts.PublicBaseURL != "" {
		return strings.TrimRight(a.opts.PublicBaseURL, "/")
	}
	if a.opts.BaseURL != nil {
		if u := a.opts.BaseURL(r); u != "" {
			return u
		}
	}
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (a *API) getJob(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "job_id")
	if err != nil {
		return err
	}
	job, err := a.svc.Get(r.Context(), id)
	if err != nil {
		return err
	}
	a.decorate(r, &job)
	return writeJSON(w, http.StatusOK, job)
}

type jobList struct {
	Jobs  []domain.Job `json:"jobs"`
	Count int          `json:"count"`
	Next  string       `json:"next,omitempty"`
}

func (a *API) listJobs(w http.ResponseWriter, r *http.Request) error {
	p := queryParams(r)
	q := domain.JobQuery{Limit: p.intIn("limit", 1, 1000, 100), Cursor: p.q.Get("next")}
	if s := p.q.Get("state"); s != "" {
		st, ok := domain.ParseState(s)
		if !ok {
			p.bad("state", "must be one of CREATED VALIDATED QUEUED ASSIGNED RUNNING "+
				"PROGRESSING COMPLETED FAILED CANCELLED RETRYING")
		}
		q.State = st
	}
	if err := p.err(); err != nil {
		return err
	}
	page, err := a.svc.List(r.Context(), q)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, jobList{Jobs: page.Jobs, Count: len(page.Jobs),
		Next: page.Next})
}

type cancelAnswer struct {
	JobID           string       `json:"job_id"`
	State           domain.State `json:"state"`
	CancelRequested bool         `json:"cancel_requested"`
	Message         string       `json:"message"`
}

func (a *API) cancelJob(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "job_id")
	if err != nil {
		return err
	}
	job, immediate, err := a.svc.Cancel(r.Context(), id)
	if err != nil {
		return err
	}
	if immediate {
		return writeJSON(w, http.StatusOK, cancelAnswer{JobID: id, State: job.State,
			Message: "job cancelled"})
	}
	return writeJSON(w, http.StatusAccepted, cancelAnswer{JobID: id, State: job.State,
		CancelRequested: true, Message: "a worker is running the job; it has been told to stop"})
}

func (a *API) queueJob(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "job_id")
	if err != nil {
		return err
	}
	job, err := a.svc.Queue(r.Context(), id)
	if err != nil {
		return err
	}
	a.decorate(r, &job)
	return writeJSON(w, http.StatusOK, job)
}

type eventList struct {
	JobID     string         `json:"job_id"`
	Events    []domain.Event `json:"events"`
	Count     int            `json:"count"`
	NextAfter int64          `json:"next_after"`
}

func (a *API) listEvents(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "job_id")
	if err != nil {
		return err
	}
	p := queryParams(r)
	q := domain.EventQuery{JobID: id, Limit: p.intIn("limit", 1, 1000, 100),
		After: int64(p.intIn("after", 0, 1<<53, 0)), Since: p.time("since")}
	if err := p.err(); err != nil {
		return err
	}
	evs, err := a.svc.Events(r.Context(), q)
	if err != nil {
		return err
	}
	next := q.After
	if len(evs) > 0 {
		next = evs[len(evs)-1].Seq
	}
	return writeJSON(w, http.StatusOK, eventList{JobID: id, Events: evs, Count: len(evs),
		NextAfter: next})
}

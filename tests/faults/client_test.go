package faults

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// client speaks to the API on 127.0.0.1 as a user would.
type client struct {
	t    testing.TB
	base string
	hc   *http.Client
}

func newClient(t testing.TB, base string) *client {
	// Generous: during a DynamoDB outage the SDK retries before the API answers 503.
	return &client{t: t, base: base, hc: &http.Client{Timeout: 60 * time.Second}}
}

// reply is a whole answer, or the transport error that prevented one.
type reply struct {
	status int
	header http.Header
	body   []byte
	err    error
	took   time.Duration
}

// do sends one request; body "" sends none. It never fails the test, so that it can be
// called from many goroutines and during outages.
func (c *client) do(method, path, body string) reply {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.base+path, rd)
	if err != nil {
		return reply{err: err}
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	began := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		return reply{err: err, took: time.Since(began)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: b, err: err,
		took: time.Since(began)}
}

// must sends a request and fails the test unless the answer has the wanted status.
func (c *client) must(method, path, body string, want int) reply {
	c.t.Helper()
	r := c.do(method, path, body)
	if r.err != nil || r.status != want {
		c.t.Fatalf("%s %s: got %d %s (%v), want %d", method, path, r.status, r.body, r.err, want)
	}
	return r
}

// job reads GET /jobs/{id}.
func (c *client) job(id string) domain.Job {
	c.t.Helper()
	var j domain.Job
	decode(c.t, c.must(http.MethodGet, "/jobs/"+id, "", http.StatusOK).body, &j)
	return j
}

// waitJob polls GET /jobs/{id} until done holds.
func (c *client) waitJob(id string, timeout time.Duration, done func(domain.Job) bool) domain.Job {
	c.t.Helper()
	var j domain.Job
	waitFor(c.t, "job "+id+" over HTTP", timeout, func() bool {
		j = c.job(id)
		return done(j)
	})
	return j
}

// envelopeOf reads the error envelope of a reply.
func envelopeOf(r reply) (code int, kind domain.Kind, msg string, ok bool) {
	var e struct {
		Error *struct {
			Code    int         `json:"code"`
			Type    domain.Kind `json:"type"`
			Message string      `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(r.body, &e) != nil || e.Error == nil {
		return 0, "", "", false
	}
	return e.Error.Code, e.Error.Type, e.Error.Message, true
}

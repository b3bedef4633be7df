package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hyper2kvm/controlplane/shared/domain"
	"github.com/hyper2kvm/controlplane/shared/service"
)

// leaseToken reads the X-Lease-Token header every worker report must carry.
func leaseToken(r *http.Request) (string, error) {
	t := r.Header.Get("X-Lease-Token")
	if t == "" || len(t) > 256 {
		return "", domain.Invalid([]domain.FieldError{{Field: "X-Lease-Token",
			Message: "header is required: the token from the dequeue answer"}})
	}
	return t, nil
}

type reportAnswer struct {
	JobID           string `json:"job_id"`
	Seq             int64  `json:"seq"`
	CancelRequested bool   `json:"cancel_requested"`
}

// leased reads what every lease holder's report carries: the job id, the lease token and
// the body.
func leased(r *http.Request) (id, token string, body []byte, err error) {
	if id, err = pathID(r, "job_id"); err != nil {
		return "", "", nil, err
	}
	if token, err = leaseToken(r); err != nil {
		return "", "", nil, err
	}
	body, err = readBody(r)
	return id, token, body, err
}

func (a *API) reportEvent(w http.ResponseWriter, r *http.Request) error {
	id, token, body, err := leased(r)
	if err != nil {
		return err
	}
	rep, err := domain.ParseEventReport(body)
	if err != nil {
		return err
	}
	ev, cancel, err := a.svc.ReportEvent(r.Context(), id, token, rep)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, reportAnswer{JobID: id, Seq: ev.Seq,
		CancelRequested: cancel})
}

func (a *API) reportResult(w http.ResponseWriter, r *http.Request) error {
	id, token, body, err := leased(r)
	if err != nil {
		return err
	}
	res, err := domain.ParseResult(body)
	if err != nil {
		return err
	}
	job, err := a.svc.Finish(r.Context(), id, token, res)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"job_id": id, "state": job.State,
		"result": job.Result})
}

func (a *API) registerWorker(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	reg, err := domain.ParseRegistration(body)
	if err != nil {
		return err
	}
	wk, err := a.svc.Register(r.Context(), reg)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, wk)
}

type heartbeatBody struct {
	Leases []service.LeaseRef `json:"leases"`
}

func (a *API) heartbeat(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "worker_id")
	if err != nil {
		return err
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var hb heartbeatBody
	if len(body) > 0 {
		if err := domain.DecodeStrict(body, &hb); err != nil {
			return err
		}
	}
	if len(hb.Leases) > 1000 {
		return domain.Invalid([]domain.FieldError{{Field: "leases", Message: "at most 1000"}})
	}
	for i, l := range hb.Leases {
		if !domain.ValidID(l.JobID) || l.Token == "" || len(l.Token) > 256 {
			return domain.Invalid([]domain.FieldError{{Field: fmt.Sprintf("leases[%d]", i),
				Message: "needs a valid job_id and the token from the dequeue answer"}})
		}
	}
	ans, err := a.svc.Heartbeat(r.Context(), id, hb.Leases)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ans)
}

func (a *API) listWorkers(w http.ResponseWriter, r *http.Request) error {
	ws, err := a.svc.Workers(r.Context())
	if err != nil {
		return err
	}
	if ws == nil {
		ws = []domain.Worker{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"workers": ws, "count": len(ws)})
}

func (a *API) unregisterWorker(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "worker_id")
	if err != nil {
		return err
	}
	n, err := a.svc.Unregister(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"worker_id": id, "released_jobs": n})
}

// dequeueBody is a registration plus how long to wait.
type dequeueBody struct {
	domain.Registration
	WaitSeconds int `json:"wait_seconds"`
}

func (a *API) dequeue(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var req dequeueBody
	if err := domain.DecodeStrict(body, &req); err != nil {
		return err
	}
	fields := req.Registration.Validate()
	if req.WaitSeconds < 0 || req.WaitSeconds > 20 {
		fields = append(fields, domain.FieldError{Field: "wait_seconds", Message: "must be 0-20"})
	}
	if len(fields) > 0 {
		return domain.Invalid(fields)
	}
	got, err := a.svc.Dequeue(r.Context(), req.Registration,
		time.Duration(req.WaitSeconds)*time.Second)
	if err != nil {
		return err
	}
	if got == nil {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return writeJSON(w, http.StatusOK, got)
}

func (a *API) queueStatus(w http.ResponseWriter, r *http.Request) error {
	st, err := a.svc.QueueStatus(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, st)
}

func (a *API) health(w http.ResponseWriter, r *http.Request) error {
	h := a.svc.Health(r.Context())
	if h.Status == "healthy" {
		return writeJSON(w, http.StatusOK, h)
	}
	// Unhealthy answers carry the usual envelope next to the health fields, so both
	// monitoring probes and API clients read them their own way.
	w.Header().Set("Retry-After", "5")
	code := http.StatusServiceUnavailable
	return writeJSON(w, code, struct {
		service.Health
		Error envelopeBody `json:"error"`
	}{h, envelopeBody{Code: code, Type: domain.KindUnavailable, Path: r.URL.Path,
		Message:   "a dependency is unreachable: " + strings.Join(h.Problems, ", "),
		Timestamp: now()}})
}

func (a *API) metrics(w http.ResponseWriter, r *http.Request) error {
	if a.opts.Metrics == nil {
		return domain.Errorf(domain.KindNotFound, "metrics are not enabled on this deployment")
	}
	a.opts.Metrics.ServeHTTP(w, r)
	return nil
}

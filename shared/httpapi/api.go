// Package httpapi serves the job protocol over HTTP: one http.Handler per route, the error
// envelope, authentication roles, CORS and the SSE stream. The same handlers run in Lambda
// (through the REST proxy adapter), in the local server and in tests.
package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/hyper2kvm/controlplane/shared/domain"
	"github.com/hyper2kvm/controlplane/shared/service"
)

// MaxBodyBytes is the largest request body accepted. Job specs are a few KiB; the limit keeps
// a job item (spec, result, history) well under DynamoDB's 400 KB item size, so an accepted
// request can always be stored.
const MaxBodyBytes = 64 << 10

// Options configure an API.
type Options struct {
	Auth         Authenticator
	StreamTokens *StreamSigner
	// PublicBaseURL prefixes stream_url; empty means BaseURL, then the request's Host.
	PublicBaseURL string
	// BaseURL derives the public base URL from a request (behind API Gateway, its domain
	// and stage); an empty answer falls back to the request's Host.
	BaseURL func(*http.Request) string
	// AllowedOrigins is the CORS allow-list; empty allows no cross-origin caller.
	AllowedOrigins []string
	Metrics        http.Handler
	Stream         StreamOptions
}

// API holds what the handlers share.
type API struct {
	svc  *service.Service
	log  *slog.Logger
	opts Options
}

// New builds an API. Without an Authenticator every route is open, which only the tests and
// a deliberately unauthenticated local run use.
func New(svc *service.Service, log *slog.Logger, opts Options) *API {
	if opts.Auth == nil {
		opts.Auth = Open{}
	}
	opts.Stream = opts.Stream.withDefaults()
	return &API{svc: svc, log: log, opts: opts}
}

// handlerFunc is a route handler that returns its error for the one envelope writer.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (a *API) handlers() map[string]handlerFunc {
	return map[string]handlerFunc{
		"submit-job": a.submitJob, "list-jobs": a.listJobs, "get-job": a.getJob,
		"cancel-job": a.cancelJob, "queue-job": a.queueJob, "list-events": a.listEvents,
		"stream-events": a.streamEvents, "report-event": a.reportEvent,
		"report-result": a.reportResult, "register-worker": a.registerWorker,
		"worker-heartbeat": a.heartbeat, "list-workers": a.listWorkers,
		"unregister-worker": a.unregisterWorker, "queue-status": a.queueStatus,
		"dequeue": a.dequeue, "health": a.health, "metrics": a.metrics,
		"openapi": a.openAPI, "docs": a.docs,
	}
}

// Handler serves every route, as the local server does.
func (a *API) Handler() http.Handler { return a.mux(Routes) }

// RouteHandler serves one route, as its Lambda function does; anything else gets the envelope.
func (a *API) RouteHandler(name string) http.Handler {
	for _, r := range Routes {
		if r.Name == name {
			return a.mux([]Route{r})
		}
	}
	panic("httpapi: unknown route " + name)
}

func (a *API) mux(routes []Route) http.Handler {
	mux := http.NewServeMux()
	hs := a.handlers()
	for _, rt := range routes {
		mux.Handle(rt.Method+" "+rt.Path, a.wrap(rt, hs[rt.Name]))
	}
	mux.Handle("/", a.wrapErr(func(w http.ResponseWriter, r *http.Request) error {
		if methods := allowed(routes, r.URL.Path); len(methods) > 0 {
			w.Header().Set("Allow", strings.Join(methods, ", "))
			return domain.Errorf(domain.KindMethodNotAllowed, "%s is not allowed on %s",
				r.Method, r.URL.Path)
		}
		return domain.Errorf(domain.KindNotFound, "no route for %s %s", r.Method, r.URL.Path)
	}))
	return a.cors(mux)
}

// allowed lists the methods the routes accept on path, for a 405's Allow header.
func allowed(routes []Route, path string) []string {
	var out []string
	for _, rt := range routes {
		if matchPath(rt.Path, path) {
			out = append(out, rt.Method)
		}
	}
	return out
}

// matchPath matches a concrete path against a pattern with {name} segments.
func matchPath(pattern, path string) bool {
	ps, xs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(xs) {
		return false
	}
	for i := range ps {
		if ps[i] != xs[i] && !(strings.HasPrefix(ps[i], "{") && xs[i] != "") {
			return false
		}
	}
	return true
}

// queryNames are the query parameters each route accepts; any other is refused, so a typo
// such as ?stat=FAILED is an error instead of a listing of everything.
var queryNames = map[string][]string{
	"submit-job":    {"queue"},
	"list-jobs":     {"state", "limit", "next"},
	"list-events":   {"after", "since", "limit"},
	"stream-events": {"access_token", "last_event_id"},
}

// wrap adds authentication, the body limit and the error envelope to a route.
func (a *API) wrap(rt Route, h handlerFunc) http.Handler {
	return a.wrapErr(func(w http.ResponseWriter, r *http.Request) error {
		caller, err := a.opts.Auth.Authenticate(r, rt)
		if err != nil {
			return err
		}
		if err := checkQueryNames(r, queryNames[rt.Name]); err != nil {
			return err
		}
		r = r.WithContext(withCaller(r.Context(), caller))
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		return h(w, r)
	})
}

func (a *API) wrapErr(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			a.writeError(w, r, err)
		}
	})
}

// writeJSON writes a JSON body with a status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// readBody reads a bounded request body, turning an oversized one into 413.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	data, err := io.ReadAll(r.Body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, domain.Errorf(domain.KindTooLarge,
			"the request body is larger than %d bytes", MaxBodyBytes)
	}
	if err != nil {
		return nil, domain.Errorf(domain.KindValidation, "the request body could not be read")
	}
	return data, nil
}

func now() time.Time { return time.Now().UTC() }

package httpapi

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// params reads a route's query parameters and collects what is wrong with their values.
type params struct {
	q      url.Values
	fields []domain.FieldError
}

func queryParams(r *http.Request) *params { return &params{q: r.URL.Query()} }

// checkQueryNames refuses names the route does not know, and repeated names: a mistyped
// "?stat=FAILED" must not silently list everything.
func checkQueryNames(r *http.Request, known []string) error {
	p := queryParams(r)
	for name, vals := range p.q {
		switch {
		case !slices.Contains(known, name):
			p.bad(name, "is not a known query parameter")
		case len(vals) > 1:
			p.bad(name, "is given more than once")
		}
	}
	return p.err()
}

func (p *params) bad(field, msg string) {
	p.fields = append(p.fields, domain.FieldError{Field: field, Message: msg})
}

// intIn reads an integer parameter within [lo, hi], or def when absent.
func (p *params) intIn(name string, lo, hi, def int) int {
	v := p.q.Get(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		p.bad(name, "must be an integer from "+strconv.Itoa(lo)+" to "+strconv.Itoa(hi))
		return def
	}
	return n
}

// time reads an RFC 3339 time with Z or an offset.
func (p *params) time(name string) time.Time {
	v := p.q.Get(name)
	if v == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		p.bad(name, "must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
	}
	return t
}

func (p *params) bool(name string) bool {
	switch p.q.Get(name) {
	case "", "false", "0":
		return false
	case "true", "1":
		return true
	}
	p.bad(name, "must be true or false")
	return false
}

func (p *params) err() error {
	if len(p.fields) == 0 {
		return nil
	}
	return domain.Invalid(p.fields)
}

// pathID reads and checks the {id} path segment, so that no malformed id reaches a key.
func pathID(r *http.Request, what string) (string, error) {
	id := r.PathValue("id")
	if !domain.ValidID(id) {
		return "", domain.Invalid([]domain.FieldError{{Field: what,
			Message: "must be 1-128 characters of A-Z a-z 0-9 . _ - starting with a letter or digit"}})
	}
	return id, nil
}

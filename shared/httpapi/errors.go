package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// envelope is the one error body every route uses.
type envelope struct {
	Error envelopeBody `json:"error"`
}

type envelopeBody struct {
	Code      int                 `json:"code"`
	Type      domain.Kind         `json:"type"`
	Message   string              `json:"message"`
	Path      string              `json:"path"`
	Timestamp time.Time           `json:"timestamp"`
	Fields    []domain.FieldError `json:"fields,omitempty"`
}

// StatusOf is the one mapping from error kinds to HTTP statuses.
func StatusOf(k domain.Kind) int {
	switch k {
	case domain.KindValidation:
		return http.StatusBadRequest
	case domain.KindUnauthorized:
		return http.StatusUnauthorized
	case domain.KindForbidden:
		return http.StatusForbidden
	case domain.KindNotFound:
		return http.StatusNotFound
	case domain.KindMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case domain.KindInvalidTransition, domain.KindConflict, domain.KindLeaseLost:
		return http.StatusConflict
	case domain.KindTooLarge:
		return http.StatusRequestEntityTooLarge
	case domain.KindUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// writeError writes the envelope. Only an *domain.Error's own message reaches the client;
// anything else is logged with its cause and reported as an internal error.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var de *domain.Error
	if !errors.As(err, &de) {
		de = &domain.Error{Kind: domain.KindInternal, Message: "internal error", Err: err}
		if errors.Is(err, context.Canceled) {
			return // the client went away; nobody is left to answer
		}
	}
	status := StatusOf(de.Kind)
	if status >= 500 {
		a.log.ErrorContext(r.Context(), "request failed", "path", r.URL.Path,
			"status", status, "error", err)
	}
	switch de.Kind {
	case domain.KindUnavailable:
		w.Header().Set("Retry-After", "5")
	case domain.KindUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="hyper2kvm"`)
	}
	_ = writeJSON(w, status, envelope{Error: envelopeBody{Code: status, Type: de.Kind,
		Message: de.Message, Path: r.URL.Path, Timestamp: now(), Fields: de.Fields}})
}

package domain

import (
	"errors"
	"fmt"
)

// Kind is the stable, machine-readable name of a problem as the API reports it in the error
// envelope's "type". Clients branch on it, so values never change once published.
type Kind string

// The kinds the API reports. Each maps to exactly one HTTP status in the HTTP adapter.
const (
	KindValidation        Kind = "validation_failed"
	KindNotFound          Kind = "not_found"
	KindInvalidTransition Kind = "invalid_transition"
	KindConflict          Kind = "conflict"
	KindLeaseLost         Kind = "lease_lost"
	KindUnauthorized      Kind = "unauthorized"
	KindForbidden         Kind = "forbidden"
	KindTooLarge          Kind = "payload_too_large"
	KindMethodNotAllowed  Kind = "method_not_allowed"
	KindUnavailable       Kind = "service_unavailable"
	KindInternal          Kind = "internal_error"
)

// FieldError names one field of a request that is wrong and says why, so a user fixing a
// job spec sees every problem at once instead of one per round trip.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is the one error type the product reports across package boundaries. Message is safe
// to show to clients; Err (the cause) is only logged, never sent.
type Error struct {
	Kind    Kind
	Message string
	Fields  []FieldError
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Kind, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Kind, e.Message)
}

// Unwrap exposes the cause to errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an Error of the given kind with a client-safe message.
func Errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Unavailable wraps a dependency failure (DynamoDB or SQS unreachable) so the API answers 503
// without leaking the dependency's error text.
func Unavailable(what string, err error) *Error {
	return &Error{Kind: KindUnavailable, Message: what + " is unavailable, retry later", Err: err}
}

// Invalid builds a validation error listing every bad field.
func Invalid(fields []FieldError) *Error {
	msg := "the request is invalid"
	if len(fields) > 0 {
		msg = fmt.Sprintf("%s: %s", fields[0].Field, fields[0].Message)
		if len(fields) > 1 {
			msg += fmt.Sprintf(" (and %d more problems; see fields)", len(fields)-1)
		}
	}
	return &Error{Kind: KindValidation, Message: msg, Fields: fields}
}

// ErrorKind reports the kind of err, treating anything that is not an *Error as internal.
func ErrorKind(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// Sentinel errors returned by stores so that callers can branch without parsing messages.
var (
	// ErrNotFound means the item does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists means a create found an item with the same key.
	ErrAlreadyExists = errors.New("already exists")
	// ErrStale means a conditional write lost: someone else changed the item first.
	ErrStale = errors.New("stale version")
)

package httpapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/workerfleet/workerfleet/shared/store"
)

// Error is an API error answered as Taskcluster does: an HTTP status and a JSON body
// {"code": ..., "message": ..., "requestInfo": {...}}.
type Error struct {
	Status  int
	Code    string
	Message string
	// Allow, for a 405, lists the methods the path allows (the Allow header).
	Allow []string
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// Errorf builds an Error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// InputValidationError is a 400 for a request body or parameter that breaks the schema.
func InputValidationError(format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, "InputValidationError", format, args...)
}

// InputError is a 400 for a request that is well-formed but cannot be carried out.
func InputError(format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, "InputError", format, args...)
}

// NotFound is a 404 ResourceNotFound.
func NotFound(format string, args ...any) *Error {
	return Errorf(http.StatusNotFound, "ResourceNotFound", format, args...)
}

// Conflict is a 409 RequestConflict.
func Conflict(format string, args ...any) *Error {
	return Errorf(http.StatusConflict, "RequestConflict", format, args...)
}

// AuthenticationFailed is a 401.
func AuthenticationFailed(format string, args ...any) *Error {
	return Errorf(http.StatusUnauthorized, "AuthenticationFailed", format, args...)
}

// InsufficientScopes is a 403.
func InsufficientScopes(format string, args ...any) *Error {
	return Errorf(http.StatusForbidden, "InsufficientScopes", format, args...)
}

// TooLarge is a 413 InputTooLarge.
func TooLarge(format string, args ...any) *Error {
	return Errorf(http.StatusRequestEntityTooLarge, "InputTooLarge", format, args...)
}

// internalError is what a client sees of an unexpected failure: nothing internal.
func internalError(requestID string) *Error {
	return Errorf(http.StatusInternalServerError, "InternalServerError",
		"an internal error occurred; it has been logged with request id %q", requestID)
}

// StoreError is the answer to a store error about what (a worker pool, a worker
// type ...): 404 for what is not there, 409 for a concurrent change, 413 for what
// cannot be stored, 400 for a continuation token that is not this listing's.
// Other errors pass through, wrapped (500). The one mapping both APIs use.
func StoreError(err error, what string) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return NotFound("%s not found", what)
	case errors.Is(err, store.ErrBadToken):
		return InputValidationError("continuationToken is invalid: it was altered, or belongs to another listing")
	case errors.Is(err, store.ErrConflict):
		return Errorf(http.StatusConflict, "RequestConflict", "%s was changed concurrently; retry", what)
	case errors.Is(err, store.ErrTooLarge):
		return TooLarge("%s cannot be stored: %v", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

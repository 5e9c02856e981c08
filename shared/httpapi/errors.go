package httpapi

import (
	"fmt"
	"net/http"
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

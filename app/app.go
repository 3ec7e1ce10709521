// Package app holds Perkbridge's shared vocabulary: application errors with
// codes and user-safe messages, the tenant key, and request-context helpers.
// It performs no I/O and imports no other internal package, so every other
// package may depend on it.
package app

import (
	"context"
	"errors"
	"fmt"
)

// Application error codes. They are mapped to HTTP statuses in one table at
// the edge (web/errors.go) and never leak internal detail to merchants.
const (
	ECONFLICT       = "conflict"        // 409: the action conflicts with current state
	EINTERNAL       = "internal"        // 500: a bug or an unexpected failure
	EINVALID        = "invalid"         // 422: input failed validation
	EBADREQUEST     = "bad_request"     // 400: the request itself is malformed
	ENOTFOUND       = "not_found"       // 404: no such resource for this shop
	EUNAUTHORIZED   = "unauthorized"    // 401: missing or invalid credentials
	EFORBIDDEN      = "forbidden"       // 403: authenticated but not allowed
	ETOOLARGE       = "too_large"       // 413: body over the cap
	ERATELIMITED    = "rate_limited"    // 429: slow down
	EUNAVAILABLE    = "unavailable"     // 503: a dependency (the database) is down
	ENOTIMPLEMENTED = "not_implemented" // 501
)

// Error is an application error: a code for machines, a message that is safe
// to show a merchant, and an optional field for form and API validation.
type Error struct {
	Code    string
	Message string
	Field   string
	Err     error // the wrapped cause, never shown to users
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted, user-safe message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError returns an EINVALID error tied to one input field.
func FieldError(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with code and message that wraps cause.
func Wrap(code string, cause error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: cause}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-safe message of err, or a generic one.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "An internal error has occurred."
}

// ErrorField returns the field an EINVALID error refers to, if any.
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// ShopID is the tenant key: the primary key of the shops table. Every tenant
// query takes one, so no code path can read another shop's rows.
type ShopID int64

// Shop is the authenticated tenant of a request.
type Shop struct {
	ID     ShopID
	Domain string // validated myshopify domain, lower case
}

type ctxKey int

const (
	shopKey ctxKey = iota
	requestIDKey
	actorKey
)

// WithShop returns a context carrying the authenticated shop.
func WithShop(ctx context.Context, s Shop) context.Context {
	return context.WithValue(ctx, shopKey, s)
}

// ShopFrom returns the authenticated shop of ctx and whether there is one.
func ShopFrom(ctx context.Context) (Shop, bool) {
	s, ok := ctx.Value(shopKey).(Shop)
	return s, ok
}

// WithRequestID returns a context carrying a request id for logs.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// RequestIDFrom returns the request id of ctx, or "".
func RequestIDFrom(ctx context.Context) string {
	s, _ := ctx.Value(requestIDKey).(string)
	return s
}

// Actor names who caused a change: a staff user ("user:42"), the system
// ("system"), or a webhook ("webhook:<id>"). It is recorded on ledger entries.
type Actor string

// WithActor returns a context carrying the acting user.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey, a)
}

// ActorFrom returns the actor of ctx, or "system".
func ActorFrom(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorKey).(Actor); ok && a != "" {
		return a
	}
	return "system"
}

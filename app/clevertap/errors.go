package clevertap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"unicode/utf8"

	"github.com/perkbridge/perkbridge/app"
)

// ErrBatchTooLarge reports an upload of more than MaxRecords records. It is
// returned as an *app.Error (EINVALID) wrapping it; nothing is sent.
var ErrBatchTooLarge = errors.New("clevertap: too many records in one upload")

// bodyExcerpt is the most of a response body an APIError keeps.
const bodyExcerpt = 512

// APIError is an answer from CleverTap that is not a per-record result:
// any non-2xx status, or a 200 whose body carries no records' outcome.
// Bodies look like {"status":"fail","error":"Invalid Credentials","code":401}.
//
// Exactly one of Retryable, AuthFailure and Permanent is true:
//
//	401, 403           AuthFailure (wrong passcode, account id or region: pause)
//	408, 423, 429, 5xx Retryable (429: too many concurrent requests; no Retry-After)
//	anything else      Permanent (400 bad payload, 404, 405, 409, …)
type APIError struct {
	Status  int
	Message string // the body's "error"
	Code    int    // the body's "code"
	Body    string // the start of the body, at most 512 bytes
}

// Error implements error.
func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("%d: %s", e.Status, msg)
}

// status is the status classification reads: the body's code when a 200
// carries a failure.
func (e *APIError) status() int {
	if e.Status/100 == 2 && e.Code >= 400 {
		return e.Code
	}
	return e.Status
}

// AuthFailure reports credentials the merchant must fix: pause the
// integration and keep the events. CleverTap answers a wrong region with
// the same 401 as a wrong passcode. 403 pauses too (DESIGN.md §5).
func (e *APIError) AuthFailure() bool {
	s := e.status()
	return s == http.StatusUnauthorized || s == http.StatusForbidden
}

// Retryable reports an answer worth retrying after a backoff. CleverTap
// refused the whole request, so nothing was ingested.
func (e *APIError) Retryable() bool {
	s := e.status()
	return s == http.StatusRequestTimeout || s == http.StatusLocked || s == http.StatusTooManyRequests || s >= 500
}

// Permanent reports an answer that will not change on retry.
func (e *APIError) Permanent() bool {
	return !e.Retryable() && !e.AuthFailure()
}

// TransportError is a failure to get an answer: connection errors, client
// timeouts, a cancelled context, a body cut short.
type TransportError struct {
	Err error
	// Written reports that the whole request was sent, so CleverTap may
	// have ingested it.
	Written bool
}

// Error implements error.
func (e *TransportError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *TransportError) Unwrap() error { return e.Err }

// Timeout reports whether the request timed out.
func (e *TransportError) Timeout() bool {
	var ne interface{ Timeout() bool }
	return errors.Is(e.Err, context.DeadlineExceeded) || (errors.As(e.Err, &ne) && ne.Timeout())
}

// IsTimeout reports whether err is a request that timed out (the client's
// timeout or ctx's deadline). The batch may have been ingested: record it
// as possibly duplicated and retry it once.
func IsTimeout(err error) bool {
	var te *TransportError
	return errors.As(err, &te) && te.Timeout()
}

// PossiblyDelivered reports whether CleverTap may have ingested a request
// that failed: the request was written but no answer came (a timeout
// included), a gateway answered 504, or a 200 could not be read.
func PossiblyDelivered(err error) bool {
	var te *TransportError
	if errors.As(err, &te) {
		return te.Written
	}
	// A 502 comes from the same gateway as a 504: the upload may have
	// reached CleverTap before the gateway gave up on the answer.
	var ae *APIError
	return errors.As(err, &ae) && (ae.Status == http.StatusGatewayTimeout || ae.Status == http.StatusBadGateway || ae.Status/100 == 2)
}

// IsRetryable reports whether err is worth retrying: a retryable *APIError
// or a *TransportError. Check PossiblyDelivered first: retrying such a batch
// may duplicate events.
func IsRetryable(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Retryable()
	}
	var te *TransportError
	return errors.As(err, &te)
}

// IsAuthFailure reports whether err calls for pausing the integration.
func IsAuthFailure(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.AuthFailure()
}

// failBody is CleverTap's failure document.
type failBody struct {
	Status string  `json:"status"`
	Error  string  `json:"error"`
	Code   flexInt `json:"code"`
}

func newAPIError(status int, raw []byte) *APIError {
	e := &APIError{Status: status, Body: excerpt(raw)}
	var fb failBody
	if json.Unmarshal(raw, &fb) == nil {
		e.Message, e.Code = fb.Error, int(fb.Code)
	}
	return e
}

// flexInt reads a JSON number or a numeric string.
type flexInt int

// UnmarshalJSON implements json.Unmarshaler.
func (f *flexInt) UnmarshalJSON(b []byte) error {
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		var s string
		if json.Unmarshal(b, &s) != nil {
			return nil // not a code: leave 0
		}
		n = json.Number(s)
	}
	if i, err := n.Int64(); err == nil {
		*f = flexInt(i)
	}
	return nil
}

// excerpt returns at most bodyExcerpt bytes of b, cut on a rune boundary.
func excerpt(b []byte) string {
	if len(b) <= bodyExcerpt {
		return string(b)
	}
	cut := bodyExcerpt
	for cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return string(b[:cut])
}

func invalid(sentinel error, msg, detail string) error {
	return &app.Error{Code: app.EINVALID, Message: msg, Err: fmt.Errorf("%w: %s", sentinel, detail)}
}

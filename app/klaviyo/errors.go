package klaviyo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/perkbridge/perkbridge/app"
)

// Client-side refusals: the request is not sent. They are returned as
// *app.Error values (EINVALID) wrapping one of these, so both errors.Is and
// app.ErrorCode work. None is retryable: the same input fails again.
var (
	// ErrInvalidEvent reports an event or profile that cannot be sent: no
	// metric name, no profile identifier, or a malformed Value.
	ErrInvalidEvent = errors.New("klaviyo: invalid event")
	// ErrBatchTooLarge reports a bulk request of more than MaxBulkEvents.
	ErrBatchTooLarge = errors.New("klaviyo: too many events in one bulk request")
	// ErrDuplicateEvent reports a bulk request carrying the same unique_id
	// twice for one profile and metric, which Klaviyo answers by rejecting
	// the whole request (sinks.md §1.4).
	ErrDuplicateEvent = errors.New("klaviyo: repeated unique_id for one profile and metric in a bulk request")
)

// bodyExcerpt is the most of a response body an APIError keeps.
const bodyExcerpt = 512

// APIError is a non-2xx answer from Klaviyo. The fields come from the first
// entry of the JSON:API errors body (sinks.md §1.3); Errors holds them all.
//
// Exactly one of Retryable, AuthFailure and Permanent is true:
//
//	401                          AuthFailure (bad key: pause the integration)
//	403 with a JSON errors body  AuthFailure and MissingScope (pause)
//	403 otherwise (Cloudflare)   Retryable, and alert: HTML is set
//	408, 423, 429, 5xx           Retryable (429: wait RetryAfter when > 0)
//	anything else                Permanent (400, 404, 405, 409, 410, 413, 415, 422, …)
type APIError struct {
	Status  int
	Code    string // e.g. "invalid", "throttled", "not_authenticated"
	Title   string
	Detail  string
	Pointer string // source.pointer, e.g. "/data/attributes/time"
	// RetryAfter is the wait Klaviyo asked for: the Retry-After header, else
	// the "Expected available in N seconds" of the detail, else 0 (back off
	// on your own).
	RetryAfter time.Duration
	Body       string // the start of the body, at most 512 bytes
	HTML       bool   // the body is an HTML page (Cloudflare), not JSON
	Errors     []ErrorObject
}

// ErrorObject is one entry of Klaviyo's errors array.
type ErrorObject struct {
	ID        string
	Code      string
	Title     string
	Detail    string
	Pointer   string         // source.pointer
	Parameter string         // source.parameter
	Meta      map[string]any // e.g. duplicate_profile_id on a 409
}

// Error implements error.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d", e.Status)
	switch {
	case e.Code != "":
		fmt.Fprintf(&b, " %s: %s", e.Code, e.Detail)
		if e.Pointer != "" {
			fmt.Fprintf(&b, " (%s)", e.Pointer)
		}
		if n := len(e.Errors); n > 1 {
			fmt.Fprintf(&b, " and %d more", n-1)
		}
	case e.HTML:
		b.WriteString(" html page")
	default:
		fmt.Fprintf(&b, " %s", http.StatusText(e.Status))
	}
	return b.String()
}

// MissingScope reports a valid key that lacks the operation's scope: a 403
// with Klaviyo's JSON errors body, not Cloudflare's HTML page.
func (e *APIError) MissingScope() bool {
	return e.Status == http.StatusForbidden && !e.HTML && len(e.Errors) > 0
}

// AuthFailure reports an answer that the merchant must fix (a bad key, or
// a key without a needed scope): pause the integration and keep the events.
func (e *APIError) AuthFailure() bool {
	return e.Status == http.StatusUnauthorized || e.MissingScope()
}

// Retryable reports an answer worth retrying unchanged after a backoff.
// Retrying an event is safe because Klaviyo dedupes on unique_id.
func (e *APIError) Retryable() bool {
	switch {
	case e.Status == http.StatusForbidden:
		// Cloudflare's bot challenge (cf-mitigated) is transient, but it
		// should raise an alarm if it persists (sinks.md §1.3).
		return !e.MissingScope()
	case e.Status == http.StatusRequestTimeout, e.Status == http.StatusLocked, e.Status == http.StatusTooManyRequests:
		return true
	}
	return e.Status >= 500
}

// Permanent reports an answer that will not change on retry: fail the
// delivery (dead-letter it).
func (e *APIError) Permanent() bool {
	return !e.Retryable() && !e.AuthFailure()
}

// TransportError is a failure to get an answer: connection errors, client
// timeouts, a cancelled context. Retrying is safe for events (unique_id).
type TransportError struct {
	Err error
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

// IsRetryable reports whether err is worth retrying: a retryable *APIError
// or any *TransportError.
func IsRetryable(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Retryable()
	}
	var te *TransportError
	return errors.As(err, &te)
}

// IsAuthFailure reports whether err is an *APIError that calls for pausing
// the integration until the merchant fixes the key.
func IsAuthFailure(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.AuthFailure()
}

// RetryAfter returns the wait an *APIError in err asked for, or 0.
func RetryAfter(err error) time.Duration {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.RetryAfter
	}
	return 0
}

// errorBody is Klaviyo's error document. status, links and meta are seen
// in real answers but not in the spec; only meta is kept.
type errorBody struct {
	Errors []struct {
		ID     string `json:"id"`
		Code   string `json:"code"`
		Title  string `json:"title"`
		Detail string `json:"detail"`
		Source struct {
			Pointer   string `json:"pointer"`
			Parameter string `json:"parameter"`
		} `json:"source"`
		Meta map[string]any `json:"meta"`
	} `json:"errors"`
}

func newAPIError(resp *http.Response, raw []byte, now time.Time) *APIError {
	e := &APIError{Status: resp.StatusCode, Body: excerpt(raw)}
	ct := strings.ToLower(resp.Header.Get("Content-Type"))
	trimmed := strings.TrimLeft(string(raw[:min(len(raw), 64)]), " \t\r\n")
	e.HTML = strings.Contains(ct, "html") || resp.Header.Get("cf-mitigated") != "" || strings.HasPrefix(trimmed, "<")
	if !e.HTML {
		var doc errorBody
		if json.Unmarshal(raw, &doc) == nil {
			for _, x := range doc.Errors {
				e.Errors = append(e.Errors, ErrorObject{
					ID: x.ID, Code: x.Code, Title: x.Title, Detail: x.Detail,
					Pointer: x.Source.Pointer, Parameter: x.Source.Parameter, Meta: x.Meta,
				})
			}
		}
		if len(e.Errors) > 0 {
			first := e.Errors[0]
			e.Code, e.Title, e.Detail, e.Pointer = first.Code, first.Title, first.Detail, first.Pointer
		}
	}
	e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), e.Detail, now)
	return e
}

// availableIn reads the wait from a throttled detail, "Request was
// throttled. Expected available in 1 second." (sinks.md §1.6).
var availableIn = regexp.MustCompile(`available in (\d+(?:\.\d+)?) second`)

// retryAfter reads a Retry-After header (delta-seconds or HTTP-date), else
// the detail's "available in N second(s)", else 0.
func retryAfter(header, detail string, now time.Time) time.Duration {
	if h := strings.TrimSpace(header); h != "" {
		if secs, err := strconv.ParseFloat(h, 64); err == nil {
			return seconds(secs)
		}
		if t, err := http.ParseTime(h); err == nil {
			return seconds(t.Sub(now).Seconds()) // capped like the seconds form
		}
	}
	if m := availableIn.FindStringSubmatch(detail); m != nil {
		secs, _ := strconv.ParseFloat(m[1], 64)
		return seconds(secs)
	}
	return 0
}

func seconds(s float64) time.Duration {
	if s <= 0 || math.IsNaN(s) {
		return 0
	}
	// A day is far beyond any documented wait; cap absurd values.
	return time.Duration(min(s, 86400) * float64(time.Second))
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

// invalid returns a client-side refusal: EINVALID with a user-safe message,
// wrapping sentinel.
func invalid(sentinel error, msg, detail string) error {
	return &app.Error{Code: app.EINVALID, Message: msg, Err: fmt.Errorf("%w: %s", sentinel, detail)}
}

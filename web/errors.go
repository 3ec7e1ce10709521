package web

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/templates"
)

// statusByCode maps application error codes to HTTP statuses, in one place.
var statusByCode = map[string]int{
	app.EINVALID:        http.StatusUnprocessableEntity,
	app.EBADREQUEST:     http.StatusBadRequest,
	app.ENOTFOUND:       http.StatusNotFound,
	app.EUNAUTHORIZED:   http.StatusUnauthorized,
	app.EFORBIDDEN:      http.StatusForbidden,
	app.ECONFLICT:       http.StatusConflict,
	app.ETOOLARGE:       http.StatusRequestEntityTooLarge,
	app.ERATELIMITED:    http.StatusTooManyRequests,
	app.EUNAVAILABLE:    http.StatusServiceUnavailable,
	app.ENOTIMPLEMENTED: http.StatusNotImplemented,
	app.EINTERNAL:       http.StatusInternalServerError,
}

// codeForStatus is the reverse of statusByCode, for echo's own errors
// (404 for no route, 405, 413 from the body limit).
func codeForStatus(status int) string {
	for code, st := range statusByCode {
		if st == status {
			return code
		}
	}
	if status >= 500 {
		return app.EINTERNAL
	}
	return app.EBADREQUEST
}

// errorBody is the JSON error shape of DESIGN.md §6.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// handleError is echo's HTTPErrorHandler: the only place that turns an
// error into a response. It logs only server errors, at error level, with
// the request id; everything else is the client's business and goes out
// with its user-safe message only.
func (s *server) handleError(err error, c echo.Context) {
	req := c.Request()
	ctx := req.Context()
	status, detail := classify(err)
	if status >= 500 {
		s.log.ErrorContext(ctx, "request failed", "err", err, "status", status,
			"method", req.Method, "path", req.URL.Path, "request_id", app.RequestIDFrom(ctx))
	}
	if c.Response().Committed {
		return // the handler already answered; nothing can be changed now
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return // the client went away
	}
	var werr error
	switch {
	case req.Method == http.MethodHead:
		werr = c.NoContent(status)
	case wantsJSON(c):
		werr = c.JSON(status, errorBody{Error: detail})
	default:
		werr = render(c, status, templates.ErrorPage(templates.ErrorView{
			CSSURL:    s.cssURL,
			Status:    status,
			Title:     http.StatusText(status),
			Message:   detail.Message,
			RequestID: app.RequestIDFrom(ctx),
		}))
		if werr != nil && !c.Response().Committed {
			werr = c.String(status, detail.Message)
		}
	}
	if werr != nil {
		s.log.ErrorContext(ctx, "write error response", "err", werr, "request_id", app.RequestIDFrom(ctx))
	}
}

// classify returns the status and the client-facing detail of err.
func classify(err error) (int, errorDetail) {
	var he *echo.HTTPError
	if errors.As(err, &he) {
		status := he.Code
		msg, ok := he.Message.(string)
		if !ok || msg == "" || msg == http.StatusText(status) {
			msg = friendlyStatusText(status)
		}
		return status, errorDetail{Code: codeForStatus(status), Message: msg}
	}
	code := app.ErrorCode(err)
	if code == app.EINTERNAL && errors.Is(err, context.DeadlineExceeded) {
		return http.StatusServiceUnavailable, errorDetail{Code: app.EUNAVAILABLE, Message: "The request timed out. Try again shortly."}
	}
	status, ok := statusByCode[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	return status, errorDetail{Code: code, Message: app.ErrorMessage(err), Field: app.ErrorField(err)}
}

func friendlyStatusText(status int) string {
	switch status {
	case http.StatusNotFound:
		return "There is nothing here."
	case http.StatusMethodNotAllowed:
		return "This method is not allowed here."
	case http.StatusRequestEntityTooLarge:
		return "The request body is too large."
	case http.StatusGone:
		return "This page is not available to crawlers."
	}
	if status >= 500 {
		return "An internal error has occurred."
	}
	return http.StatusText(status) + "."
}

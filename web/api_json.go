package web

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/perkbridge/perkbridge/app"
)

// The JSON admin API's input and error plumbing: strict body decoding,
// query parsing with field errors, and the API's richer 422 answers.

// bindJSON decodes the request body into v, strictly: one JSON value, no
// unknown fields (a misspelt field would otherwise be silently ignored),
// nothing after it. A malformed body or an unknown field is EBADREQUEST
// (400); a well-formed value of the wrong type for a field is that field's
// EINVALID (422). The 1 MiB body cap of the API group answers 413.
func bindJSON(c echo.Context, v any) error {
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			return app.Errorf(app.EBADREQUEST, "The request body must hold a single JSON object.")
		}
		return nil
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		return err // the body limit
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return app.Errorf(app.EBADREQUEST, "The request body is empty: send a JSON object.")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return app.Errorf(app.EBADREQUEST, "The request body is truncated JSON.")
	case errors.As(err, &syn):
		return app.Errorf(app.EBADREQUEST, "The request body is not valid JSON (at byte %d).", syn.Offset)
	case errors.As(err, &typ) && typ.Field != "":
		return app.FieldError(typ.Field, "%s must be %s, not %s.", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)
	case errors.As(err, &typ):
		return app.Errorf(app.EBADREQUEST, "The request body must be a JSON object, not %s.", typ.Value)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		return &app.Error{Code: app.EBADREQUEST, Field: name, Message: "Unknown field " + strconv.Quote(name) + "."}
	}
	// A value's own UnmarshalJSON refused it (a decimal that is not a
	// number): the message names the value, never anything internal.
	return app.Wrap(app.EBADREQUEST, err, "The request body could not be read: %s.", strings.TrimPrefix(err.Error(), "json: "))
}

// jsonKind names a Go kind the way a JSON client thinks of it.
func jsonKind(kind string) string {
	switch {
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"), strings.HasPrefix(kind, "float"):
		return "a number"
	case kind == "string":
		return "a string"
	case kind == "bool":
		return "true or false"
	case kind == "slice", kind == "array":
		return "an array"
	}
	return "an object"
}

// queryTime parses an optional RFC 3339 query parameter.
func queryTime(c echo.Context, name string) (time.Time, error) {
	raw := c.QueryParam(name)
	if raw == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil {
		return time.Time{}, app.FieldError(name, "%s must be an RFC 3339 time such as 2026-05-01T00:00:00Z.", name)
	}
	return t, nil
}

// queryInt parses an optional integer query parameter within [lo, hi].
func queryInt(c echo.Context, name string, lo, hi int64) (int64, error) {
	raw := c.QueryParam(name)
	if raw == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, app.FieldError(name, "%s must be an integer from %d to %d.", name, lo, hi)
	}
	return n, nil
}

// apiFailure is an application error whose API answer carries extra
// members in the error object, beside code, message and field (DESIGN.md
// §6 lets the API add fields): for example the integration as saved when
// its credentials were refused.
type apiFailure struct {
	err   error
	extra map[string]any
}

func (e *apiFailure) Error() string { return e.err.Error() }
func (e *apiFailure) Unwrap() error { return e.err }

// fieldsError is an error that knows every field problem of the input, by
// JSON path (program.ValidationError).
type fieldsError interface {
	error
	Fields() map[string]string
}

// apiErrors renders the API's 4xx answers that carry more than the central
// error handler writes: every 422 gets "fields", a map of JSON path to
// message holding all the problems (the first one is still "field" and
// "message"), and an apiFailure's extra members. The status, code, message
// and field come from classify, the central handler's own mapping, so the
// two never disagree; anything else (401s, 404s, 5xx and their logging)
// goes on to the central handler untouched.
func (s *server) apiErrors(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		if err == nil || c.Response().Committed || c.Request().Method == http.MethodHead {
			return err
		}
		status, detail := classify(err)
		var af *apiFailure
		hasExtra := errors.As(err, &af)
		if status >= 500 || (status != http.StatusUnprocessableEntity && !hasExtra) {
			return err
		}
		body := map[string]any{"code": detail.Code, "message": detail.Message}
		if detail.Field != "" {
			body["field"] = detail.Field
		}
		if status == http.StatusUnprocessableEntity {
			var fe fieldsError
			switch {
			case errors.As(err, &fe):
				body["fields"] = fe.Fields()
			case detail.Field != "":
				body["fields"] = map[string]string{detail.Field: detail.Message}
			}
		}
		if hasExtra {
			for k, v := range af.extra {
				if _, taken := body[k]; !taken {
					body[k] = v
				}
			}
		}
		return c.JSON(status, map[string]any{"error": body})
	}
}

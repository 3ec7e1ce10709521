package web_test

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/perkbridge/perkbridge/app"
)

func TestErrors(t *testing.T) {
	t.Parallel()

	t.Run("APIErrorsAreJSON", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		sh := b.install(t, "shop-a.myshopify.com")
		rec := b.api(http.MethodGet, "/api/v1/no-such-thing", b.token(sh.Domain))
		requireStatus(t, rec, http.StatusNotFound)
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("content type = %q", ct)
		}
		if e := decodeJSON[apiError](t, rec); e.Error.Code != "not_found" || e.Error.Message == "" || e.Error.Field != "" {
			t.Errorf("404 = %+v", e)
		}
		rec = b.api(http.MethodGet, "/api/v1/webhooks?status=nope", b.token(sh.Domain))
		requireStatus(t, rec, http.StatusUnprocessableEntity)
		if e := decodeJSON[apiError](t, rec); e.Error.Code != "invalid" || e.Error.Field != "status" || e.Error.Message == "" {
			t.Errorf("422 = %+v", e)
		}
		if !strings.Contains(rec.Body.String(), `"field":"status"`) {
			t.Errorf("body = %s", rec.Body.String())
		}
	})

	t.Run("PagesGetTheHTMLErrorPage", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		rec := b.get("/no-such-page", "X-Request-Id", "req-123")
		requireStatus(t, rec, http.StatusNotFound)
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("content type = %q", ct)
		}
		d := doc(t, rec)
		if d.Find(`[data-testid="error-page"]`).Length() != 1 || d.Find(`[data-testid="error-title"]`).Text() != "Not Found" {
			t.Errorf("error page = %s", truncate(rec.Body.String(), 500))
		}
		if got := d.Find(`[data-testid="error-request-id"]`).Text(); got != "req-123" {
			t.Errorf("request id = %q", got)
		}
		if got := strings.Join(frameAncestors(t, rec), " "); got != "'none'" {
			t.Errorf("frame-ancestors = %q", got)
		}
		// The same path asked for as JSON is JSON.
		rec = b.get("/no-such-page", "Accept", "application/json")
		if e := decodeJSON[apiError](t, rec); e.Error.Code != "not_found" {
			t.Errorf("json 404 = %+v", e)
		}
	})

	t.Run("ServerErrorsAreLoggedAndHidden", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.e.GET("/test/internal", func(c echo.Context) error { return errors.New("pq: secret detail") })
		b.e.GET("/test/panic", func(c echo.Context) error { panic("kaboom") })
		b.e.GET("/test/unavailable", func(c echo.Context) error {
			return app.Wrap(app.EUNAVAILABLE, errors.New("dial tcp: refused"), "The database is unavailable.")
		})
		b.e.GET("/test/notfound", func(c echo.Context) error { return app.Errorf(app.ENOTFOUND, "No such reward.") })

		rec := b.get("/test/internal", "Accept", "application/json", "X-Request-Id", "req-500")
		requireStatus(t, rec, http.StatusInternalServerError)
		if strings.Contains(rec.Body.String(), "secret detail") {
			t.Errorf("internal detail leaked: %s", rec.Body.String())
		}
		if e := decodeJSON[apiError](t, rec); e.Error.Code != "internal" {
			t.Errorf("500 = %+v", e)
		}
		requireStatus(t, b.get("/test/panic"), http.StatusInternalServerError)
		requireStatus(t, b.get("/test/unavailable"), http.StatusServiceUnavailable)
		requireStatus(t, b.get("/test/notfound", "X-Request-Id", "req-404"), http.StatusNotFound)

		logs := b.logs.String()
		var failed, notFoundLogged bool
		for _, line := range strings.Split(logs, "\n") {
			if strings.Contains(line, `"msg":"request failed"`) && strings.Contains(line, `"level":"ERROR"`) &&
				strings.Contains(line, "secret detail") && strings.Contains(line, `"request_id":"req-500"`) {
				failed = true
			}
			if strings.Contains(line, `"level":"ERROR"`) && strings.Contains(line, `"request_id":"req-404"`) {
				notFoundLogged = true
			}
		}
		if !failed {
			t.Errorf("500 not logged at error with its request id:\n%s", logs)
		}
		if notFoundLogged {
			t.Error("a 404 was logged at error level")
		}
		if !strings.Contains(logs, `"msg":"panic"`) || !strings.Contains(logs, "kaboom") {
			t.Error("panic not logged")
		}
	})

	t.Run("CommittedResponsesAreLeftAlone", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.e.GET("/test/committed", func(c echo.Context) error {
			if err := c.String(http.StatusAccepted, "partial"); err != nil {
				return err
			}
			return errors.New("failed after answering")
		})
		rec := b.get("/test/committed")
		requireStatus(t, rec, http.StatusAccepted)
		if rec.Body.String() != "partial" {
			t.Errorf("body = %q", rec.Body.String())
		}
	})

	t.Run("OversizeBodyIs413", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		sh := b.install(t, "shop-a.myshopify.com")
		rec := b.send(http.MethodPost, "/api/v1/webhooks/1/reprocess", bytes.NewReader(make([]byte, 2<<20)),
			"Authorization", "Bearer "+b.token(sh.Domain))
		requireStatus(t, rec, http.StatusRequestEntityTooLarge)
		if e := decodeJSON[apiError](t, rec); e.Error.Code != "too_large" {
			t.Errorf("413 = %+v", e)
		}
	})
}

package web

import (
	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"
)

// render writes comp as an HTML response. It renders into a buffer first,
// so that a failing component becomes a clean error response instead of a
// half-written page (a-h/templ examples/integration-echo).
func render(c echo.Context, status int, comp templ.Component) error {
	buf := templ.GetBuffer()
	defer templ.ReleaseBuffer(buf)
	if err := comp.Render(c.Request().Context(), buf); err != nil {
		return err
	}
	return c.HTMLBlob(status, buf.Bytes())
}

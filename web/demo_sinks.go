package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/templates"
)

// demoSinkKinds are the sandbox sinks, in the order the pages list them.
var demoSinkKinds = []struct{ kind, label string }{
	{"klaviyo", "What Klaviyo received"},
	{"clevertap", "What CleverTap received"},
}

// demoSinkLinks returns the links to the sandbox inspectors, active the one
// of kind; nil outside the demo.
func (s *server) demoSinkLinks(active string) []templates.DemoLink {
	if !s.cfg.Demo || s.demoSinks == nil {
		return nil
	}
	out := make([]templates.DemoLink, 0, len(demoSinkKinds))
	for _, k := range demoSinkKinds {
		out = append(out, templates.DemoLink{Label: k.label, URL: s.e.Reverse(routeDemoSinks, k.kind), Active: k.kind == active})
	}
	return out
}

// handleDemoSinks is GET /demo/sinks/{klaviyo|clevertap}, demo mode only:
// what the sandbox sink received, newest first, as a page, or as JSON for
// a client that asks for it. The sandbox holds only the demo's made-up
// shoppers, so it needs no session.
func (s *server) handleDemoSinks(c echo.Context) error {
	kind := c.Param("kind")
	v, ok := s.demoSinks(kind)
	if !ok {
		return app.Errorf(app.ENOTFOUND, "No sandbox sink %q: try klaviyo or clevertap.", kind)
	}
	if acceptsJSON(c.Request()) {
		return c.JSON(http.StatusOK, map[string]any{
			"sink": kind, "events": v.Events, "profiles": v.Profiles, "records": v.Records,
		})
	}
	v.Nav = append([]templates.DemoLink{{Label: "Admin", URL: s.e.Reverse(routeAppHome)}}, s.demoSinkLinks(kind)...)
	v.Refresh = c.QueryParam("refresh") != "0"
	return render(c, http.StatusOK, templates.DemoSinksPage(v))
}

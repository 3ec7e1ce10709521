package web

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/perkbridge/perkbridge/app/forward"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/templates"
)

// handleChecklist is GET /api/v1/integrations/{kind}/checklist: the
// integration's launch checklist (forward.Checklist).
func (s *server) handleChecklist(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	cl, err := s.forward.Checklist(c.Request().Context(), shop.ID, c.Param("kind"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, cl)
}

// handleLaunchPage is GET /app/integrations/{kind}/launch: the checklist,
// each item linked to the page that fixes it.
func (s *server) handleLaunchPage(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	kind := c.Param("kind")
	cl, err := s.forward.Checklist(ctx, shop.ID, kind)
	if err != nil {
		return err
	}
	sh, err := s.st.Shop(ctx, shop.ID)
	if err != nil {
		return err
	}
	loc := sh.Location()
	v := templates.LaunchView{Shell: s.pageShell(c, kindLabel(cl.Kind)+" launch checklist", routeAppIntegrations),
		Label: kindLabel(cl.Kind), Kind: cl.Kind, Ready: cl.Ready}
	integrations := s.pageURL(c, routeAppIntegrations, nil) + "#" + cl.Kind
	for _, it := range cl.Items {
		li := templates.LaunchItem{Key: it.Key, State: it.State, Title: it.Title, Detail: it.Detail}
		switch it.Key {
		case forward.CheckCredentials:
			if it.State != forward.CheckOK {
				li.FixURL, li.FixLabel = integrations, "Fix the "+kindLabel(cl.Kind)+" set-up"
			}
		case forward.CheckCoverage:
			for _, m := range it.Missing {
				li.Missing = append(li.Missing, templates.LaunchMember{Name: m.Name, HasPhone: m.HasPhone,
					URL: s.pageURL(c, routeAppCustomer, nil, m.CustomerID)})
			}
			if it.State == forward.CheckWarn {
				li.FixURL, li.FixLabel = integrations, "Change the common property or the phone fallback"
			}
		case forward.CheckEvents:
			for _, e := range it.Events {
				le := templates.LaunchEvent{Event: e.Event, Name: e.Name, Accepted: e.Accepted,
					TestURL: s.pageURL(c, routeAppEventTest, nil, cl.Kind, strconv.FormatInt(e.DefinitionID, 10))}
				if e.LastAccepted != nil {
					t := e.LastAccepted.In(loc)
					le.LastAccepted = &t
				}
				li.Events = append(li.Events, le)
			}
			li.FixURL, li.FixLabel = s.pageURL(c, routeAppEvents, nil), "Choose the events"
		case forward.CheckFailures:
			for _, f := range it.Failures {
				li.Failures = append(li.Failures, templates.LaunchFailure{Event: f.Event, When: f.CreatedAt.In(loc), Reason: f.LastError})
			}
			if it.State != forward.CheckOK {
				li.FixURL, li.FixLabel = s.pageURL(c, routeAppDeliveries, url.Values{"integration": {cl.Kind}, "status": {store.DeliveryFailed}}), "Open the failed deliveries"
			}
		case forward.CheckLate:
			if it.State != forward.CheckOK {
				li.FixURL, li.FixLabel = s.pageURL(c, routeAppDeliveries, url.Values{"integration": {cl.Kind}, "status": {store.DeliveryLate}}), "See the late events"
			}
		case forward.CheckTestOrders:
			li.FixURL, li.FixLabel = s.pageURL(c, routeAppProgram, nil)+"#f-count-test-orders", "Change it in Program"
		}
		v.Items = append(v.Items, li)
	}
	return render(c, http.StatusOK, templates.LaunchPage(v))
}

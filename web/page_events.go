package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/clevertap"
	"github.com/perkbridge/perkbridge/app/event"
	"github.com/perkbridge/perkbridge/app/forward"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/templates"
)

// channelLabels name the sales channels for merchants.
var channelLabels = map[event.Channel]string{
	event.ChannelOnlineStore: "Online store",
	event.ChannelPOS:         "Point of sale",
	event.ChannelDraftOrder:  "Draft orders",
	event.ChannelOther:       "Other (apps, marketplaces)",
}

// handleEventsPage shows "Create Event" and the events each integration
// receives. The query may preselect the form (integration, event,
// channels, name): the "Show preview" button of the form without
// JavaScript submits it here.
func (s *server) handleEventsPage(c echo.Context) error {
	form := templates.EventCreateForm{
		Integration: c.QueryParam("integration"), Event: c.QueryParam("event"),
		Selected: c.QueryParams()["channels"], Name: c.QueryParam("name"),
	}
	return s.renderEvents(c, http.StatusOK, form)
}

// renderEvents renders the events page with form as "Create Event".
func (s *server) renderEvents(c echo.Context, status int, form templates.EventCreateForm) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	integrations, err := s.forward.List(ctx, shop.ID)
	if err != nil {
		return err
	}
	v := templates.EventsView{
		Shell:           s.pageShell(c, "Events", routeAppEvents),
		IntegrationsURL: s.pageURL(c, routeAppIntegrations, nil),
	}
	properties := map[string]string{}
	for _, in := range integrations {
		if in.Status == store.IntegrationNotConnected {
			continue
		}
		properties[in.Kind] = in.CommonProperty
		form.Integrations = append(form.Integrations, templates.Option{Value: in.Kind, Label: kindLabel(in.Kind)})
		defs, err := s.forward.ListDefinitions(ctx, shop.ID, in.Kind)
		if err != nil {
			return err
		}
		list := templates.EventList{Kind: in.Kind, Label: kindLabel(in.Kind), Status: in.Status}
		for _, d := range defs {
			list.Rows = append(list.Rows, s.eventRow(c, in.Kind, d))
		}
		v.Lists = append(v.Lists, list)
	}
	if len(form.Integrations) > 0 {
		if _, ok := properties[form.Integration]; !ok {
			form.Integration = form.Integrations[0].Value
		}
		if _, ok := event.Lookup(event.Key(form.Event)); !ok {
			form.Event = string(event.WalletPointsRewarded)
		}
		form.Action = s.pageURL(c, routeAppEventCreate, nil)
		form.PreviewURL = s.pageURL(c, routeAppEventPreview, nil)
		form.Hidden = s.pageHidden(c)
		for _, d := range event.Catalog() {
			form.Events = append(form.Events, templates.EventOption{Key: string(d.Key), Description: d.Description, OrderDerived: d.OrderDerived})
		}
		for _, ch := range event.Channels() {
			form.Channels = append(form.Channels, templates.Option{Value: string(ch), Label: channelLabels[ch]})
		}
		v.Create = form
		v.Preview = eventPreview(form.Integration, event.Key(form.Event), form.Name, properties[form.Integration])
	}
	return render(c, status, templates.EventsPage(v))
}

// eventRow is one definition in an integration's list.
func (s *server) eventRow(c echo.Context, kind string, d forward.DefinitionView) templates.EventRow {
	id := strconv.FormatInt(d.ID, 10)
	r := templates.EventRow{
		ID: d.ID, Event: d.Event, Name: d.Name, Enabled: d.Enabled,
		ToggleURL: s.pageURL(c, routeAppEventToggle, nil, kind, id),
		DeleteURL: s.pageURL(c, routeAppEventDelete, nil, kind, id),
		StatsURL:  s.pageURL(c, routeAppStats, url.Values{"integration": {kind}, "event": {d.Event}}),
		LogURL:    s.pageURL(c, routeAppDeliveries, url.Values{"integration": {kind}, "event": {d.Event}}),
		TestURL:   s.pageURL(c, routeAppEventTest, nil, kind, id),
	}
	if def, ok := event.Lookup(event.Key(d.Event)); ok {
		r.Description = def.Description
	}
	for _, ch := range d.Channels {
		r.Channels = append(r.Channels, channelLabels[event.Channel(ch)])
	}
	return r
}

// handleEventPreviewPage answers the sample payload of ?integration=&event=
// as an HTML fragment, for the events page's script; without fragment=1
// it shows the whole page with that choice.
func (s *server) handleEventPreviewPage(c echo.Context) error {
	if c.QueryParam("fragment") != "1" {
		return s.handleEventsPage(c)
	}
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	kind := c.QueryParam("integration")
	if kind != forward.KindCleverTap && kind != forward.KindKlaviyo {
		return app.FieldError("integration", "Unknown integration %q: use klaviyo or clevertap.", kind)
	}
	key := event.Key(c.QueryParam("event"))
	if !key.Valid() {
		return app.FieldError("event", "Unknown event %q.", key)
	}
	in, err := s.forward.Get(c.Request().Context(), shop.ID, kind)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, templates.EventPreviewFragment(eventPreview(kind, key, c.QueryParam("name"), in.CommonProperty)))
}

// handleEventCreatePage is "Create event".
func (s *server) handleEventCreatePage(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	if err := c.Request().ParseForm(); err != nil {
		return app.Errorf(app.EBADREQUEST, "The form could not be read.")
	}
	form := templates.EventCreateForm{
		Integration: c.FormValue("integration"), Event: c.FormValue("event"),
		Selected: c.Request().PostForm["channels"], Name: c.FormValue("name"),
	}
	_, err = s.forward.CreateDefinition(c.Request().Context(), shop.ID, form.Integration, forward.DefinitionInput{
		Event: form.Event, Channels: form.Selected, Name: form.Name,
	})
	if err != nil {
		status, errs, ok := pageProblem(err)
		if !ok {
			return err
		}
		if app.ErrorCode(err) == app.ECONFLICT {
			errs = templates.FieldErrors{"event": kindLabel(form.Integration) + " already receives " + form.Event + ". Turn it on or change it in the list below."}
		}
		form.Errors = errs
		return s.renderEvents(c, status, form)
	}
	return s.pageRedirect(c, routeAppEvents, "event-created", nil)
}

// handleEventTogglePage turns an event definition on or off.
func (s *server) handleEventTogglePage(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	id, err := parseID(c.Param("id"), "id")
	if err != nil {
		return err
	}
	enabled := c.FormValue("enabled") == "true"
	if _, err := s.forward.UpdateDefinition(c.Request().Context(), shop.ID, c.Param("kind"), id, forward.DefinitionPatch{Enabled: &enabled}); err != nil {
		return err
	}
	done := "event-disabled"
	if enabled {
		done = "event-enabled"
	}
	return s.pageRedirect(c, routeAppEvents, done, nil)
}

// handleEventTestPage sends a test of an event definition to one customer
// and shows it in the delivery log (pending for a second, then its
// outcome, the document sent and the answer).
func (s *server) handleEventTestPage(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	id, err := parseID(c.Param("id"), "id")
	if err != nil {
		return err
	}
	cust, err := strconv.ParseInt(strings.TrimSpace(c.FormValue("customer_id")), 10, 64)
	if err != nil || cust <= 0 {
		return app.FieldError("customer_id", "Enter the customer's Shopify id (digits).")
	}
	d, err := s.forward.SendTest(c.Request().Context(), shop.ID, c.Param("kind"), id, cust)
	if err != nil {
		return err
	}
	return s.pageRedirect(c, routeAppDeliveries, "test-sent", url.Values{"integration": {d.Integration}, "event": {d.Event}, "customer_id": {d.CustomerID}})
}

// handleEventDeletePage stops forwarding an event.
func (s *server) handleEventDeletePage(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	id, err := parseID(c.Param("id"), "id")
	if err != nil {
		return err
	}
	if err := s.forward.DeleteDefinition(c.Request().Context(), shop.ID, c.Param("kind"), id); err != nil {
		return err
	}
	return s.pageRedirect(c, routeAppEvents, "event-deleted", nil)
}

// sampleIdentities are the sample customer's identifiers by common
// property, for previews.
var sampleIdentities = map[string]string{
	"email":       "john@example.com",
	"phone":       "+14155550123",
	"customer_id": "115310627314723954",
}

// eventPreview builds the sample payload the sink would receive for key:
// Klaviyo's Create Event document (times in ISO 8601, the profile found by
// the common property) or CleverTap's upload record (flat evtData, dates
// as $D_<epoch seconds>).
func eventPreview(kind string, key event.Key, name, property string) templates.EventPreview {
	p := templates.EventPreview{Integration: kind, IntegrationLabel: kindLabel(kind), Event: string(key)}
	def, ok := event.Lookup(key)
	if !ok {
		return p
	}
	p.Description = def.Description
	ev, err := event.Sample(key)
	if err != nil {
		return p
	}
	name = strings.TrimSpace(name)
	if name == "" {
		name = string(key)
	}
	fields := ev.Fields()
	identity, ok := sampleIdentities[property]
	if !ok {
		identity = "M-1001" // a metafield value
	}
	var doc any
	switch kind {
	case forward.KindKlaviyo:
		props := map[string]any{}
		for k, v := range fields {
			if t, ok := v.(time.Time); ok {
				v = t.UTC().Format(time.RFC3339)
			}
			props[k] = v
		}
		profile := map[string]any{}
		switch property {
		case "email":
			profile["email"] = identity
		case "phone":
			profile["phone_number"] = identity
		default:
			profile["external_id"] = identity
		}
		attrs := map[string]any{
			"properties": props,
			"time":       ev.OccurredAt.UTC().Format(time.RFC3339),
			"unique_id":  ev.ID.String(),
			"metric":     map[string]any{"data": map[string]any{"type": "metric", "attributes": map[string]any{"name": name}}},
			"profile":    map[string]any{"data": map[string]any{"type": "profile", "attributes": profile}},
		}
		doc = map[string]any{"data": map[string]any{"type": "event", "attributes": attrs}}
		p.Format = "Klaviyo Create Event (POST /api/events), JSON:API"
		p.Note = "unique_id is the event id, so a retry never records the event twice."
	default:
		rec := clevertap.Record{Type: clevertap.TypeEvent, Identity: identity, TS: ev.OccurredAt.Unix(), EvtName: name, EvtData: clevertap.Flatten(fields)}
		doc = map[string]any{"d": []clevertap.Record{rec}}
		p.Format = "CleverTap Upload Events (POST /1/upload): flat evtData, dates as $D_<epoch seconds>"
		p.Note = "identity is the customer's common property value; events more than 2 hours old are sent but do not trigger live campaigns."
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return p
	}
	p.Body = string(b)
	return p
}

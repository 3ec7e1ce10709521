package web

import (
	"cmp"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/forward"
	"github.com/perkbridge/perkbridge/app/program"
	"github.com/perkbridge/perkbridge/templates"
)

// Route names of the admin pages (app.<area>.<action>). Templates get
// their URLs from these through e.Reverse, never from literals.
const (
	routeAppIntegrations          = "app.integrations.list"
	routeAppIntegrationConnect    = "app.integrations.connect"
	routeAppIntegrationDisconnect = "app.integrations.disconnect"
	routeAppEvents                = "app.events.list"
	routeAppEventCreate           = "app.events.create"
	routeAppEventPreview          = "app.events.preview"
	routeAppEventToggle           = "app.events.toggle"
	routeAppEventDelete           = "app.events.delete"
	routeAppStats                 = "app.stats.show"
	routeAppDeliveries            = "app.deliveries.list"
	routeAppDeliveryRetry         = "app.deliveries.retry"
	routeAppDeliveriesRetryAll    = "app.deliveries.retry_all"
	routeAppProgram               = "app.program.edit"
	routeAppProgramSave           = "app.program.save"
	routeAppCustomers             = "app.customers.list"
	routeAppCustomer              = "app.customers.show"
	routeAppCustomerAdjust        = "app.customers.adjust"
	routeAppStorefrontCheck       = "app.storefront.check"
	routeAppEventTest             = "app.events.test"
	routeAppIntegrationLaunch     = "app.integrations.launch"
)

// doneParam carries the outcome of a form post through its redirect
// (Post/Redirect/Get): a code from pageFlashes, never free text.
const doneParam = "done"

// pageFlashes are the messages of doneParam codes.
var pageFlashes = map[string]templates.Flash{
	"clevertap-connected":    {Tone: "success", Text: "CleverTap is connected."},
	"klaviyo-connected":      {Tone: "success", Text: "Klaviyo is connected."},
	"clevertap-disconnected": {Tone: "success", Text: "CleverTap was disconnected. Nothing more is sent to it."},
	"klaviyo-disconnected":   {Tone: "success", Text: "Klaviyo was disconnected. Nothing more is sent to it."},
	"event-created":          {Tone: "success", Text: "The event was created. It is sent from now on, as it happens."},
	"event-enabled":          {Tone: "success", Text: "The event is on again. New events are sent; those from while it was off are not."},
	"event-disabled":         {Tone: "success", Text: "The event is off. Nothing is sent until you turn it back on."},
	"event-deleted":          {Tone: "success", Text: "The event was deleted. Deliveries that were still waiting are marked skipped."},
	"retried":                {Tone: "success", Text: "The delivery was queued again; it is sent within seconds."},
	"engagement-refresh":     {Tone: "success", Text: "Opens and clicks are being read from Klaviyo; reload this page in a minute to see them."},
	"program-saved":          {Tone: "success", Text: "Program settings saved. They apply to what happens from now on."},
	"adjusted":               {Tone: "success", Text: "The points were adjusted and recorded in the ledger."},
	"birthday-saved":         {Tone: "success", Text: "The birthday was saved. The birthday reward is given on that day, once a year."},
	"test-sent":              {Tone: "success", Text: "The test was queued and is sent within seconds. Reload to see what was sent and the answer; it is marked Test and counts in no statistics."},
	"theme-embed-enabled":    {Tone: "success", Text: "The rewards launcher is on in your published theme."},
	"theme-embed-off":        {Tone: "critical", Text: "The rewards launcher is not on in your published theme yet. Turn on Perkbridge loyalty under App embeds in the theme editor, save, then check again."},
	"theme-embed-no-access":  {Tone: "critical", Text: "Perkbridge may not read your theme yet. Open the app from Shopify admin to approve the theme permission, then check again."},
	"theme-embed-unknown":    {Tone: "critical", Text: "Shopify could not be asked about your theme just now. Try again in a minute."},
	"redemption-cancelled":   {Tone: "success", Text: "The reward was cancelled: its code no longer works and the points are back."},
}

// pageFlash returns the flash of the request's doneParam.
func pageFlash(c echo.Context) templates.Flash {
	code := c.QueryParam(doneParam)
	if code == "retried-all" {
		n, _ := strconv.ParseInt(c.QueryParam("n"), 10, 64)
		if n == 1 {
			return templates.Flash{Tone: "success", Text: "1 delivery was queued again; it is sent within seconds."}
		}
		return templates.Flash{Tone: "success", Text: strconv.FormatInt(n, 10) + " deliveries were queued again; they are sent within seconds."}
	}
	return pageFlashes[code]
}

// pageShell is shell with the flash of the request.
func (s *server) pageShell(c echo.Context, title, active string) templates.Shell {
	sh := s.shell(c, title, active)
	sh.Flash = pageFlash(c)
	if strings.HasSuffix(c.QueryParam(doneParam), "-connected") {
		sh.Flash.URL, sh.Flash.LinkLabel = s.pageURL(c, routeAppEvents, nil), "Choose the events it receives"
	}
	return sh
}

// pageURL returns the URL of a named route with the carried parameters
// (shop, host, embedded) and extra ones.
func (s *server) pageURL(c echo.Context, route string, extra url.Values, params ...string) string {
	args := make([]any, len(params))
	for i, p := range params {
		args[i] = p
	}
	return s.appLink(c, s.e.Reverse(route, args...), extra)
}

// pageRedirect ends a successful form post: 303 to a page, with the
// outcome code for its flash.
func (s *server) pageRedirect(c echo.Context, route, done string, extra url.Values, params ...string) error {
	q := url.Values{}
	for k, v := range extra {
		q[k] = v
	}
	q.Set(doneParam, done)
	return c.Redirect(http.StatusSeeOther, s.pageURL(c, route, q, params...))
}

// pageHidden returns the carried parameters as hidden inputs of a GET
// form, in a stable order.
func (s *server) pageHidden(c echo.Context) []templates.Param {
	var ps []templates.Param
	for k, vs := range s.carry(c) {
		ps = append(ps, templates.Param{Name: k, Value: vs[0]})
	}
	slices.SortFunc(ps, func(a, b templates.Param) int { return cmp.Compare(a.Name, b.Name) })
	return ps
}

// pageProblem turns a use-case error into what a form shows: the status
// to answer and the problems by field ("" for the form as a whole). ok is
// false for internal errors, which go to the error handler instead.
func pageProblem(err error) (status int, errs templates.FieldErrors, ok bool) {
	status, detail := classify(err)
	if status >= 500 && status != http.StatusServiceUnavailable {
		return status, nil, false
	}
	errs = templates.FieldErrors{}
	var ve *program.ValidationError
	if errors.As(err, &ve) {
		for field, msg := range ve.Fields() {
			errs[field] = msg
		}
		return status, errs, true
	}
	errs[detail.Field] = detail.Message
	return status, errs, true
}

// firstProblem returns the problem of the form as a whole, or else any
// one, for a page that has no input to show it beside.
func firstProblem(errs templates.FieldErrors) string {
	if m := errs[""]; m != "" {
		return m
	}
	keys := make([]string, 0, len(errs))
	for k := range errs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if len(keys) == 0 {
		return ""
	}
	return errs[keys[0]]
}

// kindLabel names an integration kind for merchants.
func kindLabel(kind string) string { return forward.KindLabel(kind) }

// kindOptions are the integrations as select options.
func kindOptions() []templates.Option {
	var out []templates.Option
	for _, k := range forward.Kinds() {
		out = append(out, templates.Option{Value: k, Label: kindLabel(k)})
	}
	return out
}

// shopLocation returns the shop's time zone (UTC when unknown).
func (s *server) shopLocation(c echo.Context, shopID app.ShopID) (*time.Location, error) {
	sh, err := s.st.Shop(c.Request().Context(), shopID)
	if err != nil {
		return nil, err
	}
	return sh.Location(), nil
}

// localMidnight returns the start of t's day in loc.
func localMidnight(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
}

// parseDayOrTime reads a filter bound: a date (yyyy-mm-dd, in loc; an
// upper bound includes the whole day) or an RFC 3339 instant (as the
// statistics page links them).
func parseDayOrTime(raw, field string, upper bool, loc *time.Location) (time.Time, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseInLocation("2006-01-02", raw, loc); err == nil {
		if upper {
			d = d.AddDate(0, 0, 1)
		}
		return d, nil
	}
	if t, err := time.Parse(time.RFC3339, raw); err == nil {
		return t, nil
	}
	return time.Time{}, app.FieldError(field, "Enter a date such as 2026-11-23.")
}

// dayValue is the value of a date input for a bound parsed by
// parseDayOrTime.
func dayValue(t time.Time, upper bool, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	l := t.In(loc)
	if upper && l.Equal(localMidnight(l, loc)) {
		l = l.AddDate(0, 0, -1)
	}
	return l.Format("2006-01-02")
}

// splitProperty splits a stored common property for the form's select and
// metafield input.
func splitProperty(p string) (choice, metafield string) {
	if rest, ok := strings.CutPrefix(p, "metafield:"); ok {
		return "metafield", rest
	}
	return p, ""
}

// joinProperty is splitProperty's inverse, for a submitted form.
func joinProperty(choice, metafield string) string {
	choice = strings.TrimSpace(choice)
	if choice == "metafield" {
		return "metafield:" + strings.TrimSpace(metafield)
	}
	return choice
}

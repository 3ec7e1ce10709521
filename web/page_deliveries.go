package web

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/perkbridge/perkbridge/app/event"
	"github.com/perkbridge/perkbridge/app/forward"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/templates"
)

// deliveriesPageSize is how many deliveries the log shows per page.
const deliveriesPageSize = 50

// deliveryFilterParams are the query parameters of the log's filter, kept
// through retries and paging.
var deliveryFilterParams = []string{"status", "event", "integration", "customer_id", "from", "to"}

// handleDeliveriesPage is the delivery log.
func (s *server) handleDeliveriesPage(c echo.Context) error {
	return s.renderDeliveries(c, http.StatusOK, nil)
}

// renderDeliveries renders the log for the request's filter; errs are the
// problems of an action (a retry that was refused).
func (s *server) renderDeliveries(c echo.Context, status int, errs templates.FieldErrors) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	loc, err := s.shopLocation(c, shop.ID)
	if err != nil {
		return err
	}
	if errs == nil {
		errs = templates.FieldErrors{}
	}
	f, filter, ferrs := parseDeliveryFilter(c, loc)
	for k, v := range ferrs {
		errs[k] = v
	}
	filter.Action = s.e.Reverse(routeAppDeliveries)
	filter.ClearURL = s.pageURL(c, routeAppDeliveries, nil)
	filter.Hidden = s.pageHidden(c)
	filter.Statuses = templates.DeliveryStatuses()
	filter.Integrations = kindOptions()
	for _, d := range event.Catalog() {
		filter.Events = append(filter.Events, templates.Option{Value: string(d.Key), Label: string(d.Key)})
	}
	v := templates.DeliveriesView{Shell: s.pageShell(c, "Delivery log", routeAppDeliveries), Filter: filter, Errors: errs}
	if len(ferrs) > 0 {
		return render(c, http.StatusUnprocessableEntity, templates.DeliveriesPage(v))
	}
	integrations, err := s.forward.List(ctx, shop.ID)
	if err != nil {
		return err
	}
	paused := map[string]bool{}
	for _, in := range integrations {
		paused[in.Kind] = in.Status == store.IntegrationPaused
	}
	list, err := s.forward.ListDeliveries(ctx, shop.ID, f)
	if err != nil {
		st, perrs, ok := pageProblem(err)
		if !ok {
			return err
		}
		for k, m := range perrs {
			v.Errors[k] = m
		}
		return render(c, st, templates.DeliveriesPage(v))
	}
	keep := s.deliveryFilterQuery(c)
	retryable := false
	for _, d := range list {
		row := deliveryRow(d, paused[d.Integration], loc)
		row.CustomerURL = s.pageURL(c, routeAppCustomer, nil, d.CustomerID)
		switch d.Status {
		case store.DeliveryFailed, store.DeliverySkipped:
			row.RetryURL = s.pageURL(c, routeAppDeliveryRetry, keep, strconv.FormatInt(d.ID, 10))
			retryable = true
		case store.DeliveryUnconfirmed:
			// Only one by one: sending again may duplicate it at the
			// sink, so the merchant first checks that it is missing.
			row.RetryURL = s.pageURL(c, routeAppDeliveryRetry, keep, strconv.FormatInt(d.ID, 10))
		}
		v.Rows = append(v.Rows, row)
	}
	if retryable || f.Status == store.DeliveryFailed || f.Status == store.DeliverySkipped {
		v.RetryAllURL = s.pageURL(c, routeAppDeliveriesRetryAll, keep)
		switch f.Status {
		case store.DeliveryFailed:
			v.RetryAllLabel = "Retry all failed"
		case store.DeliverySkipped:
			v.RetryAllLabel = "Retry all skipped"
		default:
			v.RetryAllLabel = "Retry all failed and skipped"
		}
	}
	if len(list) == deliveriesPageSize {
		older := url.Values{}
		for k, vs := range keep {
			older[k] = vs
		}
		older.Set("before", strconv.FormatInt(list[len(list)-1].ID, 10))
		v.OlderURL = s.pageURL(c, routeAppDeliveries, older)
	}
	return render(c, status, templates.DeliveriesPage(v))
}

// parseDeliveryFilter reads the log's filter from the query.
func parseDeliveryFilter(c echo.Context, loc *time.Location) (forward.DeliveryFilter, templates.DeliveryFilter, templates.FieldErrors) {
	errs := templates.FieldErrors{}
	form := templates.DeliveryFilter{
		Status: c.QueryParam("status"), Event: c.QueryParam("event"), Integration: c.QueryParam("integration"),
		Customer: strings.TrimSpace(c.QueryParam("customer_id")),
	}
	f := forward.DeliveryFilter{Status: form.Status, Event: form.Event, Integration: form.Integration, CustomerID: form.Customer, Limit: deliveriesPageSize}
	var err error
	if f.From, err = parseDayOrTime(c.QueryParam("from"), "from", false, loc); err != nil {
		errs["from"] = "Enter a date such as 2026-11-01."
	}
	if f.To, err = parseDayOrTime(c.QueryParam("to"), "to", true, loc); err != nil {
		errs["to"] = "Enter a date such as 2026-11-23."
	}
	form.From, form.To = dayValue(f.From, false, loc), dayValue(f.To, true, loc)
	if b := c.QueryParam("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			errs[""] = "The page link is not valid; start from the first page."
		}
		f.Before = n
	}
	if form.Customer != "" {
		if n, err := strconv.ParseInt(strings.TrimPrefix(form.Customer, "gid://shopify/Customer/"), 10, 64); err != nil || n <= 0 {
			errs["customer_id"] = "Enter a Shopify customer ID: the number in the customer's admin URL."
		}
	}
	return f, form, errs
}

// deliveryFilterQuery is the request's filter, for links that keep it.
func (s *server) deliveryFilterQuery(c echo.Context) url.Values {
	q := url.Values{}
	for _, k := range deliveryFilterParams {
		if v := c.QueryParam(k); v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// deliveryRow is a delivery with what its status means, in plain words.
func deliveryRow(d forward.DeliveryView, paused bool, loc *time.Location) templates.DeliveryRow {
	r := templates.DeliveryRow{
		ID: d.ID, Event: d.Event, IntegrationLabel: kindLabel(d.Integration), CustomerID: d.CustomerID,
		Status: d.Status, Attempts: d.Attempts, Response: d.ResponseExcerpt, Error: d.LastError,
		PossiblyDuplicated: d.PossiblyDuplicated, CreatedAt: d.CreatedAt.In(loc), Test: d.Test,
	}
	if d.LastStatusCode != nil {
		r.StatusCode = strconv.Itoa(*d.LastStatusCode)
	}
	if len(d.Payload) > 0 {
		var buf bytes.Buffer
		if json.Indent(&buf, d.Payload, "", "  ") == nil {
			r.Payload = buf.String()
		}
	}
	if d.SentAt != nil {
		t := d.SentAt.In(loc)
		r.SentAt = &t
	}
	if d.NextAttemptAt != nil {
		t := d.NextAttemptAt.In(loc)
		r.NextAttemptAt = &t
	}
	sink := r.IntegrationLabel
	switch d.Status {
	case store.DeliverySent:
		r.Explanation = "Accepted by " + sink
		if r.SentAt != nil {
			r.Explanation += " at " + r.SentAt.Format("15:04:05 MST, 2 Jan")
		}
		r.Explanation += "."
		if d.IdentityFallback {
			r.Explanation += " Sent by the customer's phone number: they have no value for the common property."
		}
	case store.DeliveryLate:
		r.Explanation = "Sent more than 2 hours after it happened: " + sink + " has it, but it does not trigger live campaigns."
	case store.DeliveryUnconfirmed:
		r.Explanation = "Handed to " + sink + ", which did not confirm this event"
		if d.LastError != "" {
			r.Explanation += ": " + d.LastError
			r.Error = ""
		}
		r.Explanation += " Retry it only if it is missing there: sending it again may count it twice."
	case store.DeliveryPending:
		switch {
		case paused:
			r.Explanation = "Waiting: " + sink + " is paused. It is sent once the set-up is fixed."
		case d.Attempts > 0 && r.NextAttemptAt != nil:
			r.Explanation = "Retrying at " + r.NextAttemptAt.Format("15:04:05") + " after " + strconv.Itoa(d.Attempts) + " attempt" + pagePlural(d.Attempts) + "."
		default:
			r.Explanation = "Queued; sent within seconds."
		}
	case store.DeliveryFailed:
		r.Explanation = sink + " refused it, or could not be reached after " + strconv.Itoa(d.Attempts) + " attempt" + pagePlural(d.Attempts) + ". Fix the cause, then retry."
	case store.DeliverySkipped:
		r.Explanation = "Not sent"
		if d.LastError != "" {
			r.Explanation += ": " + d.LastError
			r.Error = ""
		}
		r.Explanation += "."
	}
	return r
}

func pagePlural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// handleDeliveryRetryPage retries one failed or skipped delivery and goes
// back to the log with the same filter.
func (s *server) handleDeliveryRetryPage(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	id, err := parseID(c.Param("id"), "id")
	if err != nil {
		return err
	}
	if _, err := s.forward.Retry(c.Request().Context(), shop.ID, id); err != nil {
		status, errs, ok := pageProblem(err)
		if !ok {
			return err
		}
		return s.renderDeliveries(c, status, templates.FieldErrors{"": firstProblem(errs)})
	}
	return s.pageRedirect(c, routeAppDeliveries, "retried", s.deliveryFilterQuery(c))
}

// handleDeliveriesRetryAllPage retries every failed (and skipped, unless
// the filter says failed) delivery matching the log's filter.
func (s *server) handleDeliveriesRetryAllPage(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	loc, err := s.shopLocation(c, shop.ID)
	if err != nil {
		return err
	}
	f, _, ferrs := parseDeliveryFilter(c, loc)
	if len(ferrs) > 0 {
		return s.renderDeliveries(c, http.StatusUnprocessableEntity, nil)
	}
	n, err := s.forward.RetryAll(c.Request().Context(), shop.ID, f)
	if err != nil {
		status, errs, ok := pageProblem(err)
		if !ok {
			return err
		}
		return s.renderDeliveries(c, status, templates.FieldErrors{"": firstProblem(errs)})
	}
	q := s.deliveryFilterQuery(c)
	q.Set("n", strconv.FormatInt(n, 10))
	return s.pageRedirect(c, routeAppDeliveries, "retried-all", q)
}

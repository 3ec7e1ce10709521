package web

import (
	"math"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/perkbridge/perkbridge/app/forward"
)

// maxDeliveriesPage is the largest page of GET /api/v1/deliveries.
const maxDeliveriesPage = 500

// statsDefaultRange is the span of GET /api/v1/stats without from.
const statsDefaultRange = 7 * 24 * time.Hour

// deliveryFilter reads the filters shared by the deliveries list and
// retry-all from the query: status, event, integration, customer_id (the
// service validates those), from and to (RFC 3339, created_at in
// [from, to)), and for the list limit (1–500, default 50) and before (a
// delivery id: the next page of a newest-first list is before=<last id>).
func deliveryFilter(c echo.Context) (forward.DeliveryFilter, error) {
	f := forward.DeliveryFilter{
		Status:      c.QueryParam("status"),
		Event:       c.QueryParam("event"),
		Integration: c.QueryParam("integration"),
		CustomerID:  c.QueryParam("customer_id"),
	}
	var err error
	if f.From, err = queryTime(c, "from"); err != nil {
		return f, err
	}
	if f.To, err = queryTime(c, "to"); err != nil {
		return f, err
	}
	limit, err := queryInt(c, "limit", 1, maxDeliveriesPage)
	if err != nil {
		return f, err
	}
	f.Limit = int(limit)
	if f.Before, err = queryInt(c, "before", 1, math.MaxInt64); err != nil {
		return f, err
	}
	return f, nil
}

// handleDeliveriesList is GET /api/v1/deliveries: the shop's deliveries
// matching the filters, newest first.
func (s *server) handleDeliveriesList(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	f, err := deliveryFilter(c)
	if err != nil {
		return err
	}
	list, err := s.forward.ListDeliveries(c.Request().Context(), shop.ID, f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, list)
}

// handleDeliveryRetry is POST /api/v1/deliveries/{id}/retry: a failed or
// skipped delivery goes back to pending, due now; 200 with the delivery.
// A pending or sent one is 409 (a sent event is never sent again).
func (s *server) handleDeliveryRetry(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	id, err := parseID(c.Param("id"), "id")
	if err != nil {
		return err
	}
	d, err := s.forward.Retry(c.Request().Context(), shop.ID, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, d)
}

// retriedJSON is the answer of POST /api/v1/deliveries/retry.
type retriedJSON struct {
	Retried int64 `json:"retried"`
}

// handleDeliveriesRetryAll is POST /api/v1/deliveries/retry: every failed
// and skipped delivery matching the query's filters (those of the list;
// status, when given, must be failed or skipped) goes back to pending.
func (s *server) handleDeliveriesRetryAll(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	f, err := deliveryFilter(c)
	if err != nil {
		return err
	}
	n, err := s.forward.RetryAll(c.Request().Context(), shop.ID, f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, retriedJSON{Retried: n})
}

// handleStatsShow is GET /api/v1/stats?integration=&event=&from=&to=&bucket=:
// delivery counts by status, in total and per hour or day (default) in the
// shop's time zone, and per integration and event (by_event). to defaults
// to now and from to 7 days before to.
func (s *server) handleStatsShow(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	f := forward.StatsFilter{
		Integration: c.QueryParam("integration"),
		Event:       c.QueryParam("event"),
		Bucket:      c.QueryParam("bucket"),
	}
	if f.From, err = queryTime(c, "from"); err != nil {
		return err
	}
	if f.To, err = queryTime(c, "to"); err != nil {
		return err
	}
	if f.To.IsZero() {
		f.To = s.now()
	}
	if f.From.IsZero() {
		f.From = f.To.Add(-statsDefaultRange)
	}
	st, err := s.forward.Stats(c.Request().Context(), shop.ID, f)
	if err != nil {
		return err
	}
	byEvent, err := s.forward.StatsByEvent(c.Request().Context(), shop.ID, f)
	if err != nil {
		return err
	}
	if byEvent == nil {
		byEvent = []forward.EventStats{}
	}
	return c.JSON(http.StatusOK, statsJSON{Stats: st, ByEvent: byEvent})
}

// statsJSON is the stats answer: DESIGN.md §6's totals and buckets, plus
// the same period's counts per integration and event.
type statsJSON struct {
	forward.Stats
	ByEvent []forward.EventStats `json:"by_event"`
}

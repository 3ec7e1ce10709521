package web

import (
	"math"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/perkbridge/perkbridge/app/engagement"
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
//
// opened and clicked are the opens and clicks of the Klaviyo flows each
// event triggers, as last read from Klaviyo (engagement_refreshed_at):
// daily numbers, so the totals count every local day the period touches,
// day buckets carry their day's, and hour buckets none. They are absent
// where unknown: CleverTap (it cannot attribute them to an event), or
// nothing read yet.
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
	ctx := c.Request().Context()
	st, err := s.forward.Stats(ctx, shop.ID, f)
	if err != nil {
		return err
	}
	byEvent, err := s.forward.StatsByEvent(ctx, shop.ID, f)
	if err != nil {
		return err
	}
	loc, err := s.shopLocation(c, shop.ID)
	if err != nil {
		return err
	}
	eng, err := s.engagement.Stats(ctx, shop.ID, engagement.Filter{
		Integration: f.Integration, Event: f.Event, From: f.From, To: f.To, Location: loc,
	})
	if err != nil {
		return err
	}
	out := statsJSON{
		Totals:                statsTotalsJSON{StatusCounts: st.Totals},
		Buckets:               make([]statsBucketJSON, len(st.Buckets)),
		ByEvent:               make([]eventStatsJSON, len(byEvent)),
		EngagementRefreshedAt: eng.RefreshedAt,
	}
	if eng.Known {
		out.Totals.engagementJSON = known(eng.Totals)
	}
	for i, b := range st.Buckets {
		out.Buckets[i] = statsBucketJSON{Start: b.Start, StatusCounts: b.StatusCounts}
		if day, ok := eng.Days[b.Start.In(loc).Format(time.DateOnly)]; ok && f.Bucket != "hour" {
			out.Buckets[i].engagementJSON = known(day)
		}
	}
	for i, es := range byEvent {
		out.ByEvent[i] = eventStatsJSON{Integration: es.Integration, Event: es.Event, Totals: statsTotalsJSON{StatusCounts: es.Totals}}
		if ev, ok := eng.ByEvent[es.Event]; ok && es.Integration == forward.KindKlaviyo {
			out.ByEvent[i].Totals.engagementJSON = known(ev)
		}
	}
	return c.JSON(http.StatusOK, out)
}

// statsJSON is the stats answer: DESIGN.md §6's totals and buckets, plus
// the same period's counts per integration and event, and when the opens
// and clicks were last read from the sinks (null: never).
type statsJSON struct {
	Totals                statsTotalsJSON   `json:"totals"`
	Buckets               []statsBucketJSON `json:"buckets"`
	ByEvent               []eventStatsJSON  `json:"by_event"`
	EngagementRefreshedAt *time.Time        `json:"engagement_refreshed_at"`
}

// engagementJSON are opens and clicks, left out where unknown.
type engagementJSON struct {
	Opened  *int64 `json:"opened,omitempty"`
	Clicked *int64 `json:"clicked,omitempty"`
}

func known(c engagement.Counts) engagementJSON {
	return engagementJSON{Opened: &c.Opened, Clicked: &c.Clicked}
}

type statsTotalsJSON struct {
	forward.StatusCounts
	engagementJSON
}

type statsBucketJSON struct {
	Start time.Time `json:"start"`
	forward.StatusCounts
	engagementJSON
}

type eventStatsJSON struct {
	Integration string          `json:"integration"`
	Event       string          `json:"event"`
	Totals      statsTotalsJSON `json:"totals"`
}

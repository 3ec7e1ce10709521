package forward

import (
	"context"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/event"
	"github.com/perkbridge/perkbridge/app/store"
)

// DeliveryFilter narrows ListDeliveries and RetryAll; zero fields do not
// filter. The strings come straight from query parameters and are
// validated here.
type DeliveryFilter struct {
	Status      string // pending, sent, failed, skipped, late
	Event       string // catalog key
	Integration string // klaviyo or clevertap
	CustomerID  string // Shopify customer id
	From, To    time.Time
	Limit       int   // default 50, at most 500
	Before      int64 // delivery id: page newest first
}

// DeliveryView is a delivery in the JSON API (DESIGN.md §6).
type DeliveryView struct {
	ID             int64      `json:"id"`
	EventID        string     `json:"event_id"`
	Event          string     `json:"event"`
	Integration    string     `json:"integration"`
	Status         string     `json:"status"`
	Attempts       int        `json:"attempts"`
	LastStatusCode *int       `json:"last_status_code"`
	LastError      string     `json:"last_error"`
	CustomerID     string     `json:"customer_id"` // Shopify's numeric id, as a string (it can exceed 2^53)
	CreatedAt      time.Time  `json:"created_at"`
	SentAt         *time.Time `json:"sent_at"`
	// PossiblyDuplicated: CleverTap may hold this event twice (a lost
	// answer was retried once).
	PossiblyDuplicated bool       `json:"possibly_duplicated"`
	ResponseExcerpt    string     `json:"response_excerpt"`
	NextAttemptAt      *time.Time `json:"next_attempt_at,omitempty"` // pending only
	// Payload is the document sent for a delivery the sink did not
	// confirm (failed, unconfirmed, retrying): what a retry sends again.
	Payload json.RawMessage `json:"payload,omitempty"`
	// Test: a test the merchant sent (SendTest); not in the statistics.
	Test bool `json:"test"`
	// IdentityFallback: sent by the customer's phone number, the customer
	// lacking the common property's value (the integration's fallback).
	IdentityFallback bool `json:"identity_fallback"`
}

func deliveryView(d *store.DeliveryRow) DeliveryView {
	v := DeliveryView{
		ID: d.ID, EventID: d.EventID.String(), Event: d.Event, Integration: d.Integration, Status: d.Status,
		Attempts: d.Attempts, LastStatusCode: d.LastStatusCode, LastError: d.LastError,
		CustomerID: strconv.FormatInt(d.ShopifyCustomerID, 10), CreatedAt: d.CreatedAt, SentAt: d.SentAt,
		PossiblyDuplicated: d.PossiblyDuplicated, ResponseExcerpt: d.ResponseExcerpt, Test: d.Test,
		IdentityFallback: d.IdentityFallback,
	}
	if len(d.LastPayload) > 0 {
		v.Payload = json.RawMessage(d.LastPayload)
	}
	if d.Status == store.DeliveryPending {
		t := d.NextAttemptAt
		v.NextAttemptAt = &t
	}
	return v
}

// query turns a filter into a store query; found is false when the filter
// names an integration the shop does not have (nothing can match).
func (s *Service) query(ctx context.Context, shopID app.ShopID, f DeliveryFilter) (q store.DeliveryQuery, found bool, err error) {
	if f.Status != "" {
		st, err := event.ParseStatus(f.Status)
		if err != nil {
			return q, false, err
		}
		q.Status = string(st)
	}
	if f.Event != "" {
		if !event.Key(f.Event).Valid() {
			return q, false, app.FieldError("event", "Unknown event %q.", f.Event)
		}
		q.Event = f.Event
	}
	if f.CustomerID != "" {
		id, err := strconv.ParseInt(strings.TrimPrefix(f.CustomerID, "gid://shopify/Customer/"), 10, 64)
		if err != nil || id <= 0 {
			return q, false, app.FieldError("customer_id", "customer_id must be a Shopify customer id.")
		}
		q.ShopifyCustomerID = id
	}
	if !f.From.IsZero() && !f.To.IsZero() && f.From.After(f.To) {
		return q, false, app.FieldError("from", "from must not be after to.")
	}
	q.From, q.To, q.Limit, q.Before = f.From, f.To, f.Limit, f.Before
	if f.Integration != "" {
		kind, err := parseKind(f.Integration, "integration")
		if err != nil {
			return q, false, err
		}
		in, err := s.st.Integration(ctx, shopID, kind)
		if app.ErrorCode(err) == app.ENOTFOUND {
			return q, false, nil
		}
		if err != nil {
			return q, false, err
		}
		q.IntegrationID = in.ID
	}
	return q, true, nil
}

// ListDeliveries returns the shop's deliveries matching f, newest first.
func (s *Service) ListDeliveries(ctx context.Context, shopID app.ShopID, f DeliveryFilter) ([]DeliveryView, error) {
	q, found, err := s.query(ctx, shopID, f)
	if err != nil || !found {
		return []DeliveryView{}, err
	}
	rows, err := s.st.Deliveries(ctx, shopID, q)
	if err != nil {
		return nil, err
	}
	out := make([]DeliveryView, len(rows))
	for i := range rows {
		out[i] = deliveryView(&rows[i])
	}
	return out, nil
}

// Retry puts a failed or skipped delivery back to pending with a fresh
// retry budget; runners are woken at once. Any other status is
// ECONFLICT (a sent event is never sent again).
func (s *Service) Retry(ctx context.Context, shopID app.ShopID, id int64) (DeliveryView, error) {
	d, err := s.st.RetryDelivery(ctx, shopID, id)
	if err != nil {
		return DeliveryView{}, err
	}
	return deliveryView(d), nil
}

// RetryAll retries every failed and skipped delivery matching f (a status
// filter must be failed or skipped) and returns how many.
func (s *Service) RetryAll(ctx context.Context, shopID app.ShopID, f DeliveryFilter) (int64, error) {
	if f.Status != "" && f.Status != store.DeliveryFailed && f.Status != store.DeliverySkipped {
		return 0, app.FieldError("status", "Only failed or skipped deliveries can be retried.")
	}
	q, found, err := s.query(ctx, shopID, f)
	if err != nil || !found {
		return 0, err
	}
	return s.st.RetryDeliveries(ctx, shopID, q)
}

// StatsFilter selects what Stats counts.
type StatsFilter struct {
	Integration string // klaviyo, clevertap or "" for both
	Event       string // catalog key or "" for all
	// From and To bound the deliveries' created_at, [From, To). Zero To is
	// now; zero From is 24 hours (hour buckets) or 30 days (day buckets)
	// before To.
	From, To time.Time
	Bucket   string // hour or day (default)
	// Location is the time zone of the buckets; nil means the shop's.
	Location *time.Location
}

// MaxStatsBuckets bounds one Stats answer.
const MaxStatsBuckets = 2000

// StatusCounts counts deliveries per status.
type StatusCounts struct {
	Sent    int64 `json:"sent"`
	Failed  int64 `json:"failed"`
	Skipped int64 `json:"skipped"`
	Pending int64 `json:"pending"`
	Late    int64 `json:"late"`
	// Unconfirmed were handed to the sink, which did not confirm them.
	Unconfirmed int64 `json:"unconfirmed"`
}

// Of returns the count of one delivery status (0 for an unknown one).
func (c StatusCounts) Of(status string) int64 {
	switch status {
	case store.DeliverySent:
		return c.Sent
	case store.DeliveryFailed:
		return c.Failed
	case store.DeliverySkipped:
		return c.Skipped
	case store.DeliveryPending:
		return c.Pending
	case store.DeliveryLate:
		return c.Late
	case store.DeliveryUnconfirmed:
		return c.Unconfirmed
	}
	return 0
}

// Merge adds o's counts to c.
func (c *StatusCounts) Merge(o StatusCounts) {
	c.Sent += o.Sent
	c.Failed += o.Failed
	c.Skipped += o.Skipped
	c.Pending += o.Pending
	c.Late += o.Late
	c.Unconfirmed += o.Unconfirmed
}

func (c *StatusCounts) add(status string, n int64) {
	switch status {
	case store.DeliverySent:
		c.Sent += n
	case store.DeliveryFailed:
		c.Failed += n
	case store.DeliverySkipped:
		c.Skipped += n
	case store.DeliveryPending:
		c.Pending += n
	case store.DeliveryLate:
		c.Late += n
	case store.DeliveryUnconfirmed:
		c.Unconfirmed += n
	}
}

// StatsBucket is one bucket of Stats: deliveries created in [Start, next
// bucket's Start), by status.
type StatsBucket struct {
	Start time.Time `json:"start"`
	StatusCounts
}

// Stats is the answer of GET /api/v1/stats (DESIGN.md §6).
type Stats struct {
	Totals  StatusCounts  `json:"totals"`
	Buckets []StatsBucket `json:"buckets"`
}

// Stats counts the shop's deliveries by status, in total and per hour or
// day of their creation in the shop's time zone (local midnights, so a
// day across a DST change is 23 or 25 hours). Every bucket from the one
// holding From to the one before To is present, empty ones included; the
// first and last may be partly outside [From, To), and only the part
// inside is counted.
func (s *Service) Stats(ctx context.Context, shopID app.ShopID, f StatsFilter) (Stats, error) {
	if f.Bucket == "" {
		f.Bucket = "day"
	}
	if f.Bucket != "hour" && f.Bucket != "day" {
		return Stats{}, app.FieldError("bucket", "bucket must be hour or day.")
	}
	if f.Event != "" && !event.Key(f.Event).Valid() {
		return Stats{}, app.FieldError("event", "Unknown event %q.", f.Event)
	}
	loc := f.Location
	if loc == nil {
		sh, err := s.st.Shop(ctx, shopID)
		if err != nil {
			return Stats{}, err
		}
		loc = sh.Location()
	}
	if f.To.IsZero() {
		f.To = s.now()
	}
	if f.From.IsZero() {
		f.From = f.To.Add(-24 * time.Hour)
		if f.Bucket == "day" {
			f.From = f.To.AddDate(0, 0, -30)
		}
	}
	if f.From.After(f.To) {
		return Stats{}, app.FieldError("from", "from must not be after to.")
	}
	starts, err := bucketStarts(f.From, f.To, f.Bucket, loc)
	if err != nil {
		return Stats{}, err
	}
	out := Stats{Buckets: make([]StatsBucket, len(starts))}
	for i, st := range starts {
		out.Buckets[i].Start = st
	}
	if len(starts) == 0 {
		return out, nil
	}
	var integrationID int64
	if f.Integration != "" {
		kind, err := parseKind(f.Integration, "integration")
		if err != nil {
			return Stats{}, err
		}
		in, err := s.st.Integration(ctx, shopID, kind)
		if app.ErrorCode(err) == app.ENOTFOUND {
			return out, nil
		}
		if err != nil {
			return Stats{}, err
		}
		integrationID = in.ID
	}
	counts, err := s.st.DeliveryCounts(ctx, shopID, store.DeliveryCountsQuery{
		IntegrationID: integrationID, Event: f.Event, From: f.From, To: f.To, Bucket: f.Bucket, TimeZone: loc.String(),
	})
	if err != nil {
		return Stats{}, err
	}
	for _, c := range counts {
		// The database truncated in the same zone; the bucket holding the
		// instant absorbs any disagreement at a DST repeat.
		i := bucketIndex(starts, c.Bucket)
		out.Buckets[i].add(c.Status, c.N)
		out.Totals.add(c.Status, c.N)
	}
	return out, nil
}

// EventStats are the counts of one event sent to one integration.
type EventStats struct {
	Integration string       `json:"integration"`
	Event       string       `json:"event"`
	Totals      StatusCounts `json:"totals"`
}

// StatsByEvent counts the deliveries created in [f.From, f.To) per
// integration and event, optionally narrowed to f.Integration and f.Event,
// with one query. Pairs without deliveries are left out; the order is by
// integration, then event.
func (s *Service) StatsByEvent(ctx context.Context, shopID app.ShopID, f StatsFilter) ([]EventStats, error) {
	if f.Event != "" && !event.Key(f.Event).Valid() {
		return nil, app.FieldError("event", "Unknown event %q.", f.Event)
	}
	if !f.From.IsZero() && !f.To.IsZero() && f.From.After(f.To) {
		return nil, app.FieldError("from", "from must not be after to.")
	}
	var integrationID int64
	if f.Integration != "" {
		kind, err := parseKind(f.Integration, "integration")
		if err != nil {
			return nil, err
		}
		in, err := s.st.Integration(ctx, shopID, kind)
		if app.ErrorCode(err) == app.ENOTFOUND {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		integrationID = in.ID
	}
	counts, err := s.st.DeliveryCountsByEvent(ctx, shopID, store.DeliveryCountsQuery{
		IntegrationID: integrationID, Event: f.Event, From: f.From, To: f.To,
	})
	if err != nil {
		return nil, err
	}
	var out []EventStats
	for _, c := range counts {
		if n := len(out); n == 0 || out[n-1].Integration != c.Kind || out[n-1].Event != c.Event {
			out = append(out, EventStats{Integration: c.Kind, Event: c.Event})
		}
		out[len(out)-1].Totals.add(c.Status, c.N)
	}
	return out, nil
}

// bucketStarts returns the starts of the buckets covering [from, to) in
// loc: local hours or local midnights.
func bucketStarts(from, to time.Time, bucket string, loc *time.Location) ([]time.Time, error) {
	if !from.Before(to) {
		return []time.Time{}, nil
	}
	l := from.In(loc)
	var start time.Time
	if bucket == "hour" {
		start = time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), 0, 0, 0, loc)
		if start.After(from) { // a DST gap or repeat moved it: step back
			start = start.Add(-time.Hour)
		}
	} else {
		start = time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
	}
	out := []time.Time{}
	for t := start; t.Before(to); t = nextBucket(t, bucket, loc) {
		if len(out) == MaxStatsBuckets {
			return nil, app.FieldError("bucket", "The range holds more than %d %s buckets: choose a shorter range or day buckets.", MaxStatsBuckets, bucket)
		}
		out = append(out, t)
	}
	return out, nil
}

func nextBucket(t time.Time, bucket string, loc *time.Location) time.Time {
	if bucket == "hour" {
		return t.Add(time.Hour)
	}
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day()+1, 0, 0, 0, 0, loc)
}

// bucketIndex returns the index of the bucket holding t (starts are
// ascending and t is at or after the first).
func bucketIndex(starts []time.Time, t time.Time) int {
	i := sort.Search(len(starts), func(i int) bool { return starts[i].After(t) }) - 1
	return max(i, 0)
}

package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/perkbridge/perkbridge/app"
)

// Delivery statuses, the values of deliveries.status (event.Status).
const (
	DeliveryPending = "pending"
	DeliverySent    = "sent"
	DeliveryFailed  = "failed"
	DeliverySkipped = "skipped"
	DeliveryLate    = "late"
	// DeliveryUnconfirmed: handed to the sink, which did not confirm this
	// event (a Klaviyo bulk job; a CleverTap answer that does not add up).
	DeliveryUnconfirmed = "unconfirmed"
)

// Delivery is one loyalty event's delivery to one integration.
type Delivery struct {
	ID                int64 `gorm:"primaryKey"`
	ShopID            app.ShopID
	IntegrationID     int64
	DefinitionID      *int64
	EventID           uuid.UUID
	Event             string
	CustomerID        int64
	ShopifyCustomerID int64
	Status            string
	Attempts          int
	LastStatusCode    *int
	LastError         string
	ResponseExcerpt   string
	// LastPayload is the document last sent for a delivery the sink did
	// not confirm (failed, unconfirmed, retrying), or for a test; nil
	// once a real one is confirmed.
	LastPayload []byte
	// Test marks a test the merchant sent (not counted in statistics).
	Test bool
	// IdentityFallback: sent by phone number, the customer lacking the
	// common property's value.
	IdentityFallback   bool
	PossiblyDuplicated bool
	NextAttemptAt      time.Time
	LeaseUntil         *time.Time
	CreatedAt          time.Time
	SentAt             *time.Time
	UpdatedAt          time.Time
}

// TableName implements gorm's tabler.
func (Delivery) TableName() string { return "deliveries" }

// routeSQL inserts the deliveries of the events in ev (a CTE yielding
// loyalty_events rows) for every enabled definition that matches the event
// key and sales channel, to integrations that are connected (paused ones
// included: their events wait), and marks the customers' profiles dirty
// for every connected integration of the shop. It yields the number of
// deliveries inserted and notifies DeliveriesChannel when there are any.
const routeSQL = `
ins AS (
    INSERT INTO deliveries (shop_id, integration_id, definition_id, event_id, event, customer_id, shopify_customer_id)
    SELECT e.shop_id, i.id, d.id, e.id, e.key, e.customer_id, e.shopify_customer_id
    FROM ev e
    JOIN event_definitions d ON d.shop_id = e.shop_id AND d.event = e.key AND d.enabled
         AND (cardinality(d.channels) = 0 OR e.channel = ANY (d.channels))
    JOIN integrations i ON i.id = d.integration_id AND i.shop_id = e.shop_id AND i.status <> 'not_connected'
    ORDER BY e.seq, i.id
    ON CONFLICT (shop_id, integration_id, event_id) DO NOTHING
    RETURNING 1
), dirty AS (
    INSERT INTO profile_syncs (integration_id, shop_id, customer_id)
    SELECT DISTINCT i.id, i.shop_id, e.customer_id
    FROM ev e JOIN integrations i ON i.shop_id = e.shop_id AND i.status <> 'not_connected'
    ORDER BY 1, 3
    ON CONFLICT (shop_id, integration_id, customer_id) DO UPDATE SET
        version = profile_syncs.version + 1,
        next_attempt_at = CASE WHEN profile_syncs.version = profile_syncs.synced_version THEN now()
                               ELSE profile_syncs.next_attempt_at END,
        updated_at = now()
    RETURNING 1
), counted AS (
    SELECT (SELECT count(*) FROM ins) AS n, (SELECT count(*) FROM dirty) AS p
)
SELECT n, CASE WHEN n + p > 0 THEN pg_notify(?, ?) END AS notified FROM counted`

// RouteEvents creates the deliveries of the shop's loyalty events ids, in
// one statement: one row per (integration, event) for every enabled event
// definition matching the event key and, when the definition names
// channels, the event's sales channel. Call it in the transaction that
// inserts the events, so the deliveries commit with them; runners are
// notified at commit. Routing an event again inserts nothing (the natural
// key is integration and event). Ids of other shops are ignored. It
// returns the number of deliveries created.
//
// Inside an inbox batch (WithBatchReads) the events are only collected,
// and the claimer routes the whole batch's at its end with
// RouteBatchEvents, still in the batch's transaction; it then returns 0.
func (s *Store) RouteEvents(ctx context.Context, shopID app.ShopID, eventIDs []uuid.UUID) (int64, error) {
	if len(eventIDs) == 0 {
		return 0, nil
	}
	if s.reads != nil {
		s.reads.routes[shopID] = append(s.reads.routes[shopID], eventIDs...)
		return 0, nil
	}
	return s.routeEvents(ctx, shopID, eventIDs)
}

func (s *Store) routeEvents(ctx context.Context, shopID app.ShopID, eventIDs []uuid.UUID) (int64, error) {
	ids := make(StringArray, len(eventIDs))
	for i, id := range eventIDs {
		ids[i] = id.String()
	}
	var row struct{ N int64 }
	err := s.db.WithContext(ctx).Raw(`WITH ev AS (
    SELECT * FROM loyalty_events WHERE id = ANY (?::uuid[]) AND shop_id = ?
), `+routeSQL, ids, shopID, DeliveriesChannel, "shop:"+strconv.FormatInt(int64(shopID), 10)).Scan(&row).Error
	if err != nil {
		return 0, fmt.Errorf("store: route events: %w", formatError(err))
	}
	return row.N, nil
}

// RouteUnrouted is the backstop sweep of RouteEvents: it routes the shop's
// events written since since that have no delivery for a definition that
// already existed, unchanged, when the event was written (d.updated_at <=
// e.created_at). Such an event should have been routed by its own
// transaction; a code path that forgot is repaired here. Definitions are
// never retroactive: an event older than its definition, or than its last
// change (enabling it, changing its channels), stays unrouted by design, so
// creating or re-enabling a definition does not replay history into the
// sink. It returns the number of deliveries created.
func (s *Store) RouteUnrouted(ctx context.Context, shopID app.ShopID, since time.Time) (int64, error) {
	var row struct{ N int64 }
	err := s.db.WithContext(ctx).Raw(`WITH ev AS (
    SELECT e.* FROM loyalty_events e
    WHERE e.shop_id = ? AND e.created_at >= ? AND NOT e.test
      AND EXISTS (
        SELECT 1 FROM event_definitions d
        JOIN integrations i ON i.id = d.integration_id AND i.status <> 'not_connected'
        WHERE d.shop_id = e.shop_id AND d.event = e.key AND d.enabled AND d.updated_at <= e.created_at
          AND (cardinality(d.channels) = 0 OR e.channel = ANY (d.channels))
          AND NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.shop_id = e.shop_id AND x.integration_id = d.integration_id AND x.event_id = e.id))
), `+strings.Replace(routeSQL, "AND d.enabled", "AND d.enabled AND d.updated_at <= e.created_at", 1),
		shopID, since, DeliveriesChannel, "shop:"+strconv.FormatInt(int64(shopID), 10)).Scan(&row).Error
	if err != nil {
		return 0, fmt.Errorf("store: route unrouted events: %w", formatError(err))
	}
	return row.N, nil
}

// SweepShop is a shop the routing sweep looks at, from Since.
type SweepShop struct {
	ID    app.ShopID
	Since time.Time
}

// ShopsToSweep returns the shops with an enabled event definition and
// loyalty events written since their sweep mark (shops.routing_swept_until)
// less window, or since now less window before their first sweep; Since
// is where the sweep of each starts.
func (s *Store) ShopsToSweep(ctx context.Context, now time.Time, window time.Duration) ([]SweepShop, error) {
	var out []SweepShop
	err := s.db.WithContext(ctx).Raw(`SELECT id, since FROM (
    SELECT sh.id, coalesce(sh.routing_swept_until, ?::timestamptz) - make_interval(secs => ?) AS since
    FROM shops sh
    WHERE EXISTS (SELECT 1 FROM event_definitions d WHERE d.shop_id = sh.id AND d.enabled)
) x WHERE EXISTS (SELECT 1 FROM loyalty_events e WHERE e.shop_id = x.id AND e.created_at >= x.since)
ORDER BY id`, now, window.Seconds()).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: shops to sweep: %w", formatError(err))
	}
	return out, nil
}

// MarkSwept records that the routing sweep covered every shop with an
// enabled definition up to at.
func (s *Store) MarkSwept(ctx context.Context, at time.Time) error {
	s.ForgetBatchReads() // a write to a shop or a program
	err := s.db.WithContext(ctx).Exec(`UPDATE shops sh SET routing_swept_until = ?
WHERE EXISTS (SELECT 1 FROM event_definitions d WHERE d.shop_id = sh.id AND d.enabled)
  AND (routing_swept_until IS NULL OR routing_swept_until < ?)`, at, at).Error
	if err != nil {
		return fmt.Errorf("store: mark swept: %w", formatError(err))
	}
	return nil
}

// DeliveryQuery narrows Deliveries and RetryDeliveries. Zero fields do not
// filter.
type DeliveryQuery struct {
	Status            string
	Event             string
	IntegrationID     int64
	ShopifyCustomerID int64
	From, To          time.Time // created_at in [From, To)
	Before            int64     // id below, for paging newest first
	Limit             int       // ≤ 0: 50; at most 500
	ExcludeTests      bool      // leave out the merchant's tests (statistics)
}

// DeliveryRow is a delivery with its integration's kind.
type DeliveryRow struct {
	Delivery
	Integration string
}

func (q DeliveryQuery) where(shopID app.ShopID) (string, []any) {
	conds := []string{"d.shop_id = ?"}
	args := []any{shopID}
	add := func(c string, v any) { conds = append(conds, c); args = append(args, v) }
	if q.Status != "" {
		add("d.status = ?", q.Status)
	}
	if q.Event != "" {
		add("d.event = ?", q.Event)
	}
	if q.IntegrationID != 0 {
		add("d.integration_id = ?", q.IntegrationID)
	}
	if q.ShopifyCustomerID != 0 {
		add("d.shopify_customer_id = ?", q.ShopifyCustomerID)
	}
	if !q.From.IsZero() {
		add("d.created_at >= ?", q.From)
	}
	if !q.To.IsZero() {
		add("d.created_at < ?", q.To)
	}
	if q.Before > 0 {
		add("d.id < ?", q.Before)
	}
	if q.ExcludeTests {
		conds = append(conds, "NOT d.test")
	}
	return strings.Join(conds, " AND "), args
}

// rollupWhere is where for delivery_stats_hourly (alias h): the counts of
// expired deliveries. Only the filters statistics use apply; an hour
// counts in [From, To) by its start.
func (q DeliveryQuery) rollupWhere(shopID app.ShopID) (string, []any) {
	conds := []string{"h.shop_id = ?"}
	args := []any{shopID}
	add := func(c string, v any) { conds = append(conds, c); args = append(args, v) }
	if q.Status != "" {
		add("h.status = ?", q.Status)
	}
	if q.Event != "" {
		add("h.event = ?", q.Event)
	}
	if q.IntegrationID != 0 {
		add("h.integration_id = ?", q.IntegrationID)
	}
	if !q.From.IsZero() {
		add("h.hour >= ?", q.From)
	}
	if !q.To.IsZero() {
		add("h.hour < ?", q.To)
	}
	return strings.Join(conds, " AND "), args
}

// Deliveries returns the shop's deliveries matching q, newest first.
func (s *Store) Deliveries(ctx context.Context, shopID app.ShopID, q DeliveryQuery) ([]DeliveryRow, error) {
	if q.Limit <= 0 {
		q.Limit = 50
	}
	q.Limit = min(q.Limit, 500)
	where, args := q.where(shopID)
	var out []DeliveryRow
	err := s.db.WithContext(ctx).Raw(`SELECT d.*, i.kind AS integration FROM deliveries d
JOIN integrations i ON i.id = d.integration_id
WHERE `+where+` ORDER BY d.id DESC LIMIT ?`, append(args, q.Limit)...).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: deliveries: %w", formatError(err))
	}
	return out, nil
}

// DeliveryByID returns one of the shop's deliveries.
func (s *Store) DeliveryByID(ctx context.Context, shopID app.ShopID, id int64) (*DeliveryRow, error) {
	var out []DeliveryRow
	err := s.db.WithContext(ctx).Raw(`SELECT d.*, i.kind AS integration FROM deliveries d
JOIN integrations i ON i.id = d.integration_id WHERE d.shop_id = ? AND d.id = ?`, shopID, id).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: delivery: %w", formatError(err))
	}
	if len(out) == 0 {
		return nil, app.Errorf(app.ENOTFOUND, "No such delivery.")
	}
	return &out[0], nil
}

// retrySet is the SET clause of a retry by the merchant: pending now, with
// a fresh retry budget. possibly_duplicated stays: it is history.
const retrySet = `status = 'pending', attempts = 0, next_attempt_at = now(), lease_until = NULL, sent_at = NULL, updated_at = now()`

// RetryDelivery puts one of the shop's failed, skipped or unconfirmed
// deliveries back to pending, due now (an unconfirmed one only when the
// merchant found it missing at the sink). Any other status is ECONFLICT.
func (s *Store) RetryDelivery(ctx context.Context, shopID app.ShopID, id int64) (*DeliveryRow, error) {
	res := s.db.WithContext(ctx).Exec(`UPDATE deliveries SET `+retrySet+`
WHERE shop_id = ? AND id = ? AND status IN ('failed', 'skipped', 'unconfirmed')`, shopID, id)
	if res.Error != nil {
		return nil, fmt.Errorf("store: retry delivery: %w", formatError(res.Error))
	}
	d, err := s.DeliveryByID(ctx, shopID, id)
	if err != nil {
		return nil, err
	}
	if res.RowsAffected == 0 {
		if d.Status == DeliveryPending {
			return nil, app.Errorf(app.ECONFLICT, "The delivery is already pending.")
		}
		return nil, app.Errorf(app.ECONFLICT, "The delivery was already sent (%s); it cannot be retried.", d.Status)
	}
	return d, s.notifyDeliveries(ctx, "retry:"+strconv.FormatInt(id, 10))
}

// RetryDeliveries puts the shop's failed and skipped deliveries matching q
// back to pending (q.Status, when set, must be failed or skipped; Limit and
// Before are ignored). It returns how many.
func (s *Store) RetryDeliveries(ctx context.Context, shopID app.ShopID, q DeliveryQuery) (int64, error) {
	q.Before = 0
	where, args := q.where(shopID)
	res := s.db.WithContext(ctx).Exec(`UPDATE deliveries d SET `+retrySet+`
WHERE `+where+` AND d.status IN ('failed', 'skipped')`, args...)
	if res.Error != nil {
		return 0, fmt.Errorf("store: retry deliveries: %w", formatError(res.Error))
	}
	if res.RowsAffected > 0 {
		if err := s.notifyDeliveries(ctx, "retry:all"); err != nil {
			return 0, err
		}
	}
	return res.RowsAffected, nil
}

// DeliveryCountsQuery selects the deliveries Stats counts.
type DeliveryCountsQuery struct {
	IntegrationID int64
	Event         string
	From, To      time.Time // created_at in [From, To)
	Bucket        string    // "hour" or "day": date_trunc unit
	TimeZone      string    // IANA name the buckets follow
}

// DeliveryCount is the number of deliveries in one status created in the
// bucket starting at Bucket.
type DeliveryCount struct {
	Bucket time.Time
	Status string
	N      int64
}

// DeliveryCounts counts the shop's deliveries per bucket of created_at (in
// the time zone) and status.
func (s *Store) DeliveryCounts(ctx context.Context, shopID app.ShopID, q DeliveryCountsQuery) ([]DeliveryCount, error) {
	if q.Bucket != "hour" && q.Bucket != "day" {
		return nil, app.FieldError("bucket", "Bucket must be hour or day.")
	}
	dq := DeliveryQuery{IntegrationID: q.IntegrationID, Event: q.Event, From: q.From, To: q.To, ExcludeTests: true}
	where, args := dq.where(shopID)
	hwhere, hargs := dq.rollupWhere(shopID)
	var out []DeliveryCount
	all := append([]any{q.Bucket, q.TimeZone}, args...)
	all = append(append(all, q.Bucket, q.TimeZone), hargs...)
	err := s.db.WithContext(ctx).Raw(`SELECT bucket, status, sum(n)::bigint AS n FROM (
    SELECT date_trunc(?, d.created_at, ?) AS bucket, d.status, count(*) AS n
    FROM deliveries d WHERE `+where+` GROUP BY 1, 2
    UNION ALL
    SELECT date_trunc(?, h.hour, ?), h.status, sum(h.n)
    FROM delivery_stats_hourly h WHERE `+hwhere+` GROUP BY 1, 2
) x GROUP BY 1, 2 ORDER BY 1, 2`, all...).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: delivery counts: %w", formatError(err))
	}
	return out, nil
}

// EventDeliveryCount is the number of deliveries of one event to one
// integration (by kind) in one status.
type EventDeliveryCount struct {
	Kind   string
	Event  string
	Status string
	N      int64
}

// DeliveryCountsByEvent counts the shop's deliveries created in [From, To)
// per integration, event and status, in one query (the statistics table).
// q.Bucket and q.TimeZone are not used.
func (s *Store) DeliveryCountsByEvent(ctx context.Context, shopID app.ShopID, q DeliveryCountsQuery) ([]EventDeliveryCount, error) {
	dq := DeliveryQuery{IntegrationID: q.IntegrationID, Event: q.Event, From: q.From, To: q.To, ExcludeTests: true}
	where, args := dq.where(shopID)
	hwhere, hargs := dq.rollupWhere(shopID)
	var out []EventDeliveryCount
	err := s.db.WithContext(ctx).Raw(`SELECT i.kind, x.event, x.status, sum(x.n)::bigint AS n FROM (
    SELECT d.integration_id, d.event, d.status, count(*) AS n
    FROM deliveries d WHERE `+where+` GROUP BY 1, 2, 3
    UNION ALL
    SELECT h.integration_id, h.event, h.status, sum(h.n)
    FROM delivery_stats_hourly h WHERE `+hwhere+` GROUP BY 1, 2, 3
) x JOIN integrations i ON i.id = x.integration_id AND i.shop_id = ?
GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, append(append(args, hargs...), shopID)...).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: delivery counts by event: %w", formatError(err))
	}
	return out, nil
}

// The runner's side. These methods work across shops: a runner serves
// every shop, and each row it touches carries its shop id.

// DueIntegration is an active integration of an installed shop with work
// due now.
type DueIntegration struct {
	Integration
	ShopDomain  string
	DueEvents   bool
	DueProfiles bool
}

// DueIntegrations returns the active integrations of installed shops that
// have pending deliveries or profile syncs due now.
func (s *Store) DueIntegrations(ctx context.Context) ([]DueIntegration, error) {
	var out []DueIntegration
	err := s.db.WithContext(ctx).Raw(`
SELECT * FROM (
    SELECT i.*, sh.domain AS shop_domain,
        EXISTS (SELECT 1 FROM deliveries d WHERE d.integration_id = i.id AND d.status = 'pending' AND d.next_attempt_at <= now()) AS due_events,
        EXISTS (SELECT 1 FROM profile_syncs p WHERE p.integration_id = i.id AND p.version > p.synced_version AND p.next_attempt_at <= now()) AS due_profiles
    FROM integrations i JOIN shops sh ON sh.id = i.shop_id
    WHERE i.status = 'active' AND sh.state = 'active'
) x WHERE due_events OR due_profiles ORDER BY id`).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: due integrations: %w", formatError(err))
	}
	return out, nil
}

// DueDeliveries counts the due pending deliveries of one integration, up
// to limit, and how long the longest due of them has been due (0 when
// none is).
func (s *Store) DueDeliveries(ctx context.Context, integrationID int64, limit int) (int, time.Duration, error) {
	var row struct {
		N     int
		DueMs float64
	}
	err := s.db.WithContext(ctx).Raw(`
SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(next_attempt_at)) * 1000, 0) AS due_ms FROM (
    SELECT next_attempt_at FROM deliveries
    WHERE integration_id = ? AND status = 'pending' AND next_attempt_at <= now()
    ORDER BY next_attempt_at, id
    LIMIT ?
) x`, integrationID, limit).Scan(&row).Error
	if err != nil {
		return 0, 0, fmt.Errorf("store: due deliveries: %w", formatError(err))
	}
	return row.N, time.Duration(row.DueMs * float64(time.Millisecond)), nil
}

// ClaimedDelivery is a delivery a runner holds, with what sending it
// needs: the event, the definition's name and the customer's identity.
type ClaimedDelivery struct {
	ID                 int64
	ShopID             app.ShopID
	IntegrationID      int64
	EventID            uuid.UUID
	Event              string
	CustomerID         int64
	ShopifyCustomerID  int64
	Attempts           int // after the claim: the guard of the outcome
	PossiblyDuplicated bool
	// PrevLease is set when the previous holder's lease expired without an
	// outcome (it crashed, or lost the database): it may have sent.
	PrevLease *time.Time
	CreatedAt time.Time
	// Test: a test the merchant sent; its payload is kept whatever the
	// outcome.
	Test bool
	// CurrentState: the event's balance and tier are still the customer's
	// (no later change), so the event may set them on the profile too.
	CurrentState bool
	// Name is the metric (event) name: the definition's, else the key.
	Name          string
	OccurredAt    time.Time
	Channel       string
	Properties    json.RawMessage
	PointsBalance int64
	Tier          string
	Currency      string
	// The customer row.
	CustomerGID string `gorm:"column:customer_gid"`
	Email       string
	Phone       string
	Metafields  json.RawMessage
}

// ClaimDeliveries leases up to limit due pending deliveries of one
// integration for lease: it commits attempts + 1 and moves next_attempt_at
// to the end of the lease, so the rows are invisible to other runners
// (SKIP LOCKED while the claim runs, not due afterwards) and come back by
// themselves if this runner dies. Send, then RecordDeliveryOutcomes; never
// hold a transaction across the HTTP call.
func (s *Store) ClaimDeliveries(ctx context.Context, integrationID int64, limit int, lease time.Duration) ([]ClaimedDelivery, error) {
	var out []ClaimedDelivery
	err := s.db.WithContext(ctx).Raw(`
WITH c AS (
    SELECT id, lease_until AS prev_lease FROM deliveries
    WHERE integration_id = ? AND status = 'pending' AND next_attempt_at <= now()
    ORDER BY next_attempt_at, id
    LIMIT ?
    FOR UPDATE SKIP LOCKED
), u AS (
    UPDATE deliveries d SET attempts = d.attempts + 1,
        lease_until = now() + make_interval(secs => ?), next_attempt_at = now() + make_interval(secs => ?), updated_at = now()
    FROM c WHERE d.id = c.id
    RETURNING d.id, d.shop_id, d.integration_id, d.definition_id, d.event_id, d.event, d.customer_id, d.shopify_customer_id,
        d.attempts, d.possibly_duplicated, d.created_at, d.test, c.prev_lease
)
SELECT u.id, u.shop_id, u.integration_id, u.event_id, u.event, u.customer_id, u.shopify_customer_id, u.attempts,
    u.possibly_duplicated, u.prev_lease, u.created_at, u.test,
    coalesce(df.name, u.event) AS name,
    e.occurred_at, e.channel, e.properties, e.points_balance, e.tier, e.currency,
    cu.gid AS customer_gid, cu.email, cu.phone, cu.metafields,
    la.points_balance IS NOT NULL AND la.points_balance = e.points_balance AND la.tier_key = e.tier AS current_state
FROM u
JOIN loyalty_events e ON e.id = u.event_id
JOIN customers cu ON cu.id = u.customer_id
LEFT JOIN loyalty_accounts la ON la.customer_id = u.customer_id
LEFT JOIN event_definitions df ON df.id = u.definition_id
ORDER BY e.occurred_at, e.seq`, integrationID, limit, lease.Seconds(), lease.Seconds()).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: claim deliveries: %w", formatError(err))
	}
	return out, nil
}

// DeliveryOutcome is what became of one claimed delivery.
type DeliveryOutcome struct {
	ID       int64  `json:"id"`
	Attempts int    `json:"attempts"` // ClaimedDelivery.Attempts: the outcome applies only if still held
	Status   string `json:"status"`   // pending (retry at NextAttemptAt), sent, late, failed or skipped
	// Uncount gives the attempt back (throttled, paused, or an innocent
	// item of a rejected bulk request): it does not spend the retry budget.
	Uncount bool `json:"uncount"`
	// Release gives the row back untouched (it was not sent): pending, due
	// at NextAttemptAt, attempt given back, last answer kept.
	Release            bool      `json:"release"`
	NextAttemptAt      time.Time `json:"next_attempt_at"`
	StatusCode         int       `json:"status_code"` // 0: none (no answer)
	Error              string    `json:"error"`
	Excerpt            string    `json:"excerpt"`
	PossiblyDuplicated bool      `json:"possibly_duplicated"` // set the flag (it is never cleared)
	// Payload is the document sent to the sink, kept for outcomes the
	// sink did not confirm (nil clears it: a confirmed send needs none).
	Payload json.RawMessage `json:"payload,omitempty"`
	// IdentityFallback: sent by phone number, the customer lacking the
	// common property's value.
	IdentityFallback bool `json:"identity_fallback"`
}

// RecordDeliveryOutcomes writes outcomes in one statement and releases the
// leases. An outcome whose delivery is no longer held with the same attempt
// count (the lease expired and another runner took it) is not applied. It
// returns how many were applied.
func (s *Store) RecordDeliveryOutcomes(ctx context.Context, outs []DeliveryOutcome) (int64, error) {
	if len(outs) == 0 {
		return 0, nil
	}
	for i := range outs {
		outs[i].Excerpt = clip(textOnly(outs[i].Excerpt), 512)
		outs[i].Error = clip(textOnly(outs[i].Error), 2000)
		if outs[i].NextAttemptAt.IsZero() {
			outs[i].NextAttemptAt = time.Now()
		}
	}
	doc, err := json.Marshal(outs)
	if err != nil {
		return 0, fmt.Errorf("store: record deliveries: %w", err)
	}
	res := s.db.WithContext(ctx).Exec(`
UPDATE deliveries d SET
    status = v.status,
    attempts = d.attempts - CASE WHEN v.uncount OR v.release THEN 1 ELSE 0 END,
    next_attempt_at = v.next_attempt_at,
    lease_until = NULL,
    last_status_code = CASE WHEN v.release THEN d.last_status_code ELSE nullif(v.status_code, 0) END,
    last_error = CASE WHEN v.release THEN d.last_error ELSE v.error END,
    response_excerpt = CASE WHEN v.release THEN d.response_excerpt ELSE v.excerpt END,
    possibly_duplicated = d.possibly_duplicated OR v.possibly_duplicated,
    last_payload = CASE WHEN v.release THEN d.last_payload ELSE v.payload END,
    identity_fallback = CASE WHEN v.release THEN d.identity_fallback ELSE v.identity_fallback END,
    sent_at = CASE WHEN v.status IN ('sent', 'late', 'unconfirmed') THEN now() ELSE NULL END,
    updated_at = now()
FROM jsonb_to_recordset(?::jsonb) AS v(id bigint, attempts integer, status text, uncount boolean, release boolean,
    next_attempt_at timestamptz, status_code integer, error text, excerpt text, possibly_duplicated boolean, payload jsonb,
    identity_fallback boolean)
WHERE d.id = v.id AND d.attempts = v.attempts AND d.status = 'pending'`, string(doc))
	if res.Error != nil {
		return 0, fmt.Errorf("store: record deliveries: %w", formatError(res.Error))
	}
	return res.RowsAffected, nil
}

// CacheCustomerIdentity stores what the Shopify GraphQL API told about a
// customer (DESIGN.md §4): an email or phone fills an empty column (what a
// customers/* webhook wrote stays), metafields are merged.
func (s *Store) CacheCustomerIdentity(ctx context.Context, shopID app.ShopID, customerID int64, email, phone string, metafields map[string]string) error {
	if metafields == nil {
		metafields = map[string]string{}
	}
	mf, _ := json.Marshal(metafields)
	err := s.db.WithContext(ctx).Exec(`UPDATE customers SET
    email = CASE WHEN email = '' THEN ? ELSE email END,
    phone = CASE WHEN phone = '' THEN ? ELSE phone END,
    metafields = metafields || ?::jsonb, updated_at = now()
WHERE shop_id = ? AND id = ?`, strings.TrimSpace(email), strings.TrimSpace(phone), string(mf), shopID, customerID).Error
	if err != nil {
		return fmt.Errorf("store: cache customer identity: %w", formatError(err))
	}
	return nil
}

// textOnly makes s storable as PostgreSQL text: valid UTF-8 without NUL
// (a sink's body excerpt can hold anything).
func textOnly(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

// clip returns at most n bytes of s, cut on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// CountFallbackDeliveries counts the shop's deliveries to its integration
// of kind created since since that reached the customer by phone number
// (identity_fallback), tests left out.
func (s *Store) CountFallbackDeliveries(ctx context.Context, shopID app.ShopID, kind string, since time.Time) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Raw(`SELECT count(*) FROM deliveries d JOIN integrations i ON i.id = d.integration_id AND i.shop_id = d.shop_id
WHERE d.shop_id = ? AND i.kind = ? AND d.created_at >= ? AND d.identity_fallback AND NOT d.test`, shopID, kind, since).Scan(&n).Error
	if err != nil {
		return 0, fmt.Errorf("store: count fallback deliveries: %w", formatError(err))
	}
	return n, nil
}

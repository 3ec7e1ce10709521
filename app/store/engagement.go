package store

import (
	"context"
	"fmt"
	"time"

	"github.com/perkbridge/perkbridge/app"
)

// Engagement read back from the sinks (migration 00061): opens and clicks
// per integration, event and local day of the shop.

// EngagementDay is one cached day of one event's engagement. Day is a
// calendar date (midnight UTC carrying the shop's local date).
type EngagementDay struct {
	IntegrationID int64
	Event         string
	Day           time.Time
	Opened        int64
	Clicked       int64
	Final         bool
	RefreshedAt   time.Time
}

// EngagementDays returns the shop's cached days of integrationID in
// [from, to] (dates), by event and day.
func (s *Store) EngagementDays(ctx context.Context, shopID app.ShopID, integrationID int64, from, to time.Time) ([]EngagementDay, error) {
	var out []EngagementDay
	err := s.db.WithContext(ctx).Raw(`SELECT integration_id, event, day, opened, clicked, final, refreshed_at
FROM engagement_daily WHERE shop_id = ? AND integration_id = ? AND day BETWEEN ?::date AND ?::date
ORDER BY event, day`, shopID, integrationID, dateOnly(from), dateOnly(to)).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: engagement days: %w", formatError(err))
	}
	return out, nil
}

// SaveEngagementDays upserts days of the shop's integration. A day already
// final is left as it is: it was read when its numbers could no longer
// change, and a concurrent refresh must not replace it.
func (s *Store) SaveEngagementDays(ctx context.Context, shopID app.ShopID, days []EngagementDay) error {
	if len(days) == 0 {
		return nil
	}
	for start := 0; start < len(days); start += 1000 {
		chunk := days[start:min(start+1000, len(days))]
		ints := make([]string, len(chunk))
		events := make([]string, len(chunk))
		dates := make([]string, len(chunk))
		opened := make([]string, len(chunk))
		clicked := make([]string, len(chunk))
		finals := make([]string, len(chunk))
		at := make([]string, len(chunk))
		for i, d := range chunk {
			ints[i] = fmt.Sprint(d.IntegrationID)
			events[i] = d.Event
			dates[i] = dateOnly(d.Day)
			opened[i] = fmt.Sprint(d.Opened)
			clicked[i] = fmt.Sprint(d.Clicked)
			finals[i] = fmt.Sprint(d.Final)
			at[i] = d.RefreshedAt.UTC().Format(time.RFC3339Nano)
		}
		err := s.db.WithContext(ctx).Exec(`INSERT INTO engagement_daily AS e (shop_id, integration_id, event, day, opened, clicked, final, refreshed_at)
SELECT ?, x.i, x.ev, x.d, x.o, x.c, x.f, x.at
FROM unnest(?::bigint[], ?::text[], ?::date[], ?::bigint[], ?::bigint[], ?::boolean[], ?::timestamptz[]) AS x(i, ev, d, o, c, f, at)
ON CONFLICT (shop_id, integration_id, event, day) DO UPDATE
SET opened = EXCLUDED.opened, clicked = EXCLUDED.clicked, final = EXCLUDED.final, refreshed_at = EXCLUDED.refreshed_at
WHERE NOT e.final`, shopID, StringArray(ints), StringArray(events), StringArray(dates), StringArray(opened),
			StringArray(clicked), StringArray(finals), StringArray(at)).Error
		if err != nil {
			return fmt.Errorf("store: save engagement days: %w", formatError(err))
		}
	}
	return nil
}

// EngagementCount is the engagement of one event on one day, summed over
// the integrations asked for.
type EngagementCount struct {
	Event   string
	Day     time.Time
	Opened  int64
	Clicked int64
}

// EngagementCounts returns the shop's cached engagement of the days in
// [from, to] (dates), for one integration (0: every one) and one event
// ("": every one), by event and day.
func (s *Store) EngagementCounts(ctx context.Context, shopID app.ShopID, integrationID int64, event string, from, to time.Time) ([]EngagementCount, error) {
	var out []EngagementCount
	err := s.db.WithContext(ctx).Raw(`SELECT event, day, sum(opened) AS opened, sum(clicked) AS clicked
FROM engagement_daily
WHERE shop_id = ? AND day BETWEEN ?::date AND ?::date AND (? = 0 OR integration_id = ?) AND (? = '' OR event = ?)
GROUP BY event, day ORDER BY event, day`, shopID, dateOnly(from), dateOnly(to), integrationID, integrationID, event, event).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: engagement counts: %w", formatError(err))
	}
	return out, nil
}

// EngagementRefresh is the last refresh of one integration's engagement.
type EngagementRefresh struct {
	ShopID        app.ShopID
	IntegrationID int64
	RefreshedAt   *time.Time // the last success
	AttemptedAt   time.Time
	LastError     string // why the last attempt failed; "" when it succeeded
	Flows         int    // flows found on the app's metrics at the last success
}

// TableName implements gorm's tabler.
func (EngagementRefresh) TableName() string { return "engagement_refreshes" }

// EngagementRefreshOf returns the shop's last refresh of integrationID,
// ENOTFOUND when there was none.
func (s *Store) EngagementRefreshOf(ctx context.Context, shopID app.ShopID, integrationID int64) (*EngagementRefresh, error) {
	var r EngagementRefresh
	err := s.db.WithContext(ctx).Where("shop_id = ? AND integration_id = ?", shopID, integrationID).Take(&r).Error
	if err != nil {
		return nil, fmt.Errorf("store: engagement refresh: %w", formatError(err))
	}
	return &r, nil
}

// RecordEngagementRefresh records an attempt at at: a success (errText
// "") moves refreshed_at; a failure keeps the last success and says why.
func (s *Store) RecordEngagementRefresh(ctx context.Context, shopID app.ShopID, integrationID int64, at time.Time, errText string, flows int) error {
	err := s.db.WithContext(ctx).Exec(`INSERT INTO engagement_refreshes AS r (shop_id, integration_id, refreshed_at, attempted_at, last_error, flows)
VALUES (?, ?, CASE WHEN ? = '' THEN ?::timestamptz END, ?, ?, ?)
ON CONFLICT (shop_id, integration_id) DO UPDATE SET
    refreshed_at = coalesce(EXCLUDED.refreshed_at, r.refreshed_at),
    attempted_at = EXCLUDED.attempted_at,
    last_error = EXCLUDED.last_error,
    flows = CASE WHEN EXCLUDED.last_error = '' THEN EXCLUDED.flows ELSE r.flows END`,
		shopID, integrationID, errText, at, at, errText, flows).Error
	if err != nil {
		return fmt.Errorf("store: record engagement refresh: %w", formatError(err))
	}
	return nil
}

// EngagementIntegration is an active integration of an installed shop, for
// the periodic refresh.
type EngagementIntegration struct {
	ShopID        app.ShopID
	IntegrationID int64
	Kind          string
}

// EngagementIntegrations returns every active integration of an installed
// shop, by shop (the periodic refresh walks all shops, as the retention
// sweep does).
func (s *Store) EngagementIntegrations(ctx context.Context) ([]EngagementIntegration, error) {
	var out []EngagementIntegration
	err := s.db.WithContext(ctx).Raw(`SELECT i.shop_id, i.id AS integration_id, i.kind
FROM integrations i JOIN shops sh ON sh.id = i.shop_id
WHERE i.status = 'active' AND sh.uninstalled_at IS NULL ORDER BY i.shop_id, i.kind`).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: engagement integrations: %w", formatError(err))
	}
	return out, nil
}

// dateOnly formats t's calendar date (in t's own zone).
func dateOnly(t time.Time) string { return t.Format(time.DateOnly) }

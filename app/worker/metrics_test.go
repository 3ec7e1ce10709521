package worker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/perkbridge/perkbridge/app/pgtest"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/app/worker"
)

// TestMetrics_GaugesRefreshInTheBackground: the inbox gauges show what the
// last Refresh read; a scrape reads no database (rows added after the
// refresh do not show until the next one).
func TestMetrics_GaugesRefreshInTheBackground(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	m := worker.NewMetrics(reg, db.Pool)
	insert := func(id, status string) {
		t.Helper()
		if _, err := db.Pool.Exec(ctx, `INSERT INTO webhooks (shop_domain, webhook_id, topic, body, status) VALUES ('m.myshopify.com', $1, 'orders/paid', '{}', $2)`, id, status); err != nil {
			t.Fatal(err)
		}
	}
	// pending is the gauge's value, -1 while it has none.
	pending := func() float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "perkbridge_webhooks_inbox" {
				continue
			}
			for _, mt := range mf.GetMetric() {
				if mt.GetLabel()[0].GetValue() == "pending" {
					return mt.GetGauge().GetValue()
				}
			}
		}
		return -1
	}
	insert("a", "pending")
	insert("b", "failed")
	if got := pending(); got != -1 {
		t.Fatalf("before any refresh the gauge is %v", got)
	}
	if err := m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := pending(); got != 1 {
		t.Fatalf("after a refresh pending = %v, want 1", got)
	}
	insert("c", "pending")
	if got := pending(); got != 1 {
		t.Fatalf("a scrape read the database: pending = %v, want the refreshed 1", got)
	}
	if err := m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := pending(); got != 2 {
		t.Fatalf("after the next refresh pending = %v, want 2", got)
	}
}

// TestRetention_BlanksOldBodies: bodies older than the retention are
// blanked (rows kept for deduplication), newer ones stay.
func TestRetention_BlanksOldBodies(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	st := store.New(db.Gorm)
	for i, age := range []time.Duration{40 * 24 * time.Hour, 31 * 24 * time.Hour, 29 * 24 * time.Hour, time.Hour} {
		if _, err := db.Pool.Exec(ctx, `INSERT INTO webhooks (shop_domain, webhook_id, topic, body, status, received_at)
VALUES ('r.myshopify.com', $1, 'orders/paid', '{"email":"old@example.com"}', 'processed', now() - $2::interval)`,
			fmt.Sprint("w", i), fmt.Sprintf("%d seconds", int(age.Seconds()))); err != nil {
			t.Fatal(err)
		}
	}
	n, err := worker.BlankOldWebhookBodies(ctx, st, time.Now().Add(-worker.WebhookBodyRetention))
	if err != nil || n != 2 {
		t.Fatalf("blanked %d, %v; want the 2 older than 30 days", n, err)
	}
	var kept, blank int
	db.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE length(body) > 0), count(*) FILTER (WHERE length(body) = 0 AND redacted_at IS NOT NULL) FROM webhooks`).Scan(&kept, &blank)
	if kept != 2 || blank != 2 {
		t.Fatalf("%d bodies kept, %d blanked", kept, blank)
	}
}

package forward_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app/forward"
	"github.com/perkbridge/perkbridge/app/program"
	"github.com/perkbridge/perkbridge/app/worker"
)

// TestRetention_DeliveryLogExpiresStatsStay: past the merchant's retention
// (90 days by default) settled deliveries and the events they carried are
// deleted, pending ones stay, and every statistic of every period, by
// integration, event, day and hour, reads the same before and after.
func TestRetention_DeliveryLogExpiresStatsStay(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	if err := b.st.UpdateShopInfo(ctx, b.shop.ID, "Retention shop", "", "USD", "America/New_York"); err != nil {
		t.Fatal(err)
	}
	ny, _ := time.LoadLocation("America/New_York")
	b.connectKlaviyo("email")
	b.connectCleverTap("customer_id")
	b.define("klaviyo", "wallet_points_rewarded", "")
	b.define("clevertap", "wallet_points_rewarded", "")
	b.define("clevertap", "coupon_created", "")
	c := b.customer(uniqueShopifyID(), "r@example.com", "")
	b.events(c, rewarded(60, "")...)
	coupons := make([]ev, 10)
	for i := range coupons {
		coupons[i] = ev{key: "coupon_created", props: map[string]any{"coupon_code": fmt.Sprint("R", i), "discount_type": "percentage", "discount_value": 5, "points_spent": 10}}
	}
	b.events(c, coupons...)

	// 130 deliveries, one every 37 hours back from now (about 200 days),
	// every status; each event created with its first delivery.
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	db := b.st.Gorm()
	if err := db.Exec(`UPDATE deliveries d SET created_at = ?::timestamptz - (r.n * interval '37 hours'),
    status = (ARRAY['pending', 'sent', 'failed', 'skipped', 'late'])[1 + r.n % 5]
FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM deliveries WHERE shop_id = ?) r
WHERE d.id = r.id`, now, b.shop.ID).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Exec(`UPDATE loyalty_events e SET created_at = (SELECT min(created_at) FROM deliveries d WHERE d.event_id = e.id)
WHERE shop_id = ?`, b.shop.ID).Error; err != nil {
		t.Fatal(err)
	}
	count := func(q string, args ...any) int64 {
		t.Helper()
		var n int64
		if err := db.Raw(q, args...).Scan(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(`SELECT count(*) FROM deliveries WHERE shop_id = ?`, b.shop.ID); n != 130 {
		t.Fatalf("fixture has %d deliveries", n)
	}

	// Every view of the statistics, taken before anything expires.
	from := time.Date(2026, 5, 1, 0, 0, 0, 0, ny)
	to := time.Date(2026, 12, 4, 0, 0, 0, 0, ny)
	oldHours := time.Date(2026, 7, 10, 0, 0, 0, 0, ny)
	filters := map[string]forward.StatsFilter{
		"days":           {From: from, To: to, Bucket: "day"},
		"days-klaviyo":   {From: from, To: to, Bucket: "day", Integration: "klaviyo"},
		"days-clevertap": {From: from, To: to, Bucket: "day", Integration: "clevertap"},
		"days-coupons":   {From: from, To: to, Bucket: "day", Event: "coupon_created"},
		"old-hours":      {From: oldHours, To: oldHours.AddDate(0, 0, 6), Bucket: "hour"},
		"days-in-utc":    {From: from, To: to, Bucket: "day", Location: time.UTC},
	}
	snapshot := func() (map[string]forward.Stats, []forward.EventStats) {
		t.Helper()
		out := map[string]forward.Stats{}
		for name, f := range filters {
			st, err := b.svc.Stats(ctx, b.shop.ID, f)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			out[name] = st
		}
		byEvent, err := b.svc.StatsByEvent(ctx, b.shop.ID, forward.StatsFilter{From: from, To: to})
		if err != nil {
			t.Fatal(err)
		}
		return out, byEvent
	}
	same := func(when string, before map[string]forward.Stats, beforeEv []forward.EventStats) {
		t.Helper()
		after, afterEv := snapshot()
		for name := range filters {
			b, a := before[name], after[name]
			if b.Totals != a.Totals || len(b.Buckets) != len(a.Buckets) {
				t.Fatalf("%s, %s: totals %+v → %+v", when, name, b.Totals, a.Totals)
			}
			for i := range b.Buckets {
				if !b.Buckets[i].Start.Equal(a.Buckets[i].Start) || b.Buckets[i].StatusCounts != a.Buckets[i].StatusCounts {
					t.Fatalf("%s, %s bucket %s: %+v → %+v", when, name, b.Buckets[i].Start, b.Buckets[i].StatusCounts, a.Buckets[i].StatusCounts)
				}
			}
		}
		if fmt.Sprint(beforeEv) != fmt.Sprint(afterEv) {
			t.Fatalf("%s: by event %v → %v", when, beforeEv, afterEv)
		}
	}
	before, beforeEv := snapshot()
	if tot := before["days"].Totals; tot.Sent == 0 || tot.Failed == 0 || tot.Skipped == 0 || tot.Late == 0 || tot.Pending == 0 {
		t.Fatalf("a status is missing from the fixture: %+v", tot)
	}
	if tot := before["old-hours"].Totals; tot.Sent+tot.Failed+tot.Skipped+tot.Late == 0 {
		t.Fatalf("the hourly window holds no settled delivery: %+v", tot)
	}

	cutoff := now.AddDate(0, 0, -90)
	oldSettled := count(`SELECT count(*) FROM deliveries WHERE shop_id = ? AND created_at < ? AND status <> 'pending'`, b.shop.ID, cutoff)
	oldPending := count(`SELECT count(*) FROM deliveries WHERE shop_id = ? AND created_at < ? AND status = 'pending'`, b.shop.ID, cutoff)
	keptEvents := count(`SELECT count(*) FROM loyalty_events e WHERE shop_id = ? AND (created_at >= ?
    OR EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND (d.status = 'pending' OR d.created_at >= ?)))`, b.shop.ID, cutoff, cutoff)
	if oldSettled == 0 || oldPending == 0 {
		t.Fatalf("fixture: %d old settled, %d old pending", oldSettled, oldPending)
	}

	gone, err := worker.ExpireDeliveryLog(ctx, b.st, now)
	if err != nil {
		t.Fatal(err)
	}
	if gone.Deliveries != oldSettled {
		t.Fatalf("expired %d deliveries, want the %d settled ones older than 90 days", gone.Deliveries, oldSettled)
	}
	if n := count(`SELECT count(*) FROM deliveries WHERE shop_id = ? AND created_at < ?`, b.shop.ID, cutoff); n != oldPending {
		t.Fatalf("%d old deliveries left, want the %d pending ones", n, oldPending)
	}
	if n := count(`SELECT count(*) FROM loyalty_events WHERE shop_id = ?`, b.shop.ID); n != keptEvents || gone.Events == 0 {
		t.Fatalf("%d events left (%d expired), want %d", n, gone.Events, keptEvents)
	}
	same("after 90 days' retention", before, beforeEv)

	// Nothing more to do: a second run changes nothing, counts included.
	if again, err := worker.ExpireDeliveryLog(ctx, b.st, now); err != nil || again != (worker.ExpiredLog{}) {
		t.Fatalf("second run: %+v, %v", again, err)
	}
	same("after a second run", before, beforeEv)

	// A merchant who keeps 30 days: more goes, the statistics stay.
	settings, _, err := b.st.ProgramSettings(ctx, b.shop.ID)
	if err != nil {
		t.Fatal(err)
	}
	settings.RetentionDays = 30
	if err := settings.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := b.st.SaveProgramSettings(ctx, b.shop.ID, settings); err != nil {
		t.Fatal(err)
	}
	if gone, err = worker.ExpireDeliveryLog(ctx, b.st, now); err != nil || gone.Deliveries == 0 {
		t.Fatalf("30 days: %+v, %v", gone, err)
	}
	if n := count(`SELECT count(*) FROM deliveries WHERE shop_id = ? AND created_at < ? AND status <> 'pending'`, b.shop.ID, now.AddDate(0, 0, -30)); n != 0 {
		t.Fatalf("%d settled deliveries older than 30 days left", n)
	}
	same("after 30 days' retention", before, beforeEv)

	// Too short or too long a retention is refused with its field.
	for _, days := range []int{7, 1000} {
		settings.RetentionDays = days
		if _, ok := program.FieldProblems(settings.Validate())["retention_days"]; !ok {
			t.Errorf("retention %d days accepted: %v", days, settings.Validate())
		}
	}
}

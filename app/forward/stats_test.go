package forward_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/forward"
)

// TestService_Stats checks Stats against the delivery rows themselves, for
// every status, hour and day buckets in the shop's time zone (across a DST
// change), ranges on bucket boundaries and empty ranges.
func TestService_Stats(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	if err := b.st.UpdateShopInfo(ctx, b.shop.ID, "Stats shop", "", "USD", "America/New_York"); err != nil {
		t.Fatal(err)
	}
	ny, _ := time.LoadLocation("America/New_York")
	b.connectKlaviyo("email")
	b.connectCleverTap("customer_id")
	b.define("klaviyo", "wallet_points_rewarded", "")
	b.define("clevertap", "wallet_points_rewarded", "")
	b.define("clevertap", "coupon_created", "")
	c := b.customer(uniqueShopifyID(), "s@example.com", "")
	b.events(c, rewarded(60, "")...)
	coupons := make([]ev, 10)
	for i := range coupons {
		coupons[i] = ev{key: "coupon_created", props: map[string]any{"coupon_code": fmt.Sprint("C", i), "discount_type": "percentage", "discount_value": 5, "points_spent": 10}}
	}
	b.events(c, coupons...)
	// Spread the 130 rows over four days around the start of DST
	// (2026-03-08 02:00 in New York), every status represented.
	base := time.Date(2026, 3, 7, 0, 0, 0, 0, ny)
	if err := b.st.Gorm().Exec(`UPDATE deliveries SET created_at = ?::timestamptz + (id * interval '43 minutes'),
    status = (ARRAY['pending', 'sent', 'failed', 'skipped', 'late'])[1 + id % 5] WHERE shop_id = ?`, base, b.shop.ID).Error; err != nil {
		t.Fatal(err)
	}
	type row struct {
		CreatedAt   time.Time
		Status      string
		Event       string
		Integration string
	}
	var rows []row
	if err := b.st.Gorm().Raw(`SELECT d.created_at, d.status, d.event, i.kind AS integration FROM deliveries d
JOIN integrations i ON i.id = d.integration_id WHERE d.shop_id = ?`, b.shop.ID).Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	// expect computes the answer from the rows, independently of Stats.
	expect := func(f forward.StatsFilter) forward.Stats {
		var starts []time.Time
		l := f.From.In(ny)
		var s time.Time
		if f.Bucket == "hour" {
			s = time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), 0, 0, 0, ny)
		} else {
			s = time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, ny)
		}
		for ; s.Before(f.To); s = next(s, f.Bucket, ny) {
			starts = append(starts, s)
		}
		out := forward.Stats{Buckets: make([]forward.StatsBucket, len(starts))}
		for i := range starts {
			out.Buckets[i].Start = starts[i]
		}
		for _, r := range rows {
			if r.CreatedAt.Before(f.From) || !r.CreatedAt.Before(f.To) ||
				(f.Event != "" && r.Event != f.Event) || (f.Integration != "" && r.Integration != f.Integration) {
				continue
			}
			i := len(starts) - 1
			for starts[i].After(r.CreatedAt) {
				i--
			}
			add(&out.Buckets[i].StatusCounts, r.Status)
			add(&out.Totals, r.Status)
		}
		return out
	}
	check := func(name string, f forward.StatsFilter) forward.Stats {
		t.Helper()
		got, err := b.svc.Stats(ctx, b.shop.ID, f)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := expect(f)
		if len(got.Buckets) != len(want.Buckets) {
			t.Fatalf("%s: %d buckets, want %d", name, len(got.Buckets), len(want.Buckets))
		}
		for i := range want.Buckets {
			if !got.Buckets[i].Start.Equal(want.Buckets[i].Start) || got.Buckets[i].StatusCounts != want.Buckets[i].StatusCounts {
				t.Fatalf("%s: bucket %d = %+v, want %+v", name, i, got.Buckets[i], want.Buckets[i])
			}
		}
		if got.Totals != want.Totals {
			t.Fatalf("%s: totals %+v, want %+v", name, got.Totals, want.Totals)
		}
		return got
	}
	day := func(d int) time.Time { return time.Date(2026, 3, 7+d, 0, 0, 0, 0, ny) }

	all := check("AllDays", forward.StatsFilter{From: day(0), To: day(5), Bucket: "day"})
	if n := all.Totals.Sent + all.Totals.Failed + all.Totals.Skipped + all.Totals.Pending + all.Totals.Late; n != int64(len(rows)) || len(rows) != 130 {
		t.Fatalf("totals count %d of %d rows", n, len(rows))
	}
	for _, n := range []int64{all.Totals.Sent, all.Totals.Failed, all.Totals.Skipped, all.Totals.Pending, all.Totals.Late} {
		if n == 0 {
			t.Fatalf("a status is missing from the fixture: %+v", all.Totals)
		}
	}
	// The day of the DST change is 23 hours long.
	if got := all.Buckets[2].Start.Sub(all.Buckets[1].Start); got != 23*time.Hour {
		t.Fatalf("DST day lasted %s", got)
	}
	if body, _ := json.Marshal(all); !strings.Contains(string(body), `"start":"2026-03-07T00:00:00-05:00"`) ||
		!strings.Contains(string(body), `"totals":{"sent":`) {
		t.Fatalf("JSON %s", body[:200])
	}
	check("BoundaryToBoundary", forward.StatsFilter{From: day(1), To: day(3), Bucket: "day"})
	check("MidDayEdges", forward.StatsFilter{From: day(1).Add(5*time.Hour + 17*time.Minute), To: day(3).Add(30 * time.Minute), Bucket: "day"})
	hours := check("HoursAcrossDST", forward.StatsFilter{From: day(1), To: day(2).Add(6 * time.Hour), Bucket: "hour"})
	if len(hours.Buckets) != 29 { // 24 + 6, less the skipped 02:00
		t.Fatalf("%d hourly buckets", len(hours.Buckets))
	}
	check("HourEdgeOnBoundary", forward.StatsFilter{From: day(0).Add(3 * time.Hour), To: day(0).Add(7 * time.Hour), Bucket: "hour"})
	check("ByIntegration", forward.StatsFilter{From: day(0), To: day(5), Bucket: "day", Integration: "clevertap"})
	check("ByEvent", forward.StatsFilter{From: day(0), To: day(5), Bucket: "hour", Event: "coupon_created"})
	check("NothingInRange", forward.StatsFilter{From: day(-10), To: day(-8), Bucket: "day"})
	if empty := check("EmptyRange", forward.StatsFilter{From: day(1), To: day(1), Bucket: "hour"}); len(empty.Buckets) != 0 || empty.Totals != (forward.StatusCounts{}) {
		t.Fatalf("empty range %+v", empty)
	}
	if st, err := b.svc.Stats(ctx, b.shop.ID, forward.StatsFilter{From: day(0), To: day(5), Integration: "klaviyo", Location: time.UTC}); err != nil ||
		st.Buckets[0].Start != time.Date(2026, 3, 7, 0, 0, 0, 0, time.UTC) {
		t.Fatalf("explicit location: %+v %v", st.Buckets, err)
	}

	// StatsByEvent: per integration and event, equal to the rows and to
	// Stats narrowed to that pair.
	checkByEvent := func(name string, f forward.StatsFilter) {
		t.Helper()
		got, err := b.svc.StatsByEvent(ctx, b.shop.ID, f)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := map[[2]string]*forward.StatusCounts{}
		for _, r := range rows {
			if r.CreatedAt.Before(f.From) || !r.CreatedAt.Before(f.To) ||
				(f.Event != "" && r.Event != f.Event) || (f.Integration != "" && r.Integration != f.Integration) {
				continue
			}
			k := [2]string{r.Integration, r.Event}
			if want[k] == nil {
				want[k] = &forward.StatusCounts{}
			}
			add(want[k], r.Status)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d pairs %+v, want %d", name, len(got), got, len(want))
		}
		for _, es := range got {
			w := want[[2]string{es.Integration, es.Event}]
			if w == nil || es.Totals != *w {
				t.Fatalf("%s: %s/%s = %+v, want %+v", name, es.Integration, es.Event, es.Totals, w)
			}
			one, err := b.svc.Stats(ctx, b.shop.ID, forward.StatsFilter{Integration: es.Integration, Event: es.Event, From: f.From, To: f.To, Bucket: "day"})
			if err != nil || one.Totals != es.Totals {
				t.Fatalf("%s: Stats for %s/%s = %+v, StatsByEvent %+v (%v)", name, es.Integration, es.Event, one.Totals, es.Totals, err)
			}
		}
	}
	checkByEvent("ByEventAll", forward.StatsFilter{From: day(0), To: day(5)})
	checkByEvent("ByEventMidDay", forward.StatsFilter{From: day(1).Add(5 * time.Hour), To: day(3).Add(30 * time.Minute)})
	checkByEvent("ByEventCleverTap", forward.StatsFilter{From: day(0), To: day(5), Integration: "clevertap"})
	checkByEvent("ByEventCoupon", forward.StatsFilter{From: day(0), To: day(5), Event: "coupon_created"})
	if pairs, _ := b.svc.StatsByEvent(ctx, b.shop.ID, forward.StatsFilter{From: day(0), To: day(5)}); len(pairs) != 3 {
		t.Fatalf("want 3 integration/event pairs, got %+v", pairs)
	}

	for _, tc := range []struct {
		f     forward.StatsFilter
		field string
	}{
		{forward.StatsFilter{From: day(2), To: day(1)}, "from"},
		{forward.StatsFilter{From: day(0), To: day(90), Bucket: "hour"}, "bucket"},
		{forward.StatsFilter{Bucket: "week"}, "bucket"},
		{forward.StatsFilter{Event: "nope"}, "event"},
		{forward.StatsFilter{Integration: "nope"}, "integration"},
	} {
		_, err := b.svc.Stats(ctx, b.shop.ID, tc.f)
		if app.ErrorCode(err) != app.EINVALID || fieldOf(err) != tc.field {
			t.Errorf("stats %+v: %v; want a %s field error", tc.f, err, tc.field)
		}
	}
	// Another shop sees nothing.
	other, err := b.st.SaveInstall(ctx, "other-stats.myshopify.com", b.shopTokens())
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := b.svc.Stats(ctx, other.ID, forward.StatsFilter{From: day(0), To: day(5)}); st.Totals != (forward.StatusCounts{}) {
		t.Fatalf("other shop's stats %+v", st.Totals)
	}
	if pairs, err := b.svc.StatsByEvent(ctx, other.ID, forward.StatsFilter{From: day(0), To: day(5)}); err != nil || len(pairs) != 0 {
		t.Fatalf("other shop's stats by event %+v %v", pairs, err)
	}
}

func next(t time.Time, bucket string, loc *time.Location) time.Time {
	if bucket == "hour" {
		return t.Add(time.Hour)
	}
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day()+1, 0, 0, 0, 0, loc)
}

func add(c *forward.StatusCounts, status string) {
	switch status {
	case "sent":
		c.Sent++
	case "failed":
		c.Failed++
	case "skipped":
		c.Skipped++
	case "pending":
		c.Pending++
	case "late":
		c.Late++
	}
}

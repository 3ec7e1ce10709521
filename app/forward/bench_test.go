package forward_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/perkbridge/perkbridge/app/forward"
)

// queue inserts n wallet_points_rewarded events spread over customers
// customers (emails b<i>@example.com) and routes them, 5,000 per
// RouteEvents call, as the loyalty engine would have.
func (b *bundle) queue(n, customers int, occurredAgo time.Duration) {
	b.t.Helper()
	g := b.st.Gorm()
	base := uniqueShopifyID() * 1_000_000
	if err := g.Exec(`INSERT INTO customers (shop_id, shopify_id, gid, email)
SELECT ?, ?::bigint + s, 'gid://shopify/Customer/' || (?::bigint + s), 'b' || (?::bigint + s) || '@example.com'
FROM generate_series(1, ?) s`, b.shop.ID, base, base, base, customers).Error; err != nil {
		b.t.Fatal(err)
	}
	if err := g.Exec(`INSERT INTO loyalty_events (id, shop_id, customer_id, shopify_customer_id, key, channel, occurred_at,
    properties, points_balance, tier, currency, source_key)
SELECT gen_random_uuid(), c.shop_id, c.id, c.shopify_id, 'wallet_points_rewarded', 'online_store', now() - make_interval(secs => ?),
    jsonb_build_object('points', 10 + s % 50, 'reason', 'order', 'order_id', (5544332211 + s)::text, 'order_name', '#' || s),
    100 + s, 'silver', 'USD', 'bench:' || s
FROM generate_series(1, ?) s
JOIN customers c ON c.shop_id = ? AND c.shopify_id = ?::bigint + 1 + (s % ?)`,
		occurredAgo.Seconds(), n, b.shop.ID, base, customers).Error; err != nil {
		b.t.Fatal(err)
	}
	var ids []uuid.UUID
	if err := g.Raw(`SELECT e.id FROM loyalty_events e WHERE e.shop_id = ?
AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id) ORDER BY e.seq`, b.shop.ID).Scan(&ids).Error; err != nil {
		b.t.Fatal(err)
	}
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), 5000)]
		ids = ids[len(chunk):]
		if _, err := b.st.RouteEvents(context.Background(), b.shop.ID, chunk); err != nil {
			b.t.Fatal(err)
		}
	}
}

func (b *bundle) sent() int {
	var n int
	if err := b.st.Gorm().Raw("SELECT count(*) FROM deliveries WHERE shop_id = ? AND status IN ('sent', 'late')", b.shop.ID).Scan(&n).Error; err != nil {
		b.t.Fatal(err)
	}
	return n
}

// BenchmarkCleverTapDrain delivers 100,000 queued events (1,000 customers)
// to a fake CleverTap that answers at once, with one runner, and reports
// the time to drain (DESIGN.md §7: under 30 s). It asserts correctness
// (every event once, at most 10 uploads in flight, no 429), never time.
//
//	go test ./app/forward -run '^$' -bench CleverTapDrain -benchtime 1x
func BenchmarkCleverTapDrain(bb *testing.B) {
	const n = 100_000
	for range bb.N {
		bb.StopTimer()
		b := setup(bb)
		b.connectCleverTap("customer_id")
		b.define("clevertap", "wallet_points_rewarded", "Loyalty Points Earned")
		b.queue(n, 1000, time.Minute)
		bb.StartTimer()
		start := time.Now()
		b.run(forward.RunnerOptions{PollInterval: 250 * time.Millisecond, Backoff: func(int) time.Duration { return time.Second }})
		b.waitFor(5*time.Minute, "drain", func() (bool, string) {
			s := b.sent()
			return s == n, strconv.Itoa(s)
		})
		elapsed := time.Since(start)
		bb.StopTimer()
		if got := len(b.ct.Events()); got != n {
			bb.Fatalf("CleverTap holds %d events for %d", got, n)
		}
		if m := b.ct.MaxInFlight(); m > 10 || b.ctCount.count(429) != 0 {
			bb.Fatalf("max in flight %d, 429s %d", m, b.ctCount.count(429))
		}
		bb.ReportMetric(elapsed.Seconds(), "s/100k-events")
		bb.ReportMetric(float64(n)/elapsed.Seconds(), "events/s")
		bb.ReportMetric(float64(b.ct.MaxInFlight()), "max-in-flight")
	}
}

// BenchmarkKlaviyoDrain measures how much of Klaviyo's published single
// event limit (3,500/min per account, 350/s burst) a backlog drains at,
// with bulk requests off so the single-event limit is the one that binds.
// Klaviyo's windows are fixed; the fake aligns them to the wall clock's
// minutes, like the runner's counters. The drain is measured in real time
// over full fake windows: the events the fake received in the first whole
// minute after the runner started (PERKBRIDGE_KLAVIYO_WINDOWS minutes,
// default 1, so a run takes at most two minutes and some). A shorter
// window cannot be compared with a per-minute fixed window: the first 10 s
// of a window may carry the whole 3,500 at the 350/s burst.
//
//	go test ./app/forward -run '^$' -bench KlaviyoDrain -benchtime 1x
func BenchmarkKlaviyoDrain(bb *testing.B) {
	windows := 1
	if v, err := strconv.Atoi(os.Getenv("PERKBRIDGE_KLAVIYO_WINDOWS")); err == nil && v > 0 {
		windows = v
	}
	for range bb.N {
		bb.StopTimer()
		b := setup(bb)
		b.connectKlaviyo("email")
		b.define("klaviyo", "wallet_points_rewarded", "")
		b.queue(3500*(windows+2), 500, time.Minute)
		b.quietProfiles()
		bb.StartTimer()
		start := time.Now()
		b.run(forward.RunnerOptions{DisableBulk: true})
		from := start.Truncate(time.Minute).Add(time.Minute)
		to := from.Add(time.Duration(windows) * time.Minute)
		b.waitFor(time.Until(to)+30*time.Second, "the measured windows to end", func() (bool, string) {
			return time.Now().After(to.Add(time.Second)), ""
		})
		bb.StopTimer()
		inWindow, perSecond, perMinute := 0, map[int64]int{}, map[int64]int{}
		for _, e := range b.kl.Events() {
			perSecond[e.ReceivedAt.Unix()]++
			perMinute[e.ReceivedAt.Unix()/60]++
			if !e.ReceivedAt.Before(from) && e.ReceivedAt.Before(to) {
				inWindow++
			}
		}
		maxSecond, maxMinute := 0, 0
		for _, v := range perSecond {
			maxSecond = max(maxSecond, v)
		}
		for _, v := range perMinute {
			maxMinute = max(maxMinute, v)
		}
		if maxSecond > 350 || maxMinute > 3500 || b.klCount.count(429) != 0 {
			bb.Fatalf("over the limit: %d in a second, %d in a minute, %d 429s", maxSecond, maxMinute, b.klCount.count(429))
		}
		bb.ReportMetric(100*float64(inWindow)/float64(3500*windows), "%-of-3500/min")
		bb.ReportMetric(float64(maxSecond), "max-events/s")
		bb.ReportMetric(float64(maxMinute), "max-events/min")
	}
}

// BenchmarkKlaviyoBulkDrain drains a 20,000-event backlog through bulk
// requests (1,000 events each, 10/s and 150/min) and reports the rate.
//
//	go test ./app/forward -run '^$' -bench KlaviyoBulkDrain -benchtime 1x
func BenchmarkKlaviyoBulkDrain(bb *testing.B) {
	const n = 20_000
	for range bb.N {
		bb.StopTimer()
		b := setup(bb)
		b.connectKlaviyo("email")
		b.define("klaviyo", "wallet_points_rewarded", "")
		b.queue(n, 2000, time.Minute)
		b.quietProfiles()
		bb.StartTimer()
		start := time.Now()
		b.run(forward.RunnerOptions{})
		b.waitFor(5*time.Minute, "drain", func() (bool, string) {
			s := b.sent()
			return s == n, strconv.Itoa(s)
		})
		elapsed := time.Since(start)
		bb.StopTimer()
		bulkRequests := 0
		for _, r := range b.kl.Requests() {
			if r.Path == "/api/event-bulk-create-jobs/" {
				bulkRequests++
			}
		}
		if len(distinctKlaviyo(b.kl.Events())) != n || b.kl.Duplicates() != 0 || b.klCount.count(429) != 0 {
			bb.Fatalf("%d distinct, %d duplicates, %d 429s", len(distinctKlaviyo(b.kl.Events())), b.kl.Duplicates(), b.klCount.count(429))
		}
		bb.ReportMetric(elapsed.Seconds(), "s/20k-events")
		bb.ReportMetric(float64(n)/elapsed.Minutes(), "events/min")
		bb.ReportMetric(float64(bulkRequests), "bulk-requests")
	}
}
